import { startSimulator, type RunningSimulator } from '@s1c/s1-simulator';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { z } from 'zod';
import { healthUrl } from './faults.harness';
import { ALL_SERVICES, eventually, SystemUnderTest } from './system.harness';

const ROOT = join(__dirname, '..', '..');

/**
 * Issue 17: every service serves Prometheus metrics on its own port: the process's, and what it
 * did, with bounded labels. The whole system collects one small console, then each is scraped.
 */
const SETTINGS = { S1C_POLL_INTERVAL: '10s', S1C_LIVE_OVERLAP: '2s', S1C_SCHEDULER_TICK: '250ms', S1C_HEALTH_PORT: '0', S1C_HEALTH_HOST: '127.0.0.1', S1C_GATEWAY_PORT: '0' };
const TOKEN = 'tok-metrics-e2e';

let simulator: RunningSimulator;
let system: SystemUnderTest;
let sourceId: string;

beforeAll(async () => {
  simulator = await startSimulator({ accounts: 1, sitesPerAccount: 1, historyHours: 23, activities: 2_500, agents: 20, threats: 30 });
  simulator.admin.addToken({ token: TOKEN, label: 'metrics', accounts: [0] });
  system = await SystemUnderTest.start(SETTINGS, { services: [...ALL_SERVICES, 'gateway'], metrics: true });
  sourceId = await system.createSource({ name: 'Metrics', category: 'e2e/metrics', base_url: simulator.url, api_secret: TOKEN, supported_apis: ['activities', 'agents', 'threats'] });
  await eventually(
    'every record in the data stream',
    async () => {
      const info = await (await system.nc.jetstreamManager()).streams.info('S1C_DATA', { subjects_filter: `s1c.data.*.${sourceId}` });
      const total = Object.values(info.state.subjects ?? {}).reduce((a, n) => a + n, 0);
      return total >= 2_500 + 20 + 30 ? true : undefined;
    },
    120_000,
  );
}, 180_000);

afterAll(async () => {
  await system?.close();
  await simulator?.close();
});

/** The value of one series (`name{labels}`), summed over the series whose labels include `labels`. */
function value(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  let found = false;
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})? ([0-9.e+-]+|NaN)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const have = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) {
      sum += Number(match[3]);
      found = true;
    }
  }
  if (!found) throw new Error(`no series ${name}${JSON.stringify(labels)} in:\n${text.split('\n').filter((l) => l.startsWith('s1c_')).join('\n')}`);
  return sum;
}

describe('Prometheus metrics of every service', () => {
  it('each process reports its CPU, memory and event loop', async () => {
    for (const instance of system.instances().filter((i) => i !== 'health')) {
      const text = await system.metrics(instance);
      expect(value(text, 'process_cpu_seconds_total'), instance).toBeGreaterThan(0);
      expect(value(text, 'process_resident_memory_bytes'), instance).toBeGreaterThan(0);
      expect(text, instance).toContain('nodejs_eventloop_lag_seconds');
    }
  });

  it('the fetchers report their SentinelOne requests, jobs and records; the scheduler its dispatches', async () => {
    const activities = await system.metrics('fetcher-activities');
    expect(value(activities, 's1c_s1_request_duration_seconds_count', { call: 'activities', status: '200' })).toBeGreaterThanOrEqual(3);
    expect(value(activities, 's1c_fetch_jobs_total', { api: 'activities', outcome: 'completed' })).toBeGreaterThanOrEqual(1);
    expect(value(activities, 's1c_records_fetched_total', { api: 'activities' })).toBeGreaterThanOrEqual(2_500);
    expect(value(activities, 's1c_consumer_ack_pending_messages', { stream: 'S1C_JOBS', durable: 'fetcher-activities' })).toBeGreaterThanOrEqual(0);
    expect(value(await system.metrics('fetcher-agents'), 's1c_records_fetched_total', { api: 'agents' })).toBeGreaterThanOrEqual(20);
    expect(value(await system.metrics('scheduler'), 's1c_jobs_dispatched_total', { api: 'activities' })).toBeGreaterThanOrEqual(1);
  });

  it('the enricher reports the records it output and the backlog of its consumer; no series names a source or a record', async () => {
    const enricher = await system.metrics('enricher');
    expect(value(enricher, 's1c_records_output_total', { api: 'activities' })).toBe(2_500);
    expect(value(enricher, 's1c_records_output_total')).toBe(2_500 + 20 + 30);
    expect(value(enricher, 's1c_consumer_pending_messages', { stream: 'S1C_RAW', durable: 'enricher' })).toBe(0);
    for (const instance of system.instances().filter((i) => i !== 'health')) {
      const text = await system.metrics(instance);
      expect(text.includes(sourceId), `${instance} names the source`).toBe(false);
      expect(text.includes(TOKEN), `${instance} shows the token`).toBe(false);
    }
  });
});

/** The Grafana dashboard's shape, as Grafana loads it (the fields it needs, and every query's expression). */
const dashboardSchema = z.object({
  uid: z.string().min(1),
  title: z.string().min(1),
  schemaVersion: z.number().int().min(30),
  panels: z
    .array(
      z.object({
        id: z.number().int(),
        type: z.enum(['timeseries', 'stat', 'gauge', 'table', 'bargauge']),
        title: z.string().min(1),
        datasource: z.object({ type: z.literal('prometheus'), uid: z.string() }),
        gridPos: z.object({ x: z.number(), y: z.number(), w: z.number().max(24), h: z.number() }),
        targets: z.array(z.object({ refId: z.string(), expr: z.string().min(1) })).min(1),
      }),
    )
    .min(1),
});
const alertsSchema = z.object({
  groups: z.array(z.object({ name: z.string(), rules: z.array(z.object({ alert: z.string(), expr: z.string(), labels: z.object({ severity: z.enum(['warning', 'critical']) }) })).min(1) })),
});

/** Metric names a PromQL expression reads (identifiers that are not functions, keywords or labels). */
function metricsIn(expr: string): string[] {
  const withoutLabels = expr.replace(/\{[^}]*\}/g, '{}').replace(/"[^"]*"/g, '""');
  const words = withoutLabels.match(/[a-zA-Z_:][a-zA-Z0-9_:]*(?=\s*[{[)\s=<>!*/+-]|$)/g) ?? [];
  const notMetrics = new Set(['sum', 'max', 'min', 'avg', 'count', 'rate', 'increase', 'histogram_quantile', 'by', 'without', 'and', 'or', 'unless', 'on', 'le', 'job', 'state', 'severity', 'error_type', 'source', 'source_id', 'api', 'call', 'status', 'outcome', 'lane', 'stream', 'durable', 'method']);
  return [...new Set(words.filter((w) => !notMetrics.has(w) && !/^\d/.test(w)))];
}

describe('the Grafana dashboard and the alert rules', () => {
  it('load as Grafana and Prometheus read them, and name only metrics that running services export', async () => {
    const dashboard = dashboardSchema.parse(JSON.parse(readFileSync(join(ROOT, 'infra/grafana/dashboards/s1c-overview.json'), 'utf8')));
    const alerts = alertsSchema.parse(parse(readFileSync(join(ROOT, 'infra/prometheus/alerts.yml'), 'utf8')));
    const expressions = [...dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr)), ...alerts.groups.flatMap((g) => g.rules.map((r) => r.expr))];
    const named = new Set(expressions.flatMap(metricsIn));
    expect(named.size).toBeGreaterThan(10);

    // Every series name the running system exports (each service, and the health service's read models).
    const texts = await Promise.all([
      ...system.instances().filter((i) => i !== 'health').map((i) => system.metrics(i)),
      fetch(`${healthUrl(system)}/metrics`).then((r) => r.text()),
    ]);
    const exported = new Set(texts.flatMap((t) => [...t.matchAll(/^# TYPE ([a-zA-Z0-9_:]+) /gm)].map((m) => m[1]!)));
    // Prometheus' own `up`, and a histogram's series are its name with _bucket, _sum or _count.
    const unknown = [...named].filter((name) => name !== 'up' && !exported.has(name) && !exported.has(name.replace(/_(bucket|sum|count)$/, '')));
    expect(unknown).toEqual([]);
  });
});
