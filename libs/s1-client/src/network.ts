import { readFileSync } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import type { Duplex } from 'node:stream';
import * as tls from 'node:tls';
import { ConfigError } from '@s1c/config';
import { privateConsoleKey } from '@s1c/contracts';
import { z } from 'zod';

/**
 * How the processes that talk to SentinelOne (the fetchers, and the registry for `test`) reach
 * consoles: extra certificate authorities, an HTTPS proxy, and the on-premises consoles allowed
 * on private addresses. One {@link S1Network} per process, from {@link loadS1Network}.
 */
export interface S1Network {
  /** PEM certificates trusted besides Node's bundled roots (S1C_S1_CA_FILE): a private CA, a TLS-inspecting proxy's. */
  readonly extraCa?: readonly string[];
  /** HTTPS_PROXY, and the hosts NO_PROXY exempts from it. */
  readonly proxy?: { readonly url: URL; readonly noProxy: readonly string[] };
  /** S1C_S1_PRIVATE_CONSOLES as `host:port` keys (see `privateConsoleKey` of @s1c/contracts). */
  readonly privateConsoles: readonly string[];
}

/** The variables of {@link S1Network}, for a service's environment schema. */
export const s1NetworkEnvShape = {
  /** A PEM file of certificate authorities to trust for SentinelOne consoles, besides the system's. */
  S1C_S1_CA_FILE: z.string().trim().min(1).optional(),
  /** On-premises consoles (host or host:port, comma-separated) allowed on private network addresses or other ports; https only. */
  S1C_S1_PRIVATE_CONSOLES: z
    .string()
    .optional()
    .transform((raw, ctx) => {
      const keys: string[] = [];
      for (const entry of (raw ?? '').split(',').map((e) => e.trim()).filter((e) => e !== '')) {
        const key = consoleKeyOf(entry);
        if (key === undefined) ctx.addIssue({ code: 'custom', message: `"${entry.slice(0, 100)}" is not a host or host:port (e.g. s1.corp.example:8443)` });
        else keys.push(key);
      }
      return keys;
    }),
  /** The proxy for SentinelOne requests: http://[user:password@]host:port. */
  HTTPS_PROXY: z
    .string()
    .trim()
    .optional()
    .transform((raw, ctx) => {
      if (!raw) return undefined;
      let url: URL;
      try {
        url = new URL(raw);
      } catch {
        ctx.addIssue({ code: 'custom', message: 'must be a URL such as http://proxy.corp.example:3128' });
        return z.NEVER;
      }
      if (url.protocol !== 'http:' || url.pathname.length > 1 || url.search) {
        ctx.addIssue({ code: 'custom', message: 'must be an http:// proxy URL with a host and port only, e.g. http://proxy.corp.example:3128' });
        return z.NEVER;
      }
      return url;
    }),
  /** Hosts reached without the proxy: comma-separated names (a name covers its subdomains), `.suffix`, host:port, or `*`. */
  NO_PROXY: z
    .string()
    .optional()
    .transform((raw) => (raw ?? '').split(/[,\s]+/).map((e) => e.trim().toLowerCase()).filter((e) => e !== '')),
};

/** `host[:port]` as the key S1C_S1_PRIVATE_CONSOLES compares with, or undefined when it is not one. */
function consoleKeyOf(entry: string): string | undefined {
  let url: URL;
  try {
    url = new URL(`https://${entry}/`);
  } catch {
    return undefined;
  }
  if (url.username || url.password || url.pathname !== '/' || url.host === '') return undefined;
  return privateConsoleKey(url);
}

/** Builds the process's {@link S1Network} from its parsed configuration; a CA file that cannot be read or holds no certificate is a {@link ConfigError} naming the file. */
export function loadS1Network(config: {
  readonly S1C_S1_CA_FILE?: string | undefined;
  readonly S1C_S1_PRIVATE_CONSOLES: readonly string[];
  readonly HTTPS_PROXY?: URL | undefined;
  readonly NO_PROXY: readonly string[];
}): S1Network {
  let extraCa: string[] | undefined;
  if (config.S1C_S1_CA_FILE) {
    let text: string;
    try {
      text = readFileSync(config.S1C_S1_CA_FILE, 'utf8');
    } catch (error) {
      throw new ConfigError([`S1C_S1_CA_FILE: cannot read ${config.S1C_S1_CA_FILE} (${(error as NodeJS.ErrnoException).code ?? 'error'})`]);
    }
    extraCa = text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
    if (extraCa.length === 0) throw new ConfigError([`S1C_S1_CA_FILE: ${config.S1C_S1_CA_FILE} holds no PEM certificate`]);
  }
  return {
    ...(extraCa ? { extraCa } : {}),
    ...(config.HTTPS_PROXY ? { proxy: { url: config.HTTPS_PROXY, noProxy: config.NO_PROXY } } : {}),
    privateConsoles: config.S1C_S1_PRIVATE_CONSOLES,
  };
}

/**
 * Whether a request to `host:port` goes through the proxy, by NO_PROXY's usual rules: `*` exempts
 * everything; an entry `example.com` or `.example.com` exempts that name and its subdomains; an
 * entry with a port exempts only that port; an IP literal only itself.
 */
export function usesProxy(hostname: string, port: string, noProxy: readonly string[]): boolean {
  const host = hostname.toLowerCase().replace(/^\[|\]$/g, '').replace(/\.$/, '');
  for (const entry of noProxy) {
    if (entry === '*') return false;
    const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry);
    const match = bracketed ?? (isIP(entry) === 6 ? [entry, entry] : /^(.*?)(?::(\d+))?$/.exec(entry)!);
    const name = match[1]!.replace(/^\*?\./, '').replace(/\.$/, '');
    if (match[2] !== undefined && match[2] !== port) continue;
    if (host === name || (isIP(host) === 0 && host.endsWith(`.${name}`))) return false;
  }
  return true;
}

/** The proxy answered the CONNECT with something else than 200 (or not at all). */
export const PROXY_REFUSED = 'S1C_PROXY_REFUSED';

/**
 * An https.Agent that reaches consoles through an HTTP proxy's CONNECT tunnel. The console's name
 * is resolved here, with the client's guarded lookup (the SSRF check), and the tunnel is asked for
 * the vetted address, never the name: the proxy cannot be made to reach what the guard forbids,
 * by DNS rebinding or otherwise. TLS then runs end to end with the console, its certificate
 * checked against the console's name. (Written here rather than taken from `https-proxy-agent`,
 * which resolves the name at the proxy and hands a refused CONNECT's answer to the caller as if
 * the console had sent it.)
 */
export class TunnelAgent extends https.Agent {
  constructor(
    private readonly proxy: URL,
    private readonly lookup: LookupFunction,
    options: https.AgentOptions,
  ) {
    super(options);
  }

  override createConnection(requestOptions: http.ClientRequestArgs, done?: (error: Error | null, stream: Duplex) => void): undefined {
    const options = requestOptions as tls.ConnectionOptions & { host?: string; port?: number };
    const callback = (error: Error | null, socket?: Duplex): void => done!(error, socket!);
    const host = (options.host ?? '').replace(/^\[|\]$/g, '');
    const port = options.port ?? 443;
    this.lookup(host, { family: 0, all: false }, (lookupError, address) => {
      if (lookupError) {
        callback(lookupError);
        return;
      }
      const target = `${isIP(address as string) === 6 ? `[${address as string}]` : (address as string)}:${port}`;
      const headers: http.OutgoingHttpHeaders = { Host: target };
      if (this.proxy.username || this.proxy.password) {
        const credentials = `${decodeURIComponent(this.proxy.username)}:${decodeURIComponent(this.proxy.password)}`;
        headers['Proxy-Authorization'] = `Basic ${Buffer.from(credentials).toString('base64')}`;
      }
      const connect = http.request({
        host: this.proxy.hostname.replace(/^\[|\]$/g, ''),
        port: this.proxy.port || 80,
        method: 'CONNECT',
        path: target,
        headers,
        agent: false,
        ...(options.timeout ? { timeout: options.timeout } : {}),
      });
      let done = false;
      const fail = (error: Error): void => {
        if (done) return;
        done = true;
        connect.destroy();
        callback(error);
      };
      connect.once('connect', (res, socket) => {
        if (res.statusCode !== 200) {
          socket.destroy();
          fail(Object.assign(new Error(`the proxy ${this.proxy.host} refused the tunnel to the console (HTTP ${res.statusCode})`), { code: PROXY_REFUSED, status: res.statusCode }));
          return;
        }
        done = true;
        callback(null, tls.connect({ ...options, socket, servername: options.servername ?? (isIP(host) === 0 ? host : undefined) }));
      });
      connect.once('timeout', () => fail(Object.assign(new Error(`the proxy ${this.proxy.host} did not answer the tunnel request`), { code: PROXY_REFUSED })));
      connect.once('error', (error: NodeJS.ErrnoException) =>
        fail(Object.assign(new Error(`cannot reach the proxy ${this.proxy.host} (${error.code ?? error.message})`), { code: PROXY_REFUSED })),
      );
      connect.end();
    });
    return undefined;
  }
}
