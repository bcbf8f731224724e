import { describeActor, type ReencryptReply, type SourceHistoryReply } from '@s1c/contracts';
import type { Style } from './style';
import { renderTable, type Column } from './table.renderer';
import { shortTime } from './time.format';

type Entry = SourceHistoryReply['entries'][number];
type Change = Entry['changes'][number];

/** `s1c source history`: one line per event, oldest first: when, who, what happened, what changed. */
export function renderHistory(reply: SourceHistoryReply, style: Style): string {
  if (reply.entries.length === 0) return `No history for source ${reply.sourceId}.\n`;
  const columns: Column<Entry>[] = [
    { header: 'VERSION', cell: (e) => String(e.version), align: 'right' },
    { header: 'TIME', cell: (e) => shortTime(e.at) },
    { header: 'WHO', cell: (e) => printable(describeActor(e.actor)) },
    { header: 'EVENT', cell: (e) => e.type },
    { header: 'CHANGES', cell: (e) => (e.changes.length === 0 ? style.dim('-') : e.changes.map(renderChange).join('; ')) },
  ];
  return renderTable(columns, reply.entries);
}

function renderChange(change: Change): string {
  if (change.masked) return `${change.path} ${change.from === null ? 'set' : 'replaced'} (masked)`;
  return printable(`${change.path}: ${value(change.from)} -> ${value(change.to)}`);
}

function value(v: Change['from']): string {
  if (v === null) return '(none)';
  if (Array.isArray(v)) return `[${v.join(',')}]`;
  return typeof v === 'string' ? JSON.stringify(v) : String(v);
}

/** What came from the log may hold control characters; a terminal must not interpret them. */
function printable(text: string): string {
  return [...text].map((c) => (isControl(c.codePointAt(0)!) ? '?' : c)).join('');
}

const isControl = (code: number): boolean => code < 0x20 || (code >= 0x7f && code <= 0x9f);

/** `s1c secrets reencrypt`: counts, then the ids of what failed and why. */
export function renderReencryptReply(reply: ReencryptReply, style: Style): string {
  const lines = [
    `API tokens checked against the newest key (${reply.keyId}):`,
    `  re-encrypted: ${reply.reencrypted.length}`,
    `  already current: ${reply.current.length}`,
    `  failed: ${reply.failed.length === 0 ? '0' : style.red(String(reply.failed.length))}`,
  ];
  for (const failure of reply.failed) lines.push(`    ${failure.id}: ${printable(failure.reason)}`);
  if (reply.failed.length > 0) lines.push('', 'A failed token cannot be read with any configured key: add the key it was encrypted with to S1C_SECRET_KEY, or update the source with its token.');
  return lines.join('\n') + '\n';
}
