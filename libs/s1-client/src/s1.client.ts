import * as http from 'node:http';
import * as https from 'node:https';
import * as tls from 'node:tls';
import type { LookupFunction } from 'node:net';
import { inspect } from 'node:util';
import { isNonPublicHost, isPrivateConsole, normalizeBaseUrl } from '@s1c/contracts';
import { parseMicros, type ErrorType, type SourceApi } from '@s1c/domain';
import { parseRetryAfter } from '@s1c/http-kit';
import { ConsoleRateLimiter } from './console.rate-limiter';
import { ADDRESS_NOT_ALLOWED, guardedLookup, type AddressResolver } from './guarded.lookup';
import { PROXY_REFUSED, TunnelAgent, usesProxy, type S1Network } from './network';
import {
  errorEntriesOf,
  ErrorsInBodyError,
  MalformedBodyError,
  parseErrorBody,
  parseListBody,
  parseObjectBody,
  type S1Record,
} from './page.parser';
import { describeErrorEntries, S1Error, type S1ErrorEntry, type S1ErrorReason } from './s1.errors';

/** The list APIs the client reads. */
export type S1Api = SourceApi;

/** Options of an {@link S1Client}. */
export interface S1ClientOptions {
  /** Normalised console URL `https://host[:port]/` (http only when `allowInsecure`). */
  baseUrl: string;
  /** The API token; never logged, never in an error message or in toString/inspect output. */
  token: string;
  /** S1C_ALLOW_INSECURE_BASE_URL: allows http and private/loopback hosts (tests, the simulator). */
  allowInsecure: boolean;
  /** Per HTTP request, from connect to the last byte of the body; default 30 s. */
  timeoutMs?: number;
  /** Larger bodies are refused (ThirdPartyGeneric 'BodyTooLarge'); default 64 MiB. */
  maxBodyBytes?: number;
  /** Default: {@link ConsoleRateLimiter.shared} for this console's host. */
  rateLimiter?: ConsoleRateLimiter;
  /** 429s retried inside one call, honouring Retry-After; default 3. */
  max429Retries?: number;
  /** Total time one call may wait on 429s before giving up with 'RateLimited'; default 60 s. */
  max429WaitMs?: number;
  /** Resolves host names (tests inject one); default: the system resolver. */
  resolver?: AddressResolver;
  /** Extra CAs, the HTTPS proxy and the allow-listed on-premises consoles (see {@link S1Network}); default none. */
  network?: S1Network;
  /** Told of every HTTP request once it ended: what it read, its status (or `error`), how long it took (metrics). */
  onRequest?: (request: S1RequestOutcome) => void;
}

/** One HTTP request to the console, as {@link S1ClientOptions.onRequest} hears of it. */
export interface S1RequestOutcome {
  /** What it read: `activities`, `system/info`, ... (never the query or the token). */
  readonly what: string;
  /** The HTTP status, or `error` when no response came (timeout, reset, refused, TLS). */
  readonly status: number | 'error';
  readonly durationMs: number;
}

/** What to list: the same `filters` must be re-sent with every `cursor` of one walk. */
export interface ListQuery {
  filters: Record<string, string>;
  sortBy?: string;
  sortOrder?: 'asc' | 'desc';
  /** 1–1000, default 1000. */
  limit?: number;
  cursor?: string;
}

/** One page of a list walk. */
export interface S1Page {
  records: S1Record[];
  /** `null` on the last page. */
  nextCursor: string | null;
  totalItems?: number;
  /** Whether a 429 was waited out during this call (a health Warning, not an error). */
  rateLimited: boolean;
  /** HTTP requests made for this page, retries included. */
  requests: number;
}

/** Per-call options. */
export interface CallOptions {
  /** Cancels the call (waiting for the limiter, the request, 429 waits): rejects with 'Aborted'. */
  signal?: AbortSignal;
}

/** Token creation and expiry as reported by `users/api-token-details`. */
export interface TokenDetails {
  createdAt?: string;
  expiresAt?: string;
}

export const API_PREFIX = '/web/api/v2.1/';
/** Where each list API answers, under {@link API_PREFIX}. */
export const API_PATHS: Readonly<Record<S1Api, string>> = {
  activities: 'activities',
  agents: 'agents',
  threats: 'threats',
  alerts: 'cloud-detection/alerts',
  groups: 'groups',
};
export const DEFAULT_TIMEOUT_MS = 30_000;
export const DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024;
export const DEFAULT_MAX_429_RETRIES = 3;
export const DEFAULT_MAX_429_WAIT_MS = 60_000;
export const DEFAULT_LIMIT = 1000;
const MAX_LIMIT = 1000;
const ERROR_BODY_BYTES = 64 * 1024;
const MAX_CONSOLE_PAUSE_MS = 5 * 60_000;
const USER_AGENT = 's1-collector/0.1';
const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i;

const TLS_CODES = new Set([
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_REVOKED',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'HOSTNAME_MISMATCH',
]);
/** The resolver says the name does not exist: a mistyped base_url, unless the host resolved before. */
const NO_SUCH_NAME_CODES = new Set(['ENOTFOUND', 'EAI_NONAME', 'EAI_NODATA']);
/** The resolver could not answer (temporary failure, server failure): an outage, retried like any. */
const RESOLVER_FAILURE_CODES = new Set(['EAI_AGAIN', 'EAI_FAIL']);

// Hosts that resolved at least once in this process: a later resolution failure is an outage
// (retry), not a mistyped base_url (ThirdPartyConfig).
const resolvedHosts = new Set<string>();

interface RawResponse {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Buffer;
}

interface RequestSpec {
  readonly method: 'GET' | 'POST';
  readonly path: string;
  readonly query?: URLSearchParams;
  readonly body?: string;
  /** What the call reads, for messages: `activities`, `system/info`. */
  readonly what: string;
  readonly cursorSent?: boolean;
}

interface CallResult<T> {
  readonly value: T;
  readonly rateLimited: boolean;
  readonly requests: number;
}

type Attempt = { kind: 'response'; response: RawResponse } | { kind: 'retry-stale-socket' };

/**
 * The SentinelOne Management API v2.1 client: one console, one token. Requests go only to the
 * base URL's host, after its address passed the SSRF check; redirects are never followed.
 * Every failure is an {@link S1Error} classified for the retry policy. Call {@link close} when done
 * to free its keep-alive sockets.
 */
export class S1Client {
  /** The console URL (no secrets). */
  readonly baseUrl: string;
  readonly #token: string;
  readonly #url: URL;
  readonly #allowInsecure: boolean;
  readonly #timeoutMs: number;
  readonly #maxBodyBytes: number;
  readonly #max429Retries: number;
  readonly #max429WaitMs: number;
  readonly #onRequest: ((request: S1RequestOutcome) => void) | undefined;
  readonly #limiter: ConsoleRateLimiter;
  readonly #agent: http.Agent;
  readonly #lookup: LookupFunction;
  /** Why the base URL may never be called, if so (checked before every call). */
  readonly #refusal: string | undefined;

  constructor(options: S1ClientOptions) {
    this.#token = options.token;
    this.#allowInsecure = options.allowInsecure;
    let url: URL;
    try {
      url = new URL(options.baseUrl);
    } catch {
      throw this.#error('InvalidBaseUrl', 'the base_url is not a URL: set it to the console address, e.g. https://<tenant>.sentinelone.net/');
    }
    if (url.protocol !== 'https:' && !(options.allowInsecure && url.protocol === 'http:')) {
      throw this.#error('InvalidBaseUrl', `the base_url must use https (got ${url.protocol.replace(':', '')}): set it to https://${url.host}/`);
    }
    if (url.username || url.password) throw this.#error('InvalidBaseUrl', 'the base_url must not contain a user name or password');
    this.#url = new URL(`${url.protocol}//${url.host}/`);
    this.baseUrl = this.#url.href;
    this.#timeoutMs = positive(options.timeoutMs, DEFAULT_TIMEOUT_MS);
    this.#maxBodyBytes = positive(options.maxBodyBytes, DEFAULT_MAX_BODY_BYTES);
    this.#max429Retries = Math.max(0, Math.floor(options.max429Retries ?? DEFAULT_MAX_429_RETRIES));
    this.#max429WaitMs = Math.max(0, options.max429WaitMs ?? DEFAULT_MAX_429_WAIT_MS);
    this.#limiter = options.rateLimiter ?? ConsoleRateLimiter.shared(this.#url.host);
    this.#onRequest = options.onRequest;
    const network = options.network;
    // The registry checked the whole URL when the source was stored; here only what must never be
    // called, whatever the log says: a non-public host, unless it is an allow-listed console.
    const policy = { allowInsecure: options.allowInsecure, privateConsoles: network?.privateConsoles ?? [] };
    const host = this.#url.hostname;
    this.#refusal =
      options.allowInsecure || !isNonPublicHost(host) || (isPrivateConsole(this.#url, policy) && normalizeBaseUrl(this.baseUrl, policy).ok)
        ? undefined
        : `${host} is a loopback, private or link-local address: SentinelOne consoles are public, so set base_url to the console address (https://<tenant>.sentinelone.net/), or list an on-premises console in S1C_S1_PRIVATE_CONSOLES`;
    this.#lookup = guardedLookup({
      allowInsecure: options.allowInsecure,
      privateConsole: isPrivateConsole(this.#url, policy),
      ...(options.resolver ? { resolver: options.resolver } : {}),
      onResolved: (hostname) => resolvedHosts.add(hostname.toLowerCase()),
    });
    const agentOptions = {
      keepAlive: true,
      maxSockets: 8,
      maxFreeSockets: 4,
      ...(network?.extraCa ? { ca: [...tls.rootCertificates, ...network.extraCa] } : {}),
    };
    if (this.#url.protocol !== 'https:') this.#agent = new http.Agent(agentOptions);
    else if (network?.proxy && usesProxy(this.#url.hostname, this.#url.port || '443', network.proxy.noProxy)) this.#agent = new TunnelAgent(network.proxy.url, this.#lookup, agentOptions);
    else this.#agent = new https.Agent(agentOptions);
  }

  /** Checks the token with `GET system/info` (the cheap call every collector uses). */
  async verifyToken(options: CallOptions = {}): Promise<{ rateLimited: boolean }> {
    const result = await this.#call({ method: 'GET', path: 'system/info', what: 'system/info' }, parseObjectBody, options.signal);
    return { rateLimited: result.rateLimited };
  }

  /**
   * The token's creation and expiry (`POST users/api-token-details`), or null when the token may
   * not read them (403) or the console does not offer them (404).
   */
  async tokenDetails(options: CallOptions = {}): Promise<TokenDetails | null> {
    try {
      const result = await this.#call(
        { method: 'POST', path: 'users/api-token-details', body: JSON.stringify({ data: { apiToken: this.#token } }), what: 'api-token-details' },
        parseObjectBody,
        options.signal,
      );
      // Shown in replies and health events: a console's text is taken only if it is a timestamp.
      const createdAt = timestampOrUndefined(result.value.createdAt);
      const expiresAt = timestampOrUndefined(result.value.expiresAt);
      return {
        ...(createdAt !== undefined ? { createdAt } : {}),
        ...(expiresAt !== undefined ? { expiresAt } : {}),
      };
    } catch (error) {
      if (error instanceof S1Error && (error.reason === 'Forbidden' || error.reason === 'NotFound')) return null;
      throw error;
    }
  }

  /** One page of `GET /web/api/v2.1/<api>`. Follow `nextCursor` with the same filters until null. */
  async listPage(api: S1Api, query: ListQuery, options: CallOptions = {}): Promise<S1Page> {
    const limit = query.limit ?? DEFAULT_LIMIT;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) {
      throw this.#error('BadRequest', `limit must be an integer from 1 to ${MAX_LIMIT} (got ${limit})`);
    }
    const params = new URLSearchParams(query.filters);
    if (query.sortBy !== undefined) params.set('sortBy', query.sortBy);
    if (query.sortOrder !== undefined) params.set('sortOrder', query.sortOrder);
    params.set('limit', String(limit));
    if (query.cursor !== undefined) params.set('cursor', query.cursor);
    const result = await this.#call(
      { method: 'GET', path: API_PATHS[api], query: params, what: api, cursorSent: query.cursor !== undefined },
      parseListBody,
      options.signal,
    );
    return {
      records: result.value.records,
      nextCursor: result.value.nextCursor,
      ...(result.value.totalItems !== undefined ? { totalItems: result.value.totalItems } : {}),
      rateLimited: result.rateLimited,
      requests: result.requests,
    };
  }

  /** Frees the keep-alive sockets. The client must not be used afterwards. */
  close(): void {
    this.#agent.destroy();
  }

  toString(): string {
    return `S1Client(${this.baseUrl})`;
  }

  toJSON(): { baseUrl: string; allowInsecure: boolean } {
    return { baseUrl: this.baseUrl, allowInsecure: this.#allowInsecure };
  }

  [inspect.custom](): string {
    return `S1Client { baseUrl: '${this.baseUrl}', allowInsecure: ${this.#allowInsecure} }`;
  }

  async #call<T>(spec: RequestSpec, parse: (body: Buffer) => T, signal: AbortSignal | undefined): Promise<CallResult<T>> {
    if (this.#refusal !== undefined) throw this.#error('AddressNotAllowed', this.#refusal);
    let requests = 0;
    let retries429 = 0;
    let waited429Ms = 0;
    let rateLimited = false;
    let staleRetried = false;
    for (;;) {
      try {
        await this.#limiter.acquire(signal);
      } catch {
        throw this.#error('Aborted', `the call to ${spec.what} was cancelled`);
      }
      requests += 1;
      const started = performance.now();
      let attempt: Attempt;
      try {
        attempt = await this.#send(spec, signal, !staleRetried);
      } catch (error) {
        this.#onRequest?.({ what: spec.what, status: 'error', durationMs: performance.now() - started });
        throw error;
      }
      if (attempt.kind === 'response') this.#onRequest?.({ what: spec.what, status: attempt.response.status, durationMs: performance.now() - started });
      if (attempt.kind === 'retry-stale-socket') {
        staleRetried = true;
        continue;
      }
      const { response } = attempt;
      if (response.status === 429) {
        rateLimited = true;
        const retryAfterMs = parseRetryAfter(response.headers['retry-after']) ?? Math.min(1000 * 2 ** retries429, 30_000);
        // Everyone on this console waits, not just this call; capped so that a bogus
        // Retry-After cannot stall every source of the console for hours.
        this.#limiter.pause(Math.min(retryAfterMs, MAX_CONSOLE_PAUSE_MS));
        if (retries429 < this.#max429Retries && waited429Ms + retryAfterMs <= this.#max429WaitMs) {
          retries429 += 1;
          waited429Ms += retryAfterMs;
          continue;
        }
        throw this.#error(
          'RateLimited',
          `SentinelOne rate-limited the calls to ${spec.what} (429${this.#codes(response)}) after ${retries429} retries: will retry after ${Math.ceil(retryAfterMs / 1000)} s; if this persists, lower the request rate for this console`,
          { status: 429, retryAfterMs },
        );
      }
      if (response.status >= 200 && response.status < 300) {
        return { value: this.#parse(spec, response, parse), rateLimited, requests };
      }
      throw this.#classifyStatus(spec, response);
    }
  }

  #parse<T>(spec: RequestSpec, response: RawResponse, parse: (body: Buffer) => T): T {
    try {
      return parse(response.body);
    } catch (error) {
      if (error instanceof ErrorsInBodyError) {
        const entries = errorEntriesOf(error.entries);
        throw this.#error('ResponseErrors', `SentinelOne answered ${spec.what} with errors (${this.#describe(entries) || 'no details'}): will retry`, {
          status: response.status,
        });
      }
      if (error instanceof MalformedBodyError) {
        throw this.#error('MalformedResponse', `the response to ${spec.what} was malformed: ${error.message}; will retry`, { status: response.status });
      }
      throw error;
    }
  }

  #classifyStatus(spec: RequestSpec, response: RawResponse): S1Error {
    const { status } = response;
    const codes = this.#codes(response);
    const details = { status };
    switch (status) {
      case 401:
        return this.#error('Unauthorized', `the API token was rejected (401${codes}): check it has not expired or been revoked, then update the source`, details);
      case 403:
        return this.#error(
          'Forbidden',
          `the API token may not read ${spec.what} (403${codes}): give the token's user a role that can view ${spec.what}, or remove ${spec.what} from the source`,
          details,
        );
      case 404:
        return this.#error(
          'NotFound',
          `${this.#url.host} answered 404 for ${API_PREFIX}${spec.path}${codes}: the base_url is probably not a SentinelOne console; set it to the console address, e.g. https://<tenant>.sentinelone.net/`,
          details,
        );
      case 400: {
        const entries = parseErrorBody(response.body);
        const mentionsCursor = entries.some((e) => /cursor/i.test(`${e.title ?? ''} ${e.detail ?? ''}`));
        // The filters of a walk are the ones its first page was accepted with, so a 400 on a
        // later page is the cursor's fault (expired, or no longer matching): restarting the walk
        // from the checkpoint fixes it. If the query itself were bad, the restarted first page
        // (no cursor) gets a 400 of its own and surfaces as BadRequest, so this cannot loop.
        if (spec.cursorSent || mentionsCursor) {
          return this.#error('InvalidCursor', `SentinelOne refused the cursor for ${spec.what} (400${codes}): restart the walk from the last checkpoint`, details);
        }
        return this.#error('BadRequest', `SentinelOne refused our query for ${spec.what} (400${codes}): this is a collector bug; report it`, details);
      }
      case 408:
        return this.#error('Timeout', `SentinelOne timed out the request for ${spec.what} (408${codes}): will retry`, details);
      default:
        if (status >= 500) {
          return this.#error('ServerError', `SentinelOne failed to serve ${spec.what} (${status}${codes}): will retry`, details);
        }
        return this.#error('UnexpectedStatus', `SentinelOne answered ${spec.what} with an unexpected status ${status}${codes}: will retry`, details);
    }
  }

  #codes(response: RawResponse): string {
    const described = this.#describe(parseErrorBody(response.body));
    return described ? `, ${described}` : '';
  }

  #describe(entries: readonly S1ErrorEntry[]): string {
    // Server text goes into health events: bounded, printable, and stripped of our token.
    return describeErrorEntries(entries)
      // eslint-disable-next-line no-control-regex -- stripping control characters is the point
      .replace(/[\u0000-\u001f\u007f]+/g, ' ')
      .slice(0, 300);
  }

  #error(reason: S1ErrorReason, message: string, details: { status?: number; retryAfterMs?: number; errorType?: ErrorType } = {}): S1Error {
    return new S1Error(reason, this.#redact(message), details);
  }

  #redact(text: string): string {
    return this.#token ? text.split(this.#token).join('[redacted]') : text;
  }

  /**
   * One HTTP exchange. Resolves with the response (any status but 3xx) or rejects with an
   * S1Error. `mayRetryStale`: a reused keep-alive socket the server had just closed fails
   * before any byte of response; that is a race, not an outage, so it is retried once.
   */
  #send(spec: RequestSpec, callerSignal: AbortSignal | undefined, mayRetryStale: boolean): Promise<Attempt> {
    const timeout = AbortSignal.timeout(this.#timeoutMs);
    const signal = callerSignal ? AbortSignal.any([timeout, callerSignal]) : timeout;
    const path = `${API_PREFIX}${spec.path}${spec.query && spec.query.size > 0 ? `?${spec.query.toString()}` : ''}`;
    const headers: http.OutgoingHttpHeaders = {
      Authorization: `ApiToken ${this.#token}`,
      Accept: 'application/json',
      'User-Agent': USER_AGENT,
    };
    if (spec.body !== undefined) {
      headers['Content-Type'] = 'application/json';
      headers['Content-Length'] = Buffer.byteLength(spec.body);
    }
    const transport = this.#url.protocol === 'https:' ? https : http;
    return new Promise<Attempt>((resolve, reject) => {
      let settled = false;
      let gotResponse = false;
      const fail = (error: S1Error): void => {
        if (settled) return;
        settled = true;
        req.destroy();
        reject(error);
      };
      const failWith = (error: unknown): void => {
        if (settled) return;
        if (!gotResponse && mayRetryStale && req.reusedSocket && isStaleSocketError(error)) {
          settled = true;
          req.destroy();
          resolve({ kind: 'retry-stale-socket' });
          return;
        }
        fail(this.#classifyNetworkError(spec, error, timeout.aborted, callerSignal?.aborted === true));
      };
      const req = transport.request({
        protocol: this.#url.protocol,
        hostname: this.#url.hostname.replace(/^\[|\]$/g, ''),
        port: this.#url.port || undefined,
        path,
        method: spec.method,
        headers,
        agent: this.#agent,
        lookup: this.#lookup,
        signal,
      });
      req.on('error', failWith);
      req.on('response', (res) => {
        gotResponse = true;
        res.on('error', failWith);
        const status = res.statusCode ?? 0;
        if (status >= 300 && status < 400) {
          fail(this.#redirectError(status, res.headers.location));
          return;
        }
        const ok = status >= 200 && status < 300;
        if (ok && !JSON_TYPE.test(res.headers['content-type'] ?? '')) {
          const type = (res.headers['content-type'] ?? 'none').slice(0, 100);
          fail(this.#error('MalformedResponse', `the response to ${spec.what} is not JSON (content type ${type}): base_url may point at a proxy or web page; will retry`, { status }));
          return;
        }
        const limit = ok ? this.#maxBodyBytes : ERROR_BODY_BYTES;
        const declared = Number(res.headers['content-length']);
        if (ok && Number.isFinite(declared) && declared > limit) {
          fail(this.#tooLarge(spec, status));
          return;
        }
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          if (settled) return;
          size += chunk.length;
          if (size > limit) {
            if (ok) {
              fail(this.#tooLarge(spec, status));
              return;
            }
            // An error body only feeds the message: what fits is enough.
            settled = true;
            chunks.push(chunk.subarray(0, chunk.length - (size - limit)));
            req.destroy();
            resolve({ kind: 'response', response: { status, headers: res.headers, body: Buffer.concat(chunks) } });
            return;
          }
          chunks.push(chunk);
        });
        res.on('end', () => {
          if (settled) return;
          settled = true;
          resolve({ kind: 'response', response: { status, headers: res.headers, body: Buffer.concat(chunks, size) } });
        });
        res.on('close', () => {
          if (!settled && !res.complete) failWith(Object.assign(new Error('the connection closed before the whole response arrived'), { code: 'ECONNRESET' }));
        });
      });
      req.end(spec.body);
    });
  }

  #tooLarge(spec: RequestSpec, status: number): S1Error {
    return this.#error('BodyTooLarge', `the response to ${spec.what} is larger than ${this.#maxBodyBytes} bytes and was refused: lower the page limit; will retry`, {
      status,
    });
  }

  #redirectError(status: number, location: string | undefined): S1Error {
    let target = 'another address';
    if (location) {
      try {
        const to = new URL(location, this.#url);
        target = to.host === this.#url.host ? `${to.protocol}//${to.host}${to.pathname}` : to.host;
      } catch {
        target = 'an unparsable location';
      }
    }
    return this.#error(
      'Redirect',
      `${this.#url.host} redirected (${status}) to ${target}: redirects are not followed, so the token is only ever sent to base_url; set base_url to the console's own address`,
      { status },
    );
  }

  #classifyNetworkError(spec: RequestSpec, error: unknown, timedOut: boolean, aborted: boolean): S1Error {
    const host = this.#url.host;
    if (timedOut) return this.#error('Timeout', `${host} did not answer ${spec.what} within ${this.#timeoutMs} ms: will retry`);
    if (aborted) return this.#error('Aborted', `the call to ${spec.what} was cancelled`);
    const code = typeof error === 'object' && error !== null && 'code' in error ? String(error.code) : '';
    const text = error instanceof Error ? error.message : String(error);
    if (code === PROXY_REFUSED) return this.#error('ProxyFailed', `${text} during ${spec.what}: check HTTPS_PROXY and the proxy's rules for ${host}; will retry`);
    if (code === ADDRESS_NOT_ALLOWED) {
      return this.#error(
        'AddressNotAllowed',
        `${text}: SentinelOne consoles are public, so set base_url to the console address (https://<tenant>.sentinelone.net/)`,
      );
    }
    if (RESOLVER_FAILURE_CODES.has(code)) {
      return this.#error('UnknownHost', `${this.#url.hostname} could not be resolved (${code}: the DNS resolver did not answer): will retry`, {
        errorType: 'ThirdPartyGeneric',
      });
    }
    if (NO_SUCH_NAME_CODES.has(code)) {
      if (resolvedHosts.has(this.#url.hostname.toLowerCase())) {
        return this.#error('UnknownHost', `${this.#url.hostname} could not be resolved (${code}) although it resolved before: will retry`, {
          errorType: 'ThirdPartyGeneric',
        });
      }
      return this.#error('UnknownHost', `${this.#url.hostname} could not be resolved (${code}): check the base_url for typos`);
    }
    if (TLS_CODES.has(code) || code.startsWith('ERR_TLS_') || code.startsWith('ERR_SSL_')) {
      return this.#error('TlsError', `the TLS connection to ${host} failed (${code}): check base_url is the console address and its certificate is valid`);
    }
    return this.#error('ConnectionFailed', `the connection to ${host} failed during ${spec.what} (${code || text.slice(0, 100)}): will retry`);
  }
}

function isStaleSocketError(error: unknown): boolean {
  const code = typeof error === 'object' && error !== null && 'code' in error ? error.code : undefined;
  return code === 'ECONNRESET' || code === 'EPIPE' || code === 'ECONNABORTED';
}

function timestampOrUndefined(value: unknown): string | undefined {
  return typeof value === 'string' && value.length <= 64 && parseMicros(value) !== undefined ? value.trim() : undefined;
}

function positive(value: number | undefined, fallback: number): number {
  return value !== undefined && Number.isFinite(value) && value > 0 ? value : fallback;
}
