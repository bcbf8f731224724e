import { RAW_BATCH_HEADERS, RAW_BATCH_MAX_BYTES } from '@s1c/contracts';
import { publishBytes } from '@s1c/messaging';
import { listBodyOf } from '@s1c/s1-client';
import type { JetStreamClient } from 'nats';
import { createHash } from 'node:crypto';

/** A record as a fetcher publishes it: its id, the UTC day its id stands for, and its exact JSON bytes. */
export interface RawRecord {
  readonly id: string;
  /** `YYYY-MM-DD`. */
  readonly day: string;
  /** Its `_siemEventID` (domain `siemEventId`): the one thing of its value the enricher needs. */
  readonly eventId: string;
  readonly bytes: Uint8Array;
}

/** Where a fetcher puts raw records: JetStream `S1C_RAW` in production; tests may wrap it. */
export interface RawPublisher {
  /**
   * Publishes the records of one page with `headers`, as few raw batches as the size limit allows,
   * and resolves once the stream has stored every batch (or already had it: the `Nats-Msg-Id`, a
   * digest of the batch's record ids, makes a repeat harmless).
   */
  publish(subject: string, records: readonly RawRecord[], headers: Readonly<Record<string, string>>): Promise<void>;
}

/**
 * The records cut into raw batches of one day each and at most `maxBytes` (bodies and ids
 * together), in order. A record larger than that alone goes in a batch of its own.
 */
export function rawBatchesOf(records: readonly RawRecord[], maxBytes: number): RawRecord[][] {
  const batches: RawRecord[][] = [];
  let current: RawRecord[] = [];
  let size = 0;
  for (const r of records) {
    // The record's bytes, its id and event id as JSON strings, its length and separators.
    const cost = r.bytes.length + r.id.length + r.eventId.length + 20;
    if (current.length > 0 && (size + cost > maxBytes || r.day !== current[0]!.day)) {
      batches.push(current);
      current = [];
      size = 0;
    }
    current.push(r);
    size += cost;
  }
  if (current.length > 0) batches.push(current);
  return batches;
}

const noop = (): void => undefined;

/** The bytes of records and ids a raw batch may hold on a server with this `max_payload`. */
export function rawBatchMaxBytes(maxPayload: number | undefined): number {
  if (maxPayload === undefined || !Number.isFinite(maxPayload) || maxPayload <= 0) return RAW_BATCH_MAX_BYTES;
  return Math.min(RAW_BATCH_MAX_BYTES, Math.floor(maxPayload / 2));
}

/**
 * A {@link RawPublisher} on JetStream: each batch is one message, its body the list body
 * `{"data":[...]}` of the records' bytes, its `S1c-Record-Ids` header their ids (a JSON array),
 * `S1c-Record-Day` their day, `S1c-Record-Lengths` and `S1c-Record-Event-Ids` what lets the
 * enricher cut them out without parsing; published together and each PubAck awaited.
 */
export function jetStreamRawPublisher(js: JetStreamClient, options: { timeoutMs?: number; maxBytes?: number } = {}): RawPublisher {
  const maxBytes = options.maxBytes ?? RAW_BATCH_MAX_BYTES;
  return {
    async publish(subject, records, headers) {
      // Every publish settles before the page counts as failed: none is left in flight behind it.
      const published = await Promise.allSettled(
        rawBatchesOf(records, maxBytes).map((batch) => {
          const ids = JSON.stringify(batch.map((r) => r.id));
          return publishBytes(
            js,
            subject,
            listBodyOf(batch.map((r) => r.bytes)),
            {
              msgId: createHash('sha256').update(ids).digest('base64url'),
              headers: {
                ...headers,
                [RAW_BATCH_HEADERS.recordIds]: ids,
                [RAW_BATCH_HEADERS.recordDay]: batch[0]!.day,
                [RAW_BATCH_HEADERS.recordLengths]: JSON.stringify(batch.map((r) => r.bytes.length)),
                [RAW_BATCH_HEADERS.recordEventIds]: JSON.stringify(batch.map((r) => r.eventId)),
              },
              timeoutMs: options.timeoutMs ?? 10_000,
            },
          ).then(noop);
        }),
      );
      const failed = published.find((p): p is PromiseRejectedResult => p.status === 'rejected');
      if (failed) throw failed.reason;
    },
  };
}
