import { CommandError, isAllowedConsoleAddress, isPrivateConsole, type BaseUrlPolicy, type TestReply } from '@s1c/contracts';
import type { SourceApi } from '@s1c/domain';
import { registerSecret } from '@s1c/logger';
import { isS1Error, nonPublicAddressesOf, S1Client, type AddressResolver, type S1Error, type S1Network } from '@s1c/s1-client';

/** The base URL policy, with the resolver the connect-time check uses (tests inject one). */
export interface ConnectionPolicy extends BaseUrlPolicy {
  readonly resolver?: AddressResolver;
  /** CA file, proxy and allow-listed consoles, as the fetchers use them. */
  readonly network?: S1Network;
}

/**
 * Refuses a console URL whose host name resolves, now, to a loopback, private or link-local
 * address: a clear answer when the source is registered, where otherwise it would be stored and
 * only fail at its first collection. The connect-time check in the client stays the guard: DNS
 * may change its answer later.
 */
export async function refuseNonPublicResolution(baseUrl: string, policy: ConnectionPolicy): Promise<void> {
  if (policy.allowInsecure) return;
  const url = new URL(baseUrl);
  const privateConsole = isPrivateConsole(url, policy);
  const addresses = (await nonPublicAddressesOf(url.hostname, policy.resolver ? { resolver: policy.resolver } : {})).filter((a) => !isAllowedConsoleAddress(a, privateConsole));
  if (addresses.length === 0) return;
  const message = privateConsole
    ? `${url.hostname} resolves to ${addresses.join(', ')}: a console in S1C_S1_PRIVATE_CONSOLES may be on a private network, never on a loopback or link-local address`
    : `${url.hostname} resolves to ${addresses.join(', ')}: must be a public SentinelOne console, not a loopback, private or link-local address (an on-premises console on a private network must be listed in S1C_S1_PRIVATE_CONSOLES)`;
  throw new CommandError('ValidationError', `invalid request: source.config.base_url ${message}`, [{ path: 'source.config.base_url', message }]);
}

/** What to test: a console URL, a token, and the APIs the source would collect. */
export interface ConnectionTarget {
  readonly baseUrl: string;
  readonly token: string;
  readonly apis: readonly SourceApi[];
}

/**
 * Checks a console URL and token the way collection would use them, without storing anything:
 * the token check, then one single-record page of every API (what the token can read), then the
 * token's expiry where SentinelOne tells it.
 */
export async function testConnection(target: ConnectionTarget, options: ConnectionPolicy & { timeoutMs?: number }): Promise<TestReply> {
  registerSecret(target.token);
  const client = new S1Client({
    baseUrl: target.baseUrl,
    token: target.token,
    allowInsecure: options.allowInsecure,
    timeoutMs: options.timeoutMs ?? 15_000,
    ...(options.resolver ? { resolver: options.resolver } : {}),
    ...(options.network ? { network: options.network } : {}),
  });
  const problems: TestReply['problems'] = [];
  const apis = {} as TestReply['apis'];
  const note = (error: unknown, api?: SourceApi): S1Error => {
    if (!isS1Error(error)) throw error;
    problems.push({ ...(api ? { api } : {}), errorType: error.errorType, reason: error.reason, message: error.message });
    return error;
  };

  let reachable = true;
  let authenticated = false;
  try {
    await client.verifyToken();
    authenticated = true;
  } catch (error) {
    const failure = note(error);
    reachable = failure.reason === 'Unauthorized' || failure.reason === 'Forbidden';
  }
  if (!authenticated) {
    for (const api of target.apis) apis[api] = { readable: false, reason: reachable ? 'the token was rejected' : 'the console is unreachable' };
    return { ok: true, base_url: target.baseUrl, reachable, authenticated, apis, tokenExpiresAt: null, problems };
  }
  for (const api of target.apis) {
    try {
      await client.listPage(api, { filters: {}, limit: 1 });
      apis[api] = { readable: true };
    } catch (error) {
      apis[api] = { readable: false, reason: note(error, api).reason };
    }
  }
  let tokenExpiresAt: string | null = null;
  try {
    tokenExpiresAt = (await client.tokenDetails())?.expiresAt ?? null;
  } catch (error) {
    note(error);
  }
  return { ok: true, base_url: target.baseUrl, reachable, authenticated, apis, tokenExpiresAt, problems };
}
