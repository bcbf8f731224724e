/**
 * The version a writer expects a stream to be at: a number is the stream's current version
 * (0 = empty), `'no_stream'` requires an empty stream, `'any'` appends after whatever is there.
 */
export type ExpectedVersion = number | 'no_stream' | 'any';

/**
 * Who caused an event: a structured actor (`{kind, ...}`, see `Actor` in the domain). Logs written
 * before actors were structured hold a bare string; readers must accept both.
 */
export type StoredActor = string | { readonly kind: string };

/** Metadata stored with every event. */
export interface EventMetadata {
  correlationId?: string;
  causationId?: string;
  actor?: StoredActor;
  [key: string]: unknown;
}

/** An event to append; `eventId` defaults to a fresh UUID v4. */
export interface NewEvent<T extends string = string, D = unknown> {
  type: T;
  data: D;
  metadata?: EventMetadata;
  eventId?: string;
}

/** An event as stored in the log. */
export interface RecordedEvent<T extends string = string, D = unknown> {
  eventId: string;
  streamId: string;
  /** 1-based, contiguous within the stream. */
  version: number;
  /**
   * Log position: the append time in microseconds, ascending within a stream, roughly in time order
   * across streams; neither unique nor contiguous (see MongoEventStore).
   */
  position: number;
  type: T;
  data: D;
  metadata: EventMetadata;
  time: Date;
}

/** What appendToStream stored. */
export interface AppendResult {
  /** The stream's version after the append; pass it as the next expectedVersion. */
  nextExpectedVersion: number;
  /** Position of the last appended event, 0 when nothing was appended. */
  lastPosition: number;
  events: RecordedEvent[];
}

/** A structured logger (pino-compatible). */
export interface TailerLogger {
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}
