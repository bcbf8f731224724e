import type { IncomingMessage } from 'node:http';
import { z } from 'zod';
import { DATA_APIS } from './dataset.store.js';
import { faultSchema } from './faults.controller.js';
import { methodNotAllowed, notFound, ok, unauthorized, validationError, type Reply } from './http.reply.js';
import type { Simulator } from './simulator.core.js';
import type { SimulatorAdmin } from './simulator.admin.js';
import { tokenConfigSchema } from './simulator.options.js';

export const ADMIN_PREFIX = '/_sim';

const settingsBody = z.object({
  rateLimitPerSecond: z.number().positive().nullable().optional(),
  cursorTtlMs: z.number().int().positive().nullable().optional(),
});
const clockBody = z.object({ advanceMs: z.number().min(0).max(10 * 365 * 86_400_000) });
const createBody = z.object({ api: z.enum(DATA_APIS), count: z.number().int().min(1).max(100_000) });
const updateBody = z
  .object({ api: z.enum(['agents', 'threats']), ids: z.array(z.string()).max(100_000).optional(), count: z.number().int().min(1).max(100_000).optional() })
  .refine((b) => b.ids !== undefined || b.count !== undefined, 'give ids or count');

type Route = (admin: SimulatorAdmin, body: () => Promise<unknown>, url: URL, param: string) => Promise<Reply> | Reply;

const routes: Record<string, Partial<Record<string, Route>>> = {
  '/state': { GET: (a) => ok({ data: a.state() }) },
  '/accounts': { GET: (a) => ok({ data: a.state().accounts }) },
  '/requests': {
    GET: (a, _b, url) => ok({ data: a.requests(Number(url.searchParams.get('since') ?? 0) || 0) }),
    DELETE: (a) => (a.clearRequests(), ok({ data: { cleared: true } })),
  },
  '/reset': { POST: (a) => (a.reset(), ok({ data: { reset: true } })) },
  '/faults': {
    GET: (a) => ok({ data: a.faults() }),
    POST: async (a, body) => parsed(faultSchema, await body(), (spec) => ok({ data: { id: a.addFault(spec) } })),
    DELETE: (a) => (a.clearFaults(), ok({ data: { cleared: true } })),
  },
  '/faults/:id': { DELETE: (a, _b, _u, id) => found(a.removeFault(Number(id))) },
  '/settings': {
    GET: (a) => ok({ data: a.state().settings }),
    PUT: async (a, body) =>
      parsed(settingsBody, await body(), (s) => {
        if (s.rateLimitPerSecond !== undefined) a.setRateLimit(s.rateLimitPerSecond);
        if (s.cursorTtlMs !== undefined) a.setCursorTtl(s.cursorTtlMs);
        return ok({ data: a.state().settings });
      }),
  },
  '/clock': {
    GET: (a) => ok({ data: { now: a.now() } }),
    POST: async (a, body) => parsed(clockBody, await body(), (b) => ok({ data: { now: a.advanceClock(b.advanceMs) } })),
  },
  '/tokens': {
    GET: (a) => ok({ data: a.tokens() }),
    POST: async (a, body) =>
      parsed(tokenConfigSchema, await body(), (t) => {
        try {
          return ok({ data: a.addToken(t) });
        } catch (error) {
          return validationError(error instanceof Error ? error.message : String(error));
        }
      }),
  },
  '/tokens/:label': { DELETE: (a, _b, _u, label) => found(a.removeToken(label)) },
  '/tokens/:label/revoke': { POST: (a, _b, _u, label) => found(a.revokeToken(label)) },
  '/records': { POST: async (a, body) => parsed(createBody, await body(), (b) => ok({ data: { ids: a.createRecords(b.api, b.count) } })) },
  '/updates': {
    POST: async (a, body) =>
      parsed(updateBody, await body(), (b) => ok({ data: { ids: a.updateRecords(b.api, { ...(b.ids && { ids: b.ids }), ...(b.count && { count: b.count }) }) } })),
  },
};

/** `/_sim/*`: JSON admin API for tests. Guarded by `X-Sim-Admin-Token` when adminToken is set. */
export async function handleAdmin(sim: Simulator, req: IncomingMessage, url: URL): Promise<Reply> {
  if (sim.options.adminToken !== undefined && req.headers['x-sim-admin-token'] !== sim.options.adminToken) return unauthorized();
  const path = url.pathname.slice(ADMIN_PREFIX.length).replace(/\/+$/, '');
  const segments = path.split('/');
  let param = '';
  let handlers = routes[path];
  if (!handlers && segments.length >= 3) {
    param = decodeURIComponent(segments[2] ?? '');
    const pattern = ['', segments[1], `:${segments[1] === 'faults' ? 'id' : 'label'}`, ...segments.slice(3)].join('/');
    handlers = routes[pattern];
  }
  if (!handlers) return notFound();
  const handler = handlers[req.method ?? 'GET'];
  if (!handler) return methodNotAllowed();
  return handler(sim.admin, () => sim.readJson(req), url, param);
}

function parsed<T>(schema: z.ZodType<T>, input: unknown, then: (value: T) => Reply): Reply {
  const result = schema.safeParse(input);
  if (!result.success) return validationError(result.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; '));
  return then(result.data);
}

function found(done: boolean): Reply {
  return done ? ok({ data: { done: true } }) : notFound();
}
