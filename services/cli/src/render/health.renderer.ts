import type { SourceStatus } from '../health.schemas';
import type { Style } from './style';
import { renderTable } from './table.renderer';
import { age, duration, shortTime } from './time.format';

/** `s1c health`: every source's state, health and open events, one line each. */
export function renderHealthOverview(sources: readonly SourceStatus[], style: Style, now: Date): string {
  if (sources.length === 0) return 'No sources.\n';
  const table = renderTable(
    [
      { header: 'NAME', cell: (s: SourceStatus) => s.name },
      { header: 'ID', cell: (s) => s.id },
      { header: 'COLLECTOR', cell: (s) => s.collectorId },
      { header: 'STATE', cell: (s) => style.state(s.state) },
      { header: 'SINCE', cell: (s) => age(s.since, now), align: 'right' },
      { header: 'HEALTH', cell: (s) => style.health(s.health) },
      { header: 'ERRORS', cell: (s) => String(s.openErrors), align: 'right' },
      { header: 'WARNINGS', cell: (s) => String(s.openWarnings), align: 'right' },
      { header: 'MAX LAG', cell: (s) => duration(maxLag(s)), align: 'right' },
    ],
    sources,
  );
  const unhealthy = sources.filter((s) => s.health !== 'healthy').length;
  const summary = unhealthy === 0 ? `${sources.length} source(s), all healthy.` : `${sources.length} source(s), ${unhealthy} not healthy: run \`s1c health <ID>\` for why.`;
  return `${table}\n${summary}\n`;
}

function maxLag(s: SourceStatus): number | null {
  const lags = s.apis.map((a) => a.lagSeconds).filter((l): l is number => l !== null);
  return lags.length === 0 ? null : Math.max(...lags);
}

/** `s1c health ID`: the source's status, each API, and every open health event with its reason and what to do. */
export function renderHealthDetail(s: SourceStatus, style: Style, now: Date): string {
  const out = [
    `${style.bold(s.name)} (${s.id}, collector ${s.collectorId})`,
    `state   ${style.state(s.state)} since ${shortTime(s.since)} (${age(s.since, now)} ago): ${s.reason}`,
    `health  ${style.health(s.health)}: ${s.openErrors} open error(s), ${s.openWarnings} open warning(s)`,
  ];
  if (s.apis.length > 0) {
    out.push(
      '',
      renderTable(
        [
          { header: 'API', cell: (a: SourceStatus['apis'][number]) => a.api },
          { header: 'CHECKPOINT', cell: (a) => shortTime(a.checkpoint) },
          { header: 'LAG', cell: (a) => duration(a.lagSeconds), align: 'right' },
          { header: 'LAST POLL', cell: (a) => (a.lastSuccessfulPollAt ? `${age(a.lastSuccessfulPollAt, now)} ago` : '-'), align: 'right' },
          { header: 'RECORDS', cell: (a) => String(a.records.total), align: 'right' },
          { header: 'BACKFILL', cell: (a) => (a.backfill ? (a.backfill.done ? 'done' : `${Math.floor(a.backfill.percent)}%`) : '-'), align: 'right' },
          { header: 'FAILED JOBS', cell: (a) => String(a.failuresTotal), align: 'right' },
        ],
        s.apis,
      ).trimEnd(),
    );
  }
  out.push('');
  if (s.openHealthEvents.length === 0) {
    out.push('No open health events.');
  } else {
    out.push(style.bold('Open health events:'));
    for (const e of s.openHealthEvents) {
      const severity = e.severityLevel === 'Error' ? style.red(e.severityLevel) : style.yellow(e.severityLevel);
      const times = e.occurrences > 1 ? `, ${e.occurrences} times` : '';
      out.push(
        `  ${severity}  ${e.eventName}${e.api ? ` (${e.api})` : ''}  since ${shortTime(e.eventTime)}${times}`,
        `    reason:  ${oneLine(e.description)}`,
        `    to do:   ${oneLine(e.action)}`,
      );
    }
  }
  return out.join('\n') + '\n';
}

const oneLine = (text: string): string => text.replace(/[\r\n]+/g, ' ');
