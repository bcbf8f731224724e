import { deliveryStreamId, sourceStreamId, tokenStreamId } from '@s1c/domain';
import { subjects } from '@s1c/messaging';
import type { RecordedEvent } from './event.types';

const SOURCE_PREFIX = sourceStreamId('');
const COLLECTION_PREFIX = 'collection-';
const NAME_PREFIX = 'sourcename-';
/** The delivery health of one source (the enricher's HTTP sink). */
const DELIVERY_PREFIX = deliveryStreamId('');
/** The API token health of one source (a fetcher's daily expiry check). */
const TOKEN_PREFIX = tokenStreamId('');

/** The log stream that guards one name in one collector (see {@link SourceNameRegistry}). */
export const nameStreamId = (collectorId: string, nameHash: string): string => `${NAME_PREFIX}${collectorId}-${nameHash}`;

/**
 * The JetStream subject a logged event is relayed on: `s1c.evt.source.<id>.<Type>` for sources,
 * `s1c.evt.collection.<id>-<api>.<Type>` for their collections, `s1c.evt.delivery.<id>.<Type>` for
 * their delivery health, `s1c.evt.token.<id>.<Type>` for their token health, `s1c.evt.sourcename.<collector>-<hash>.<Type>` for name reservations.
 */
export function relaySubjectFor(event: RecordedEvent): string {
  for (const [prefix, kind] of [
    [NAME_PREFIX, 'sourcename'],
    [DELIVERY_PREFIX, 'delivery'],
    [TOKEN_PREFIX, 'token'],
    [COLLECTION_PREFIX, 'collection'],
    [SOURCE_PREFIX, 'source'],
  ] as const) {
    if (event.streamId.startsWith(prefix)) return subjects.relayedEvent(kind, event.streamId.slice(prefix.length), event.type);
  }
  throw new Error(`no relay subject for stream ${event.streamId}`);
}
