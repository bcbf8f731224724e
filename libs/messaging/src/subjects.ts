import type { SourceCommandName } from '@s1c/contracts';

/** Thrown when a value cannot be used as one token of a subject. */
export class InvalidSubjectTokenError extends Error {
  override readonly name = 'InvalidSubjectTokenError';
  constructor(
    readonly label: string,
    readonly value: string,
  ) {
    super(`${label} ${JSON.stringify(value)} cannot be a subject token: it must be non-empty, without '.', '*', '>' or whitespace`);
  }
}

const INVALID_TOKEN = /[.*>\s]/;

/**
 * Checks that `value` can be one token of a NATS subject: a '.' would add a level, '*' or '>'
 * would turn a publish subject into a wildcard, whitespace is a protocol delimiter.
 */
export function subjectToken(label: string, value: string): string {
  if (value.length === 0 || INVALID_TOKEN.test(value)) throw new InvalidSubjectTokenError(label, value);
  return value;
}

/** Builders for every subject the project publishes or serves; each validates its tokens. */
export const subjects = {
  /** A domain event relayed from the log: `s1c.evt.source.<sourceId>.<Type>`. */
  sourceEvent: (sourceId: string, type: string): string =>
    `s1c.evt.source.${subjectToken('sourceId', sourceId)}.${subjectToken('event type', type)}`,
  /** Filter for all events of one source: `s1c.evt.source.<sourceId>.*`. */
  sourceEvents: (sourceId: string): string => `s1c.evt.source.${subjectToken('sourceId', sourceId)}.*`,
  /** Filter for the events of every source: `s1c.evt.source.>`. */
  everySourceEvent: 's1c.evt.source.>',
  /** Filter for the token health events of every source: `s1c.evt.token.>`. */
  everyTokenEvent: 's1c.evt.token.>',
  /**
   * Where the outbox relay publishes an event of the log: `s1c.evt.<kind>.<key>.<Type>`, `key` being
   * the stream id without its kind's prefix. Not validated here: the ids were when they were made,
   * and a relay that threw on one event would stop relaying altogether.
   */
  relayedEvent: (kind: 'source' | 'collection' | 'delivery' | 'token' | 'sourcename', key: string, type: string): string => `s1c.evt.${kind}.${key}.${type}`,
  /** Every subject of one stream's kind, for stream declarations and catch-all consumers. */
  every: { event: 's1c.evt.>', job: 's1c.job.>', raw: 's1c.raw.>', data: 's1c.data.>', deadLetter: 's1c.dlq.>' },
  /** A request/reply command: `s1c.cmd.source.<op>`. */
  command: (op: SourceCommandName): string => `s1c.cmd.source.${subjectToken('command op', op)}`,
  /** A fetch job for one API, on the work queue: `s1c.job.<api>`. */
  job: (api: string): string => `s1c.job.${subjectToken('api', api)}`,
  /** Raw records fetched for one source and API: `s1c.raw.<api>.<sourceId>`. */
  raw: (api: string, sourceId: string): string =>
    `s1c.raw.${subjectToken('api', api)}.${subjectToken('sourceId', sourceId)}`,
  /** Output records for one source and API: `s1c.data.<api>.<sourceId>`. */
  data: (api: string, sourceId: string): string =>
    `s1c.data.${subjectToken('api', api)}.${subjectToken('sourceId', sourceId)}`,
  /** Dead letters of one consumer: `s1c.dlq.<stream>.<durable>`. */
  deadLetter: (stream: string, durable: string): string =>
    `s1c.dlq.${subjectToken('stream', stream)}.${subjectToken('durable', durable)}`,
} as const;
