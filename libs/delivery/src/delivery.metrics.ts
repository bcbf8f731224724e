import { Counter, Histogram } from 'prom-client';

/*
 * The enricher's and the sinks' metrics (prom-client's default registry, served by @s1c/runtime's
 * metrics endpoint). Labels are bounded: an API, an outcome; never a source or record id.
 */

const recordsOutput = new Counter({
  name: 's1c_records_output_total',
  help: 'Output records published to S1C_DATA (each record once), by API.',
  labelNames: ['api'] as const,
});

const recordsSkipped = new Counter({
  name: 's1c_records_already_output_total',
  help: 'Raw records not published again because they had been output already (redeliveries, overlapping pages).',
});

const sinkRequestDuration = new Histogram({
  name: 's1c_sink_http_request_duration_seconds',
  help: 'Duration of POSTs to the HTTP collector, by outcome: ok (2xx), retry (429, 408, 5xx, no answer), refused (any other 4xx).',
  labelNames: ['outcome'] as const,
  buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
});

const sinkRecordsDelivered = new Counter({
  name: 's1c_sink_http_records_delivered_total',
  help: 'Records the HTTP collector accepted, by API.',
  labelNames: ['api'] as const,
});

export const deliveryMetrics = {
  output(api: string, count: number): void {
    recordsOutput.inc({ api }, count);
  },
  alreadyOutput(count: number): void {
    if (count > 0) recordsSkipped.inc(count);
  },
  sinkRequest(outcome: 'ok' | 'retry' | 'refused', durationMs: number): void {
    sinkRequestDuration.observe({ outcome }, durationMs / 1000);
  },
  sinkDelivered(api: string, count: number): void {
    sinkRecordsDelivered.inc({ api }, count);
  },
};
