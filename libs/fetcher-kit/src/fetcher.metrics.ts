import type { S1RequestOutcome } from '@s1c/s1-client';
import { Counter, Histogram } from 'prom-client';
import type { JobOutcome } from './job.runner';

/*
 * A fetcher's metrics (prom-client's default registry, served by @s1c/runtime's metrics endpoint).
 * Labels are bounded: the API, the lane, an outcome or an HTTP status; never a source or record id
 * (per-source figures are the health service's, from the log).
 */

const s1RequestDuration = new Histogram({
  name: 's1c_s1_request_duration_seconds',
  help: 'Duration of HTTP requests to SentinelOne consoles, by what they read and their status (`error`: no response).',
  labelNames: ['call', 'status'] as const,
  buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
});

const jobsTotal = new Counter({
  name: 's1c_fetch_jobs_total',
  help: 'Fetch jobs run by this fetcher, by API, lane and outcome (completed, failed, interrupted, stale, superseded, abandoned, error).',
  labelNames: ['api', 'lane', 'outcome'] as const,
});

const recordsFetched = new Counter({
  name: 's1c_records_fetched_total',
  help: 'SentinelOne records fetched and published to S1C_RAW, by API.',
  labelNames: ['api'] as const,
});

export const fetcherMetrics = {
  s1Request(outcome: S1RequestOutcome): void {
    s1RequestDuration.observe({ call: outcome.what, status: String(outcome.status) }, outcome.durationMs / 1000);
  },
  job(api: string, lane: string, outcome: JobOutcome['kind'] | 'error'): void {
    jobsTotal.inc({ api, lane, outcome });
  },
  recordsFetched(api: string, count: number): void {
    recordsFetched.inc({ api }, count);
  },
};
