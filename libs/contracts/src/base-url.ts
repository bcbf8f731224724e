import { isIP } from 'node:net';
import { isAllowedConsoleAddress, isNonPublicHost } from './address-policy';

export interface BaseUrlPolicy {
  /** Allows http and private or loopback hosts (tests, the simulator); never in production. */
  readonly allowInsecure: boolean;
  /**
   * S1C_S1_PRIVATE_CONSOLES: on-premises consoles (`host:port`, lower case, see
   * {@link privateConsoleKey}) that may be on a private network address or another port than 443;
   * still https only.
   */
  readonly privateConsoles?: readonly string[];
}

/** How a console is named in S1C_S1_PRIVATE_CONSOLES: `host:port`, lower case, the port 443 when none is given. */
export function privateConsoleKey(url: URL): string {
  return `${url.hostname.toLowerCase()}:${url.port || '443'}`;
}

/** Whether a console URL is allow-listed as an on-premises console. */
export function isPrivateConsole(url: URL, policy: Pick<BaseUrlPolicy, 'privateConsoles'>): boolean {
  return url.protocol === 'https:' && (policy.privateConsoles ?? []).includes(privateConsoleKey(url));
}

/** Host names no console may have, allow-listed or not. */
const NEVER_CONSOLES = /^(localhost|ip6-localhost|ip6-loopback|metadata|.*\.localhost)\.?$/i;

const EXAMPLE = 'https://usea1-partners.sentinelone.net/';
const API_PATH = /^\/(web\/api\/v2\.1\/?)?$/;

/**
 * Normalises a console URL to `https://host[:port]/`, or says what is wrong with it. The API
 * prefix (`/web/api/v2.1`) is accepted and dropped, since people paste it from API docs.
 */
export function normalizeBaseUrl(raw: string, policy: BaseUrlPolicy): { ok: true; value: string } | { ok: false; message: string } {
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    return { ok: false, message: `must be the console's URL, e.g. ${EXAMPLE}` };
  }
  if (url.protocol !== 'https:' && !(policy.allowInsecure && url.protocol === 'http:')) {
    return { ok: false, message: `must use https (got ${url.protocol.replace(':', '')}), e.g. ${EXAMPLE}` };
  }
  if (url.username || url.password) return { ok: false, message: 'must not contain a user name or password' };
  if (url.search || url.hash) return { ok: false, message: 'must not have a query string or fragment' };
  if (!API_PATH.test(url.pathname)) return { ok: false, message: `must be the console's address without a path, e.g. ${EXAMPLE}` };
  if (!policy.allowInsecure && isPrivateConsole(url, policy)) {
    // An operator allow-listed this console: a private network address and its port are fine,
    // loopback, link-local and local-only names never are.
    const host = url.hostname.replace(/^\[|\]$/g, '');
    if (NEVER_CONSOLES.test(host) || (isIP(host) !== 0 && !isAllowedConsoleAddress(host, true))) {
      return { ok: false, message: 'must not be a loopback, link-local or local-only address, even for a console in S1C_S1_PRIVATE_CONSOLES' };
    }
    return { ok: true, value: `${url.protocol}//${url.host}/` };
  }
  if (!policy.allowInsecure && isNonPublicHost(url.hostname)) {
    return {
      ok: false,
      message: 'must be a public SentinelOne console, not a loopback, private or link-local address (an on-premises console on a private network must be listed in S1C_S1_PRIVATE_CONSOLES)',
    };
  }
  // Consoles answer on 443. Any other port would let a source (or `test`) probe arbitrary
  // services of public hosts, with the token attached.
  if (!policy.allowInsecure && url.port !== '') {
    return { ok: false, message: `must use the console's https port 443 (got ${url.port}), e.g. ${EXAMPLE} (an on-premises console on another port must be listed in S1C_S1_PRIVATE_CONSOLES)` };
  }
  return { ok: true, value: `${url.protocol}//${url.host}/` };
}
