import { deadLetter } from '@s1c/messaging';
import { decideRetry, type RecordMetadata, type SourceApi } from '@s1c/domain';
import { parseRetryAfter } from '@s1c/http-kit';
import type { Logger } from '@s1c/logger';
import { MongoBulkWriteError, type Db } from 'mongodb';
import type { JetStreamClient, JsMsg, NatsConnection } from 'nats';
import { holdMessage, type HeldMessage } from './held.message';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { gzip as gzipCallback } from 'node:zlib';
import { DATA_RECORD_HEADERS, parseDataRecord } from './data-record';
import { DayCollections } from './delivered.set';
import type { DeliveryHealth } from './delivery.health';
import { sumoHeaders, type SumoHeaders } from './sumo.headers';
import { deliveryMetrics } from './delivery.metrics';

const gzip = promisify(gzipCallback);

/** The durable consumer of the HTTP sink on `S1C_DATA`. */
export const HTTP_SINK_DURABLE = 'sink-http';

export interface HttpSinkSettings {
  readonly url: string;
  readonly maxRecords: number;
  readonly maxBytes: number;
  readonly flushIntervalMs: number;
  readonly timeoutMs: number;
  readonly concurrency: number;
  readonly retryInitialMs: number;
  readonly retryMaxMs: number;
  /** How long 4xx refusals are retried before the batch is dead-lettered. */
  readonly retryWindowMs: number;
  readonly ackWaitMs: number;
}

export interface HttpSinkDeps {
  readonly js: JetStreamClient;
  /** Where held messages are acked (see HeldMessage). */
  readonly nc: NatsConnection;
  readonly db: Db;
  readonly health: DeliveryHealth;
  readonly settings: HttpSinkSettings;
  readonly logger: Logger;
  readonly clock: () => Date;
  readonly random: () => number;
}

interface Held {
  readonly m: HeldMessage;
  readonly recordId: string;
  readonly event: Uint8Array;
}

interface Batch {
  readonly key: string;
  readonly sourceId: string;
  readonly api: SourceApi;
  readonly headers: SumoHeaders;
  readonly items: Held[];
  bytes: number;
  timer: NodeJS.Timeout | undefined;
}

/** Counters for logs and tests. */
export interface HttpSinkStats {
  batchesSent: number;
  recordsSent: number;
  attemptsFailed: number;
  skippedDelivered: number;
  deadLettered: number;
}

const NEWLINE = new Uint8Array([0x0a]);
/** Distinct metadata values whose headers are kept (then forgotten all at once). */
const HEADERS_REMEMBERED = 4096;
/** Rounds of POSTs the sink holds the messages of: see {@link HttpSink.full}. */
const HELD_ROUNDS = 3;
/** How long a stop waits for POSTs in flight: well inside the service's shutdown deadline. */
const IN_FLIGHT_GRACE_MS = 3_000;
const DAY_MS = 86_400_000;

/**
 * Delivers output records to an HTTP collector (a hosted log platform's HTTP source): batches of
 * newline-delimited S1 objects, gzip, `X-Sumo-Name`/`X-Sumo-Category`/`X-Sumo-Fields` from the
 * metadata. A batch holds records of one source, one configuration version and one API with
 * identical metadata (the headers apply to the whole request), at most `maxRecords` records and
 * `maxBytes` uncompressed, and leaves within `flushIntervalMs` of its first record.
 *
 * Messages are acked only after a 2xx. 429 (honouring Retry-After), 5xx, timeouts and network
 * errors are retried with backoff for as long as it takes, the held messages kept alive with
 * `working()`. Any other 4xx raises a FirstPartyGenericError health event for the source and is
 * retried with backoff up to the retry window (docs/DESIGN.md), then the batch is dead-lettered.
 *
 * Exactly once: after a 2xx the batch's record ids go to `sink_http_delivered_<YYYYMMDD>` (the day
 * of the delivery) before the acks; a redelivered message (a crash or lost ack after the 2xx) whose
 * id is in any day's collection is acked unsent.
 */
export class HttpSink {
  /** Where the ids of records the collector accepted are kept (`_id` = record id), a collection per day. */
  static readonly deliveredCollection = 'sink_http_delivered';
  /** The ids the collector accepted, per day of delivery (expired by dropping whole days). */
  readonly delivered: DayCollections<{ _id: string }>;
  readonly stats: HttpSinkStats = { batchesSent: 0, recordsSent: 0, attemptsFailed: 0, skippedDelivered: 0, deadLettered: 0 };
  private readonly open = new Map<string, Batch>();
  private readonly queue: Batch[] = [];
  /** The messages held, with their body's size. */
  private readonly held = new Map<HeldMessage, number>();
  /** Body bytes of the held messages. */
  private heldBytes = 0;
  private readonly roomListeners: Array<() => void> = [];
  /** Record ids in open or queued batches: a redelivery of one of them is not added twice. */
  private readonly heldIds = new Set<string>();
  private readonly senders = new Set<Promise<void>>();
  private readonly heartbeat: NodeJS.Timeout;
  /** No new attempt, no more waiting between attempts. */
  private readonly stopping = new AbortController();
  /** Cuts off POSTs in flight: a grace after {@link stopping}, so a batch the collector is accepting is not sent again. */
  private readonly cutOff = new AbortController();
  private readonly headersByMetadata = new Map<string, SumoHeaders>();

  constructor(private readonly deps: HttpSinkDeps) {
    this.delivered = new DayCollections(deps.db, HttpSink.deliveredCollection);
    this.heartbeat = setInterval(() => {
      for (const m of this.held.keys()) m.working();
    }, Math.max(250, deps.settings.ackWaitMs / 3));
    this.heartbeat.unref();
  }

  /**
   * Whether the sink holds as much as it should: three rounds of POSTs (`concurrency` × `maxBytes`,
   * three times: in flight, ready, filling) of message bytes, open batches included. Its consumer
   * takes no more until {@link onRoom}'s listeners are called, so a slow or unreachable collector
   * leaves the backlog on the server, whatever the size of the records or the consumer's
   * `max_ack_pending`. (Two rounds fell behind a fast collector: 34 s for 200,000 records, against
   * 22 s with three or more.)
   */
  get full(): boolean {
    return this.heldBytes >= HELD_ROUNDS * this.deps.settings.concurrency * this.deps.settings.maxBytes;
  }

  /** Calls `listener` whenever held messages were let go (acked, dead-lettered, handed back). */
  onRoom(listener: () => void): void {
    this.roomListeners.push(listener);
  }

  /** A {@link BatchHandler}: takes messages in and returns at once; they are settled when their batch is. */
  readonly handle = async (delivered: readonly JsMsg[]): Promise<void> => {
    // Held until the batch is delivered, which with a slow collector is a long time: detached from
    // the client's read buffers, or each one keeps a whole socket chunk alive.
    // A held message parses its headers when asked: once here, not kept while it is held.
    const messages = delivered.map((d) => {
      const m = holdMessage(d, this.deps.nc);
      return { m, headers: m.headers, redelivered: m.info.deliveryCount > 1 };
    });
    // Only a redelivery can have been sent already (a first delivery needs no lookup); the batch's
    // are looked up together: after an outage there can be thousands, a scan each on FerretDB. A
    // message was sent after it entered the stream, so only the days since then are read (a day
    // earlier, for the clocks of the server and of this process): after a crash, today's and
    // yesterday's collections, not every day of the retention.
    const redelivered = messages.filter((x) => x.redelivered).map((x) => x.headers?.get(DATA_RECORD_HEADERS.recordId) ?? '');
    let oldest = Infinity;
    for (const d of delivered) if (d.info.deliveryCount > 1) oldest = Math.min(oldest, d.info.timestampNanos / 1e6);
    const since = oldest === Infinity ? undefined : new Date(oldest - DAY_MS);
    const sent = new Set((await this.delivered.findAnywhere([...new Set(redelivered.filter((id) => id !== ''))], since)).map((d) => d._id));
    for (const { m, headers: h, redelivered: again } of messages) {
      const recordId = h?.get(DATA_RECORD_HEADERS.recordId) ?? '';
      const parsed = parseDataRecord(m.data, Number(h?.get(DATA_RECORD_HEADERS.eventOffset)));
      if (!parsed || recordId === '' || parsed.envelope.id !== recordId) {
        await this.toDeadLetter([m], 'PoisonMessage', 'not an output record (headers or body shape)');
        continue;
      }
      if (this.heldIds.has(recordId)) continue;
      if (again && sent.has(recordId)) {
        this.stats.skippedDelivered += 1;
        m.ack();
        continue;
      }
      const { envelope, event } = parsed;
      const version = h?.get(DATA_RECORD_HEADERS.sourceVersion) ?? '';
      const headers = this.headersOf(envelope.metadata);
      const key = [envelope.sourceId, version, envelope.api, headers['X-Sumo-Name'], headers['X-Sumo-Category'] ?? '\u0000', headers['X-Sumo-Fields'] ?? ''].join('\n');
      // The id from the body: the header's is a slice of the whole decoded header block, which a held id would keep alive.
      this.add(key, { sourceId: envelope.sourceId, api: envelope.api, headers }, { m, recordId: envelope.id, event });
    }
  };

  /**
   * The headers of a record's metadata, remembered: a source's records share a few metadata values
   * (one per event type), and building the headers was a fifth of the sink's allocations.
   */
  private headersOf(metadata: RecordMetadata): SumoHeaders {
    const key = JSON.stringify(metadata);
    let headers = this.headersByMetadata.get(key);
    if (!headers) {
      if (this.headersByMetadata.size >= HEADERS_REMEMBERED) this.headersByMetadata.clear();
      headers = sumoHeaders(metadata);
      this.headersByMetadata.set(key, headers);
    }
    return headers;
  }

  /**
   * Stops sending: a POST in flight has `graceMs` to be answered (an accepted batch is then recorded
   * and acked, not sent again after a restart); open and queued batches are handed back (nak) for redelivery.
   */
  async stop(graceMs = IN_FLIGHT_GRACE_MS): Promise<void> {
    this.stopping.abort();
    clearInterval(this.heartbeat);
    for (const batch of this.open.values()) if (batch.timer) clearTimeout(batch.timer);
    const cutOff = setTimeout(() => this.cutOff.abort(), graceMs);
    await Promise.allSettled([...this.senders]);
    clearTimeout(cutOff);
    for (const m of this.held.keys()) m.nak();
    this.held.clear();
    this.heldBytes = 0;
    this.heldIds.clear();
    this.open.clear();
    this.queue.length = 0;
  }

  private add(key: string, about: { sourceId: string; api: SourceApi; headers: SumoHeaders }, item: Held): void {
    const size = item.event.length + 1;
    let batch = this.open.get(key);
    if (batch && batch.items.length > 0 && batch.bytes + size > this.deps.settings.maxBytes) {
      this.close(batch);
      batch = undefined;
    }
    if (!batch) {
      batch = { key, ...about, items: [], bytes: 0, timer: undefined };
      const created = batch;
      batch.timer = setTimeout(() => this.close(created), this.deps.settings.flushIntervalMs);
      this.open.set(key, batch);
    }
    batch.items.push(item);
    batch.bytes += size;
    const bytes = item.m.data.byteLength;
    this.held.set(item.m, bytes);
    this.heldBytes += bytes;
    this.heldIds.add(item.recordId);
    if (batch.items.length >= this.deps.settings.maxRecords || batch.bytes >= this.deps.settings.maxBytes) this.close(batch);
  }

  private close(batch: Batch): void {
    if (batch.timer) clearTimeout(batch.timer);
    batch.timer = undefined;
    if (this.open.get(batch.key) === batch) this.open.delete(batch.key);
    if (this.stopping.signal.aborted) return;
    this.queue.push(batch);
    this.drain();
  }

  private drain(): void {
    while (this.queue.length > 0 && this.senders.size < this.deps.settings.concurrency && !this.stopping.signal.aborted) {
      const batch = this.queue.shift()!;
      const task = this.deliver(batch)
        .catch((error: unknown) => this.deps.logger.error({ err: error, sourceId: batch.sourceId }, 'HTTP batch delivery failed unexpectedly'))
        .finally(() => {
          this.senders.delete(task);
          this.drain();
        });
      this.senders.add(task);
    }
  }

  private async deliver(batch: Batch): Promise<void> {
    const { settings, logger, health, clock, random } = this.deps;
    const body = await gzip(Buffer.concat(batch.items.flatMap((item, i) => (i === 0 ? [item.event] : [NEWLINE, item.event]))));
    const log = { sourceId: batch.sourceId, api: batch.api, records: batch.items.length };
    for (let attempt = 1; ; attempt++) {
      if (this.stopping.signal.aborted) return;
      let delayMs: number;
      const started = performance.now();
      const outcome = await this.post(batch.headers, body);
      deliveryMetrics.sinkRequest(outcome.kind === 'ok' ? 'ok' : outcome.kind, performance.now() - started);
      if (outcome.kind === 'ok') {
        await this.settleDelivered(batch);
        await health.accepted(batch.sourceId, batch.api).catch((error: unknown) => logger.warn({ ...log, err: error }, 'could not resolve the delivery health event'));
        return;
      }
      this.stats.attemptsFailed += 1;
      const backoff = Math.min(settings.retryMaxMs, settings.retryInitialMs * 2 ** Math.min(20, attempt - 1)) * (0.5 + random() / 2);
      if (outcome.kind === 'refused') {
        const nowMs = clock().getTime();
        const streakStartedMs = (await health.streakStart(batch.sourceId)) ?? nowMs;
        const decision = decideRetry(
          { errorType: 'FirstPartyGeneric', attempt, streakStartedMs, nowMs, random: random() },
          { windowMs: settings.retryWindowMs, initialDelayMs: settings.retryInitialMs, maxDelayMs: settings.retryMaxMs },
        );
        const until = new Date(streakStartedMs + settings.retryWindowMs).toISOString();
        const retry = decision.retry ? { retrying: true, nextAttemptAt: new Date(decision.atMs).toISOString(), until } : { retrying: false, until };
        await health.refused(batch.sourceId, batch.api, outcome.reason, retry).catch((error: unknown) => logger.warn({ ...log, err: error }, 'could not record the delivery health event'));
        if (!decision.retry) {
          for (const item of batch.items) this.heldIds.delete(item.recordId);
          await this.toDeadLetter(batch.items.map((i) => i.m), 'PoisonMessage', `HTTP collector refused the batch until the retry window ended: ${outcome.reason}`);
          return;
        }
        delayMs = Math.max(0, decision.atMs - nowMs);
      } else {
        // A Retry-After is honoured up to the retry window: a collector asking for weeks would otherwise
        // overflow Node's timer (over 2^31 ms it fires after 1 ms) or stall delivery for good.
        delayMs = outcome.retryAfterMs !== undefined ? Math.min(Math.max(outcome.retryAfterMs, 0), settings.retryWindowMs) : backoff;
      }
      logger.warn({ ...log, attempt, delayMs, reason: outcome.reason }, 'HTTP batch not accepted; retrying');
      try {
        await sleep(delayMs, undefined, { signal: this.stopping.signal });
      } catch {
        return;
      }
    }
  }

  private async post(
    headers: SumoHeaders,
    body: Buffer,
  ): Promise<{ kind: 'ok' } | { kind: 'retry'; reason: string; retryAfterMs?: number } | { kind: 'refused'; reason: string }> {
    const { settings } = this.deps;
    try {
      const response = await fetch(settings.url, {
        method: 'POST',
        body,
        headers: { 'Content-Type': 'application/x-ndjson', 'Content-Encoding': 'gzip', ...headers },
        signal: AbortSignal.any([AbortSignal.timeout(settings.timeoutMs), this.cutOff.signal]),
      });
      // The body is not needed, but must be consumed for the connection to be reused.
      await response.arrayBuffer().catch(() => undefined);
      if (response.status >= 200 && response.status < 300) return { kind: 'ok' };
      const reason = `HTTP collector answered ${response.status}`;
      if (response.status === 429) {
        const retryAfterMs = parseRetryAfter(response.headers.get('retry-after'), this.deps.clock().getTime());
        return retryAfterMs === undefined ? { kind: 'retry', reason } : { kind: 'retry', reason, retryAfterMs };
      }
      if (response.status >= 500 || response.status === 408) return { kind: 'retry', reason };
      return { kind: 'refused', reason };
    } catch (error) {
      return { kind: 'retry', reason: `HTTP collector unreachable: ${describe(error)}` };
    }
  }

  /** After a 2xx: remember the ids, then ack. A failed bookkeeping write still acks (the ack is what matters most). */
  private async settleDelivered(batch: Batch): Promise<void> {
    try {
      await this.delivered.of(this.deps.clock()).insertMany(
        batch.items.map((i) => ({ _id: i.recordId })),
        { ordered: false },
      );
    } catch (error) {
      const onlyDuplicates =
        error instanceof MongoBulkWriteError && (Array.isArray(error.writeErrors) ? error.writeErrors : [error.writeErrors]).every((w) => w.code === 11000);
      if (!onlyDuplicates) this.deps.logger.warn({ sourceId: batch.sourceId, err: error }, 'could not record the delivered batch; acking anyway');
    }
    for (const { m, recordId } of batch.items) {
      m.ack();
      this.letGo(m);
      this.heldIds.delete(recordId);
    }
    this.roomMade();
    this.stats.batchesSent += 1;
    this.stats.recordsSent += batch.items.length;
    deliveryMetrics.sinkDelivered(batch.api, batch.items.length);
  }

  private async toDeadLetter(messages: readonly HeldMessage[], reason: 'PoisonMessage', message: string): Promise<void> {
    for (const m of messages) {
      this.letGo(m);
      try {
        await deadLetter(this.deps.js, m, HTTP_SINK_DURABLE, reason, message);
        this.stats.deadLettered += 1;
      } catch (error) {
        this.deps.logger.error({ subject: m.subject, seq: m.seq, err: error }, 'dead-letter publish failed; the message will be redelivered');
        m.nak(5_000);
      }
    }
    this.deps.logger.error({ records: messages.length, reason: message }, 'output records dead-lettered by the HTTP sink');
    this.roomMade();
  }

  private letGo(m: HeldMessage): void {
    this.heldBytes -= this.held.get(m) ?? 0;
    this.held.delete(m);
  }

  private roomMade(): void {
    if (!this.full) for (const listener of this.roomListeners) listener();
  }
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    const cause = (error as Error & { cause?: unknown }).cause;
    return cause instanceof Error ? `${error.message} (${cause.message})` : error.message;
  }
  return String(error);
}
