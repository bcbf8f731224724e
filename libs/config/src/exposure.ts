import { isIPv4, isIPv6 } from 'node:net';

/** The variable that lets an HTTP service listen beyond loopback without an API token. */
export const ALLOW_ANONYMOUS_VARIABLE = 'S1C_ALLOW_ANONYMOUS';

/**
 * Whether an HTTP server listening on `host` can only be reached from this machine: an address of
 * 127.0.0.0/8, `::1` (also written out, or as the IPv4-mapped `::ffff:127.x.y.z`) or the name
 * `localhost`. Everything else is beyond loopback: `0.0.0.0` and `::` (every interface), any other
 * address, and any other name (what it resolves to is not known here).
 */
export function isLoopbackHost(host: string): boolean {
  const bare = host.trim().replace(/^\[(.*)\]$/, '$1').toLowerCase();
  if (bare === 'localhost' || bare === 'localhost.') return true;
  if (isIPv4(bare)) return bare.split('.')[0] === '127';
  if (!isIPv6(bare)) return false;
  // The URL parser writes an IPv6 address in its shortest form (`0:0::1` → `::1`, `::ffff:127.0.0.1` → `::ffff:7f00:1`).
  const normal = new URL(`http://[${bare}]/`).hostname.slice(1, -1);
  return normal === '::1' || /^::ffff:7f[0-9a-f]{2}:[0-9a-f]{1,4}$/.test(normal);
}

/** What {@link anonymousExposureProblem} needs to know about one HTTP listener. */
export interface ListenerSettings {
  /** The variable naming the interface, e.g. `S1C_HEALTH_HOST`, and its value. */
  readonly hostVariable: string;
  readonly host: string;
  /** Whether any API token is configured. */
  readonly hasToken: boolean;
  /** The variables that configure a token, e.g. `['S1C_API_TOKEN']`. */
  readonly tokenVariables: readonly string[];
  /** `S1C_ALLOW_ANONYMOUS`. */
  readonly allowAnonymous: boolean;
}

/**
 * The configuration problem of an HTTP API that would answer anyone on the network: it listens
 * beyond loopback and has no API token, and `S1C_ALLOW_ANONYMOUS=true` does not say that is
 * meant. Undefined when the listener is fine. The message names every way out.
 */
export function anonymousExposureProblem(settings: ListenerSettings): string | undefined {
  if (settings.hasToken || settings.allowAnonymous || isLoopbackHost(settings.host)) return undefined;
  const tokens = settings.tokenVariables.join(' or ');
  return (
    `${settings.hostVariable}: listens on ${settings.host}, beyond loopback, without an API token; ` +
    `set ${tokens} (a bearer token of 16+ characters), or ${settings.hostVariable}=127.0.0.1 to listen on loopback only, ` +
    `or ${ALLOW_ANONYMOUS_VARIABLE}=true to serve without authentication`
  );
}
