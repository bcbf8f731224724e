import type { RecordedEvent } from '@s1c/event-store';

const SOURCE_PREFIX = 'source-';
const NAME_PREFIX = 'sourcename-';

/** The log stream of one source. */
export const sourceStreamId = (sourceId: string): string => `${SOURCE_PREFIX}${sourceId}`;

/** The log stream that guards one name in one collector (see {@link SourceNameRegistry}). */
export const nameStreamId = (collectorId: string, nameHash: string): string => `${NAME_PREFIX}${collectorId}-${nameHash}`;

/** The JetStream subject a logged event is relayed on: `s1c.evt.source.<id>.<Type>`. */
export function relaySubjectFor(event: RecordedEvent): string {
  if (event.streamId.startsWith(NAME_PREFIX)) return `s1c.evt.sourcename.${event.streamId.slice(NAME_PREFIX.length)}.${event.type}`;
  if (event.streamId.startsWith(SOURCE_PREFIX)) return `s1c.evt.source.${event.streamId.slice(SOURCE_PREFIX.length)}.${event.type}`;
  throw new Error(`no relay subject for stream ${event.streamId}`);
}
