import type { IncomingMessage } from 'node:http';
import { z } from 'zod';
import { CursorCodec } from './cursor.codec.js';
import { API_ROUTES, DATA_APIS, type DataApi } from './dataset.store.js';
import { forbidden, notFound, ok, methodNotAllowed, tooManyRequests, unauthorized, validationError, type Reply } from './http.reply.js';
import { parseListQuery } from './list.query.js';
import { listPage } from './list.service.js';
import type { Simulator } from './simulator.core.js';
import type { TokenEntry } from './tokens.registry.js';
import { formatMicros, msToMicros } from './timestamp.util.js';

export const API_PREFIX = '/web/api/v2.1';

const tokenDetailsBody = z.object({ data: z.object({ apiToken: z.string().min(1) }) });

/** The S1 API surface: auth, rate limit, then the route. */
export async function handleApi(sim: Simulator, req: IncomingMessage, url: URL, token: TokenEntry | undefined, authKind: string): Promise<Reply> {
  const route = url.pathname.slice(API_PREFIX.length).replace(/\/+$/, '');
  const method = req.method ?? 'GET';
  if (route === '/system/status') {
    // The SDK calls this before attaching credentials, so it needs none.
    return method === 'GET' ? ok({ data: { health: 'ok' } }) : methodNotAllowed();
  }
  const api = DATA_APIS.find((a) => route === API_ROUTES[a]);
  const known = api !== undefined || route === '/system/info' || route === '/users/api-token-details';
  if (!known) return notFound();
  if (authKind !== 'ok' || token === undefined) return unauthorized();
  const retryAfter = sim.faults.rateLimit(token.label, token.rateLimitPerSecond ?? sim.settings.rateLimitPerSecond, sim.clock.now());
  if (retryAfter !== undefined) return tooManyRequests(retryAfter);

  if (route === '/system/info') {
    if (method !== 'GET') return methodNotAllowed();
    return ok({ data: { build: '2024.1.0.54', latestAgentVersion: '24.1.4.257', patch: '3', release: 'Z SP3', sha: 'a3c5e1f' } });
  }
  if (route === '/users/api-token-details') {
    if (method !== 'POST') return methodNotAllowed();
    if (!token.apis.has('api-token-details')) return forbidden();
    const body = tokenDetailsBody.safeParse(await sim.readJson(req));
    if (!body.success) return validationError('body must be {"data":{"apiToken":"<token>"}}');
    const subject = sim.tokens.bySecretValue(body.data.data.apiToken);
    if (!subject || subject.revoked) return validationError('apiToken is not a valid API token');
    return ok({ data: { createdAt: formatMicros(subject.createdAt), expiresAt: formatMicros(subject.expiresAt) } });
  }
  if (api === undefined) return notFound();
  if (method !== 'GET') return methodNotAllowed();
  if (!token.apis.has(api)) return forbidden();
  return listApi(sim, api, url, token);
}

function listApi(sim: Simulator, api: DataApi, url: URL, token: TokenEntry): Reply {
  const parsed = parseListQuery(api, url.searchParams);
  if (!parsed.ok) return validationError(parsed.detail);
  const { query } = parsed;
  const now = sim.clock.now();
  sim.dataset.catchUp(now);
  const key = CursorCodec.filterKey([api, token.label, query.filters]);
  let after: number | undefined;
  let total: number | null | undefined;
  if (query.cursor !== undefined && !query.countOnly) {
    const decoded = sim.cursors.decode(query.cursor);
    if (!decoded.ok) return validationError(decoded.detail);
    const { state } = decoded;
    if (state.key !== key) return validationError('cursor does not match the filters of this request; re-send the original filters with the cursor');
    const ttl = sim.settings.cursorTtlMs;
    if (ttl !== undefined && now - state.issuedAt > msToMicros(ttl)) return validationError('cursor has expired');
    after = state.slot;
    total = state.total;
  }
  const page = listPage(sim.dataset, {
    api,
    filters: query.filters,
    limit: query.limit,
    scope: token.sites,
    countOnly: query.countOnly,
    skipCount: query.skipCount,
    ...(after !== undefined && { after }),
    ...(total !== undefined && { total }),
  });
  const nextCursor = page.nextAfter === undefined ? null : sim.cursors.encode({ key, slot: page.nextAfter, total: page.total, issuedAt: now });
  return ok({ data: page.data, pagination: { nextCursor, totalItems: page.total } });
}
