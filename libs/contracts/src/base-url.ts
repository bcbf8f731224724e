import { isNonPublicHost } from './address-policy';

export interface BaseUrlPolicy {
  /** Allows http and private or loopback hosts (tests, the simulator); never in production. */
  readonly allowInsecure: boolean;
}

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
  if (!policy.allowInsecure && isNonPublicHost(url.hostname)) {
    return { ok: false, message: 'must be a public SentinelOne console, not a loopback, private or link-local address' };
  }
  // Consoles answer on 443. Any other port would let a source (or `test`) probe arbitrary
  // services of public hosts, with the token attached.
  if (!policy.allowInsecure && url.port !== '') {
    return { ok: false, message: `must use the console's https port 443 (got ${url.port}), e.g. ${EXAMPLE}` };
  }
  return { ok: true, value: `${url.protocol}//${url.host}/` };
}
