import { parseMicros } from '@s1c/domain';
import { POLL_DURATION_BUCKETS_S, type ApiStatusDoc } from './api-status.model';
import type { HealthEventDoc } from './health-event.model';
import type { SourceStatusDoc } from './source-status.model';

export const METRICS_CONTENT_TYPE = 'text/plain; charset=utf-8; version=0.0.4';

type Labels = Record<string, string>;

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function series(name: string, labels: Labels, value: number): string {
  const text = Object.entries(labels)
    .map(([k, v]) => `${k}="${escapeLabel(v)}"`)
    .join(',');
  return `${name}${text ? `{${text}}` : ''} ${Number.isFinite(value) ? value : 0}`;
}

/**
 * Prometheus text exposition of the read models: computed at each scrape from the status every
 * replica folds from the same log (and the open health events in MongoDB), so every replica of the
 * service reports the same numbers once it has read the same events.
 */
export function renderMetrics(
  snapshot: { sources: SourceStatusDoc[]; apis: ApiStatusDoc[]; open: Array<Pick<HealthEventDoc, 'resourceIdentity' | 'severityLevel' | 'errorType'>> },
  now: Date,
): string {
  const lines: string[] = [];
  const family = (name: string, type: 'gauge' | 'counter' | 'histogram', help: string) => lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
  const byId = new Map(snapshot.sources.map((s) => [s._id, s]));

  family('s1c_source_state', 'gauge', 'The state of each source (1 for its current state).');
  for (const s of snapshot.sources) lines.push(series('s1c_source_state', { source_id: s._id, source: s.name, collector: s.collectorId, state: s.state }, 1));

  family('s1c_source_open_health_events', 'gauge', 'Open health events per source and severity.');
  for (const s of snapshot.sources) {
    for (const severity of ['Error', 'Warning'] as const) {
      const n = snapshot.open.filter((e) => e.resourceIdentity.id === s._id && e.severityLevel === severity).length;
      lines.push(series('s1c_source_open_health_events', { source_id: s._id, source: s.name, severity }, n));
    }
  }

  const apis = snapshot.apis.filter((a) => byId.has(a.sourceId));
  const apiLabels = (a: ApiStatusDoc): Labels => ({ source_id: a.sourceId, source: byId.get(a.sourceId)!.name, api: a.api });

  family('s1c_records_collected_total', 'counter', 'Records collected per source and API.');
  for (const a of apis) lines.push(series('s1c_records_collected_total', apiLabels(a), a.recordsTotal));

  family('s1c_collection_errors_total', 'counter', 'Failed fetch jobs per source and API.');
  for (const a of apis) lines.push(series('s1c_collection_errors_total', apiLabels(a), a.failuresTotal));

  family('s1c_collection_lag_seconds', 'gauge', 'Now minus the live checkpoint, per source and API.');
  const nowMicros = now.getTime() * 1000;
  for (const a of apis) {
    const lag = Math.max(0, (nowMicros - (parseMicros(a.liveCheckpoint) ?? nowMicros)) / 1_000_000);
    lines.push(series('s1c_collection_lag_seconds', apiLabels(a), Math.round(lag * 1000) / 1000));
  }

  family('s1c_backfill_progress_percent', 'gauge', 'Backfill progress as a percentage of its window.');
  for (const a of apis) if (a.backfill) lines.push(series('s1c_backfill_progress_percent', apiLabels(a), a.backfill.percent));

  family('s1c_poll_duration_seconds', 'histogram', 'Duration of fetch jobs that ended well, from dispatch to completion.');
  for (const a of apis) {
    const labels = apiLabels(a);
    POLL_DURATION_BUCKETS_S.forEach((le, i) => lines.push(series('s1c_poll_duration_seconds_bucket', { ...labels, le: String(le) }, a.pollDurations.buckets[i] ?? 0)));
    lines.push(series('s1c_poll_duration_seconds_bucket', { ...labels, le: '+Inf' }, a.pollDurations.count));
    lines.push(series('s1c_poll_duration_seconds_sum', labels, a.pollDurations.sumMs / 1000));
    lines.push(series('s1c_poll_duration_seconds_count', labels, a.pollDurations.count));
  }

  family('s1c_health_events_open', 'gauge', 'Open health events by severity and error type.');
  const totals = new Map<string, number>();
  for (const e of snapshot.open) totals.set(`${e.severityLevel}\u0000${e.errorType}`, (totals.get(`${e.severityLevel}\u0000${e.errorType}`) ?? 0) + 1);
  for (const [key, n] of [...totals].sort()) {
    const [severity, errorType] = key.split('\u0000') as [string, string];
    lines.push(series('s1c_health_events_open', { severity, error_type: errorType }, n));
  }
  return `${lines.join('\n')}\n`;
}
