import { z } from 'zod';
import { parseTimestampMicros } from './timestamp.util.js';

/** APIs a token can be granted. `system/info` and `system/status` need no grant. */
export const API_NAMES = ['activities', 'agents', 'threats', 'alerts', 'groups', 'api-token-details'] as const;
export type ApiName = (typeof API_NAMES)[number];

const timestampString = z.string().refine((v) => parseTimestampMicros(v) !== undefined, 'must be an ISO-8601 timestamp');
const rate = z.number().min(0).max(100_000);

export const tokenConfigSchema = z.object({
  /** The secret sent as `Authorization: ApiToken <token>`. Never logged. */
  token: z.string().min(1),
  /** Name used in the request log and admin API (default `token-<n>`). */
  label: z.string().min(1).optional(),
  /** APIs this token may call; all of them when omitted. Others answer 403. */
  apis: z.array(z.enum(API_NAMES)).optional(),
  /** Account indexes (0-based) whose data the token sees; all accounts when omitted. */
  accounts: z.array(z.number().int().min(0)).optional(),
  /** Global site indexes (0-based across accounts) the token sees; all sites of its accounts when omitted. */
  sites: z.array(z.number().int().min(0)).optional(),
  /** Reported by api-token-details; default start - 30 days and start + 180 days. */
  createdAt: timestampString.optional(),
  expiresAt: timestampString.optional(),
  /** Per-token rate limit in requests per second (overrides the global one). */
  rateLimitPerSecond: z.number().positive().optional(),
});
export type TokenConfig = z.input<typeof tokenConfigSchema>;

export const liveRatesSchema = z.object({
  activitiesPerSecond: rate.default(0),
  threatsPerSecond: rate.default(0),
  agentsPerSecond: rate.default(0),
  threatUpdatesPerSecond: rate.default(0),
  agentUpdatesPerSecond: rate.default(0),
  alertsPerSecond: rate.default(0),
  groupUpdatesPerSecond: rate.default(0),
});
export type LiveRates = z.input<typeof liveRatesSchema>;

export const simulatorOptionsSchema = z.object({
  /** TCP port; 0 picks a free one. */
  port: z.number().int().min(0).max(65_535).default(0),
  host: z.string().min(1).default('127.0.0.1'),
  /** Everything generated is a pure function of the seed (and, in live mode, of elapsed time). */
  seed: z.number().int().min(0).max(0xffff_ffff).default(1),
  /** The simulator's "now" at start-up; history ends here. Default: the real time. */
  startTime: z.union([timestampString, z.date()]).optional(),
  /** `real`: time flows; `manual`: time moves only through `advanceClock`. Both can be advanced. */
  clock: z.enum(['real', 'manual']).default('real'),
  /** History spans this many hours before start. */
  historyHours: z.number().positive().max(24 * 3_650).default(24),
  accounts: z.number().int().min(1).max(1_000).default(2),
  sitesPerAccount: z.number().int().min(1).max(1_000).default(2),
  /** Historical record counts per API. */
  activities: z.number().int().min(0).max(1_000_000_000).default(10_000),
  agents: z.number().int().min(0).max(1_000_000_000).default(200),
  threats: z.number().int().min(0).max(1_000_000_000).default(1_000),
  /** Cloud-detection alerts (immutable, like activities). Groups are the layout's: two per site. */
  alerts: z.number().int().min(0).max(1_000_000_000).default(500),
  live: liveRatesSchema.default({
    activitiesPerSecond: 0,
    threatsPerSecond: 0,
    agentsPerSecond: 0,
    threatUpdatesPerSecond: 0,
    agentUpdatesPerSecond: 0,
    alertsPerSecond: 0,
    groupUpdatesPerSecond: 0,
  }),
  /** Tokens; when empty, one full-access token `demo-token` is created. */
  tokens: z.array(tokenConfigSchema).default([]),
  /** When set, `/_sim/*` requires the header `X-Sim-Admin-Token: <adminToken>`. */
  adminToken: z.string().min(1).optional(),
  /** Global per-token rate limit in requests per second; unlimited when omitted. */
  rateLimitPerSecond: z.number().positive().optional(),
  /** Cursors older than this (simulator clock) are rejected with 400; never when omitted. */
  cursorTtlMs: z.number().int().positive().optional(),
  /** How many requests `/_sim/requests` keeps (oldest dropped first). */
  requestLogLimit: z.number().int().min(0).max(1_000_000).default(10_000),
});

/** Options accepted by `startSimulator` (every field optional). */
export type SimulatorOptions = z.input<typeof simulatorOptionsSchema>;
/** Options after defaults were applied. */
export type ResolvedOptions = z.output<typeof simulatorOptionsSchema>;
export type ResolvedToken = z.output<typeof tokenConfigSchema>;

export const DEFAULT_TOKEN = 'demo-token';
/** Page size when `limit` is omitted (the S1 docs' example value). */
export const DEFAULT_LIMIT = 10;
export const MAX_LIMIT = 1_000;
