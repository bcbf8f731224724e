import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { API_NAMES, simulatorOptionsSchema, type ResolvedOptions, type TokenConfig } from '@s1c/s1-simulator';

export const HELP = `s1-simulator: a SentinelOne Management API v2.1 simulator

Usage: npm run simulator -- [flags]        (from the repo root, after npm run build)
       node services/s1-simulator/dist/main.js [flags]

Server
  --port <n>                      TCP port (default 8088; 0 = any free port)
  --host <addr>                   Address to bind (default 127.0.0.1)
  --admin-token <secret>          Require header X-Sim-Admin-Token on /_sim/* (default: open)
  --config <file.json>            JSON file with any startSimulator() options; flags override it

Data (deterministic from the seed)
  --seed <n>                      Seed (default 1)
  --start-time <iso>              Simulator "now" at start-up (default: real time)
  --clock real|manual             real: time flows; manual: only POST /_sim/clock moves it (default real)
  --history-hours <h>             History window ending at start (default 24)
  --accounts <n>                  Accounts (default 2)
  --sites-per-account <n>         Sites per account (default 2)
  --activities <n>                Historical activities (default 10000)
  --agents <n>                    Historical agents (default 200)
  --threats <n>                   Historical threats (default 1000)

Live mode (per second, on the simulator clock; all default 0)
  --live                          Shortcut: 5 activities, 0.2 threats, 0.5 threat and 1 agent updates per second
  --activities-per-second <r>     New activities
  --threats-per-second <r>        New threats
  --agents-per-second <r>         New agents
  --threat-updates-per-second <r> Threat updates (updatedAt moves, status changes)
  --agent-updates-per-second <r>  Agent updates

Tokens (repeatable; default: one full-access token "demo-token")
  --token <secret>                Full-access token
  --token <label>:<secret>[:apis=a,b][:accounts=0,1][:sites=0,2][:rate=<rps>][:expires=<iso>]
                                  Scoped token. apis: ${API_NAMES.join(', ')}.
                                  accounts/sites: 0-based indexes (see GET /_sim/accounts).

Faults at start-up (more at run time through /_sim/faults)
  --rate-limit <rps>              Per-token rate limit: 429 + Retry-After when exceeded
  --cursor-ttl-ms <ms>            Cursors older than this answer 400
  --request-log-limit <n>         Requests kept for GET /_sim/requests (default 10000)

  --help                          This text
`;

const cliFlags = {
  port: { type: 'string' },
  host: { type: 'string' },
  'admin-token': { type: 'string' },
  config: { type: 'string' },
  seed: { type: 'string' },
  'start-time': { type: 'string' },
  clock: { type: 'string' },
  'history-hours': { type: 'string' },
  accounts: { type: 'string' },
  'sites-per-account': { type: 'string' },
  activities: { type: 'string' },
  agents: { type: 'string' },
  threats: { type: 'string' },
  live: { type: 'boolean' },
  'activities-per-second': { type: 'string' },
  'threats-per-second': { type: 'string' },
  'agents-per-second': { type: 'string' },
  'threat-updates-per-second': { type: 'string' },
  'agent-updates-per-second': { type: 'string' },
  token: { type: 'string', multiple: true },
  'rate-limit': { type: 'string' },
  'cursor-ttl-ms': { type: 'string' },
  'request-log-limit': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export type CliResult = { readonly kind: 'help' } | { readonly kind: 'run'; readonly options: ResolvedOptions } | { readonly kind: 'error'; readonly message: string };

const number = (flag: string) =>
  z
    .string()
    .regex(/^-?\d+(\.\d+)?$/, `--${flag} must be a number`)
    .transform(Number);

const LIVE_PRESET = { activitiesPerSecond: 5, threatsPerSecond: 0.2, agentsPerSecond: 0, threatUpdatesPerSecond: 0.5, agentUpdatesPerSecond: 1 };

/** Parses argv (without node and script) into validated options. */
export function parseCli(argv: readonly string[]): CliResult {
  try {
    const { values } = parseArgs({ args: [...argv], options: cliFlags, strict: true, allowPositionals: false });
    if (values.help) return { kind: 'help' };
    const fromFile: Record<string, unknown> = values.config ? readConfig(values.config) : {};
    const num = (flag: keyof typeof cliFlags): number | undefined => {
      const raw = values[flag];
      return typeof raw === 'string' ? number(flag).parse(raw) : undefined;
    };
    const fileLive = typeof fromFile.live === 'object' && fromFile.live !== null ? fromFile.live : {};
    const live = {
      ...(values.live ? LIVE_PRESET : {}),
      ...fileLive,
      ...defined({
        activitiesPerSecond: num('activities-per-second'),
        threatsPerSecond: num('threats-per-second'),
        agentsPerSecond: num('agents-per-second'),
        threatUpdatesPerSecond: num('threat-updates-per-second'),
        agentUpdatesPerSecond: num('agent-updates-per-second'),
      }),
    };
    const input = {
      port: 8088,
      ...fromFile,
      ...defined({
        port: num('port'),
        host: values.host,
        adminToken: values['admin-token'],
        seed: num('seed'),
        startTime: values['start-time'],
        clock: values.clock,
        historyHours: num('history-hours'),
        accounts: num('accounts'),
        sitesPerAccount: num('sites-per-account'),
        activities: num('activities'),
        agents: num('agents'),
        threats: num('threats'),
        rateLimitPerSecond: num('rate-limit'),
        cursorTtlMs: num('cursor-ttl-ms'),
        requestLogLimit: num('request-log-limit'),
        tokens: values.token?.map(parseTokenFlag),
      }),
      live,
    };
    return { kind: 'run', options: simulatorOptionsSchema.parse(input) };
  } catch (error) {
    return { kind: 'error', message: describe(error) };
  }
}

/**
 * `secret`, or `label:secret[:key=value]...`. A part without `=` continues the previous value,
 * so timestamps keep their colons (`expires=2030-01-01T00:00:00Z`).
 */
export function parseTokenFlag(spec: string): TokenConfig {
  const parts = spec.split(':');
  if (parts.length === 1) return { token: spec };
  const [label = '', token = '', ...rest] = parts;
  const pairs: [string, string][] = [];
  for (const part of rest) {
    const eq = part.indexOf('=');
    const last = pairs[pairs.length - 1];
    if (eq < 0 && last) last[1] += `:${part}`;
    else if (eq < 0) throw new Error(`--token ${label}: "${part}" must be key=value`);
    else pairs.push([part.slice(0, eq), part.slice(eq + 1)]);
  }
  const config: TokenConfig = { label, token };
  const indexes = (key: string, v: string): number[] =>
    v.split(',').map((s) => {
      if (!/^\d+$/.test(s)) throw new Error(`--token ${label}: ${key} must be comma-separated indexes`);
      return Number(s);
    });
  for (const [key, value] of pairs) {
    if (key === 'apis') config.apis = value.split(',') as TokenConfig['apis'];
    else if (key === 'accounts') config.accounts = indexes(key, value);
    else if (key === 'sites') config.sites = indexes(key, value);
    else if (key === 'rate') config.rateLimitPerSecond = Number(value);
    else if (key === 'expires') config.expiresAt = value;
    else throw new Error(`--token ${label}: unknown key "${key}" (apis, accounts, sites, rate, expires)`);
  }
  return config;
}

function readConfig(path: string): Record<string, unknown> {
  const parsed: unknown = JSON.parse(readFileSync(path, 'utf8'));
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error(`--config ${path}: must hold a JSON object`);
  return parsed as Record<string, unknown>;
}

function defined<T extends Record<string, unknown>>(values: T): Partial<T> {
  return Object.fromEntries(Object.entries(values).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function describe(error: unknown): string {
  if (error instanceof z.ZodError) return error.issues.map((i) => (i.path.length > 0 ? `${i.path.join('.')}: ${i.message}` : i.message)).join('\n');
  return error instanceof Error ? error.message : String(error);
}
