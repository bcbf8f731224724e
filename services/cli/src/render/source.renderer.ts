import type { ReplayReply, SourceDocument, TestReply } from '@s1c/contracts';
import { documentLeaves } from '@s1c/domain';
import type { Style } from './style';
import { renderTable, type Column } from './table.renderer';
import { age, shortTime } from './time.format';

/** `s1c source list`: one line per source. */
export function renderSourceTable(sources: readonly SourceDocument[], style: Style, now: Date): string {
  if (sources.length === 0) return 'No sources.\n';
  const columns: Column<SourceDocument>[] = [
    { header: 'ID', cell: (s) => s.source.id },
    { header: 'NAME', cell: (s) => s.source.config.name },
    { header: 'COLLECTOR', cell: (s) => s.collectorId },
    { header: 'STATE', cell: (s) => style.state(s.source.state.state) },
    { header: 'SINCE', cell: (s) => age(s.source.state.since, now), align: 'right' },
    { header: 'APIS', cell: (s) => s.source.config.supported_apis.join(',') },
    { header: 'BASE URL', cell: (s) => s.source.config.base_url },
  ];
  return renderTable(columns, sources);
}

/** `s1c source get|create|update|restart|delete`: one source, field by field. */
export function renderSourceDetail(doc: SourceDocument, style: Style, now: Date): string {
  const { source } = doc;
  const { config, state } = source;
  const fields = Object.entries(config.fields);
  const lines: [string, string][] = [
    ['id', source.id],
    ['name', config.name],
    ['collector', doc.collectorId],
    ['state', `${style.state(state.state)} since ${shortTime(state.since)} (${age(state.since, now)} ago)`],
  ];
  if (state.error) lines.push(['error', `${state.error.eventName}: ${state.error.reason}`]);
  lines.push(
    ['version', String(doc.version)],
    ['base_url', config.base_url],
    ['apis', config.supported_apis.join(', ')],
    ['category', config.category ?? '-'],
    ['description', config.description ?? '-'],
    ['fields', fields.length === 0 ? '-' : fields.map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(' ')],
    ['options', optionsLine(config.options)],
    ['api_secret', config.api_secret],
    ['created', shortTime(source.createdAt)],
    ['updated', shortTime(source.updatedAt)],
  );
  const width = Math.max(...lines.map(([k]) => k.length));
  return lines.map(([k, v]) => `${style.bold(k.padEnd(width))}  ${v.replace(/[\r\n]+/g, ' ')}`).join('\n') + '\n';
}

/** The per-source options as `path=value` pairs (`poll_interval=1m scope.site_ids=1,2`), or `-` for none. */
function optionsLine(options: SourceDocument['source']['config']['options']): string {
  const pairs = [...documentLeaves(options ?? {})].map(([path, value]) => `${path}=${Array.isArray(value) ? value.join(',') : String(value)}`);
  return pairs.length === 0 ? '-' : pairs.join(' ');
}

/** Whether a test found nothing wrong: reachable, authenticated, every API readable. */
export function testPassed(reply: TestReply): boolean {
  return reply.reachable && reply.authenticated && Object.values(reply.apis).every((a) => a.readable) && reply.problems.length === 0;
}

/** `s1c source test`: the verdict, per API, and each problem with what to do. */
export function renderTestReply(reply: TestReply, style: Style): string {
  const yes = (ok: boolean) => (ok ? style.green('yes') : style.red('no'));
  const out = [
    `console        ${reply.base_url}`,
    `reachable      ${yes(reply.reachable)}`,
    `authenticated  ${yes(reply.authenticated)}`,
    `token expires  ${reply.tokenExpiresAt ? shortTime(reply.tokenExpiresAt) : '-'}`,
  ];
  const apis = Object.entries(reply.apis);
  if (apis.length > 0) {
    out.push('');
    out.push(
      renderTable(
        [
          { header: 'API', cell: ([api]) => api },
          { header: 'READABLE', cell: ([, a]) => yes(a.readable) },
          { header: 'REASON', cell: ([, a]) => a.reason ?? '' },
        ],
        apis,
      ).trimEnd(),
    );
  }
  if (reply.problems.length > 0) {
    out.push('', style.bold('Problems:'));
    for (const p of reply.problems) out.push(`  - ${p.api ? `${p.api}: ` : ''}${p.errorType}: ${p.reason}`, `    ${p.message}`);
  }
  out.push('', testPassed(reply) ? style.green('Test passed.') : style.red('Test found problems.'));
  return out.join('\n') + '\n';
}

/** `s1c source replay`: what was accepted. */
export function renderReplayReply(reply: ReplayReply): string {
  return `Replay of ${reply.api} for source ${reply.sourceId} requested: ${shortTime(reply.window.from)} to ${shortTime(reply.window.to)}.\n`;
}
