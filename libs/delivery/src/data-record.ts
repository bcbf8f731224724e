import type { RecordMetadata, SourceApi } from '@s1c/domain';
import type { ByteSlab } from '@s1c/messaging';

export { DATA_RECORD_HEADERS } from '@s1c/contracts';

/** The output record without its `event`. */
export interface DataEnvelope {
  readonly id: string;
  readonly sourceId: string;
  readonly collectorId: string;
  readonly api: SourceApi;
  readonly metadata: RecordMetadata;
  readonly fetchedAt: string;
}

const encoder = new TextEncoder();
const EVENT_KEY = ',"event":';
const EVENT_KEY_BYTES = encoder.encode(EVENT_KEY);
const CLOSE = 0x7d; // '}'

/**
 * The output record's JSON: `{"id","sourceId","collectorId","api","metadata","fetchedAt","event"}`.
 * Built by concatenation so that `event` is the raw record's bytes, unchanged: 64-bit ids and
 * nested numbers beyond 2^53 keep every digit. `metadataJson` is `JSON.stringify(metadata)`. With
 * a `slab`, the body is cut from it: for a record that is published and dropped.
 */
export function buildDataRecord(
  envelope: Omit<DataEnvelope, 'metadata'>,
  metadataJson: string,
  event: Uint8Array,
  slab?: ByteSlab,
): { body: Uint8Array; eventOffset: number } {
  const head =
    `{"id":${JSON.stringify(envelope.id)},"sourceId":${JSON.stringify(envelope.sourceId)},` +
    `"collectorId":${JSON.stringify(envelope.collectorId)},"api":${JSON.stringify(envelope.api)},` +
    `"metadata":${metadataJson},"fetchedAt":${JSON.stringify(envelope.fetchedAt)}${EVENT_KEY}`;
  // The head encoded straight into the body: no intermediate copy.
  const headLength = Buffer.byteLength(head, 'utf8');
  const length = headLength + event.length + 1;
  const body = slab ? slab.take(length) : new Uint8Array(length);
  encoder.encodeInto(head, body);
  body.set(event, headLength);
  body[body.length - 1] = CLOSE;
  return { body, eventOffset: headLength };
}

/** An output record taken apart: the envelope parsed, the event as the exact bytes it was published with. */
export interface ParsedDataRecord {
  readonly envelope: DataEnvelope;
  readonly event: Uint8Array;
}

/**
 * Splits an output record at its `S1c-Event-Offset` without parsing the SentinelOne object.
 * Returns undefined when the body does not have the shape {@link buildDataRecord} writes.
 */
export function parseDataRecord(body: Uint8Array, eventOffset: number): ParsedDataRecord | undefined {
  if (!Number.isInteger(eventOffset) || eventOffset < EVENT_KEY_BYTES.length + 2 || eventOffset >= body.length) return undefined;
  if (body[body.length - 1] !== CLOSE) return undefined;
  const keyAt = eventOffset - EVENT_KEY_BYTES.length;
  for (let i = 0; i < EVENT_KEY_BYTES.length; i++) if (body[keyAt + i] !== EVENT_KEY_BYTES[i]) return undefined;
  let envelope: DataEnvelope;
  try {
    // The head without `,"event":` plus a closing brace is the envelope's own JSON.
    const text = new TextDecoder('utf-8', { fatal: true }).decode(body.subarray(0, keyAt)) + '}';
    envelope = JSON.parse(text) as DataEnvelope;
  } catch {
    return undefined;
  }
  const { metadata } = (envelope ?? {}) as { metadata?: unknown };
  if (typeof envelope !== 'object' || envelope === null || typeof envelope.id !== 'string' || typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) {
    return undefined;
  }
  return { envelope, event: body.subarray(eventOffset, body.length - 1) };
}
