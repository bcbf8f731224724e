import { setTimeout as sleep } from 'node:timers/promises';
import { type Db } from 'mongodb';
import { headers as natsHeaders, type JetStreamClient, type JetStreamManager } from 'nats';
import { type RecordedEvent, type TailerLogger } from './event.types';
import { toRecorded, type MongoEventStore, type OutboxEntry } from './mongo.event-store';

/** Headers set on every relayed message. */
export const EVENT_HEADERS = {
  position: 'S1c-Position',
  streamId: 'S1c-Stream-Id',
  version: 'S1c-Version',
  type: 'S1c-Event-Type',
  /** Which log the event comes from ({@link MongoEventStore.logId}). */
  logId: 'S1c-Log-Id',
} as const;

/** Options of {@link OutboxRelay}. */
export interface OutboxRelayOptions {
  /** Names this relay in logs. */
  name: string;
  /** The JetStream stream the subjects belong to (declared by the caller). */
  streamName: string;
  subjectFor(event: RecordedEvent): string;
  /** Pause between looks at the outbox when nothing woke the relay. Default 200. */
  pollIntervalMs?: number;
  /** Outbox entries handled per pass. Default 500. */
  batchSize?: number;
  logger?: TailerLogger;
}

/** The JSON body of a relayed message. */
export interface RelayedEventPayload {
  eventId: string;
  streamId: string;
  version: number;
  position: number;
  type: string;
  data: unknown;
  metadata: Record<string, unknown>;
  time: string;
}

const encoder = new TextEncoder();
/** A failure that repeats on every pass is logged at most this often. */
const FAILURE_LOG_INTERVAL_MS = 30_000;
const SILENT: TailerLogger = { warn: () => undefined, error: () => undefined };

/**
 * Publishes every appended event to JetStream, from the store's outbox (a small collection: an entry
 * per append, deleted once published), with `Nats-Msg-Id` = eventId and the {@link EVENT_HEADERS}.
 * The one reader the store has on a hot path, and it never reads the log itself.
 *
 * Woken at once by appends in its own process, it otherwise looks at the outbox every
 * `pollIntervalMs` (a query on a handful of documents). Within a stream it publishes in version
 * order and holds back an entry while an earlier one of the same stream is still uncommitted; an
 * entry left uncommitted for the store's `outboxGraceMs` (its writer died) is completed by the relay.
 * Entries are deleted only after JetStream acknowledged all their events, so a crash repeats a
 * publication at worst, which JetStream's duplicate window drops and consumers skip by version.
 * Two relays on one outbox are safe for the same reasons.
 */
export class OutboxRelay {
  private readonly pollIntervalMs: number;
  private readonly batchSize: number;
  private readonly logger: TailerLogger;
  private loop: { stopped: boolean; done: Promise<void> } | undefined;
  private wakeUp: (() => void) | undefined;
  private woken = false;
  private unsubscribe: (() => void) | undefined;
  private running: Promise<unknown> = Promise.resolve();
  private logId: string | undefined;
  private lastOrphanSweep = 0;
  private lastFailureLog = 0;

  constructor(
    private readonly store: MongoEventStore,
    _db: Db,
    private readonly js: JetStreamClient,
    _jsm: JetStreamManager,
    private readonly options: OutboxRelayOptions,
  ) {
    this.pollIntervalMs = options.pollIntervalMs ?? 200;
    this.batchSize = options.batchSize ?? 500;
    this.logger = options.logger ?? SILENT;
  }

  /** Starts the background loop. */
  async start(): Promise<void> {
    if (this.loop) return;
    this.logId = await this.store.logId();
    this.unsubscribe = this.store.onAppended(() => this.wake());
    const loop = { stopped: false, done: Promise.resolve() };
    loop.done = (async () => {
      while (!loop.stopped) {
        let more = false;
        try {
          more = await this.flushOnce();
        } catch (error) {
          this.logger.error({ name: this.options.name, err: error }, 'relaying the outbox failed; trying again');
        }
        if (!more && !loop.stopped) await this.idle();
      }
    })();
    this.loop = loop;
  }

  /** Stops the loop, waiting for the pass in progress. */
  async stop(): Promise<void> {
    const loop = this.loop;
    if (!loop) return;
    loop.stopped = true;
    this.unsubscribe?.();
    this.wake();
    await loop.done;
    this.loop = undefined;
  }

  /** Publishes every entry committed so far (and completes abandoned ones); for tests and shutdown. */
  async flush(): Promise<void> {
    while (await this.flushOnce());
  }

  /** Makes the loop look at the outbox now. */
  wake(): void {
    this.woken = true;
    this.wakeUp?.();
  }

  private async idle(): Promise<void> {
    if (this.woken) {
      this.woken = false;
      return;
    }
    const abort = new AbortController();
    this.wakeUp = () => abort.abort();
    await sleep(this.pollIntervalMs, undefined, { signal: abort.signal }).catch(() => undefined);
    this.wakeUp = undefined;
    this.woken = false;
  }

  /** One pass, serialized with any other; true when the outbox had a full batch (look again at once). */
  private flushOnce(): Promise<boolean> {
    const pass = this.running.then(() => this.pass());
    this.running = pass.catch(() => undefined);
    return pass;
  }

  private async pass(): Promise<boolean> {
    this.logId ??= await this.store.logId();
    const entries = await this.store.outboxEntries(this.batchSize);
    if (entries.length === 0) return false;
    const staleBefore = this.store.now().getTime() - this.store.outboxGraceMs;
    const byStream = new Map<string, typeof entries>();
    for (const entry of entries) {
      const list = byStream.get(entry.streamId) ?? [];
      list.push(entry);
      byStream.set(entry.streamId, list);
    }
    const attempts: Array<{ id: string; published: Promise<unknown> }> = [];
    for (const list of byStream.values()) {
      list.sort((a, b) => firstVersion(a) - firstVersion(b));
      for (const entry of list) {
        let events: RecordedEvent[];
        if (entry.committed) events = entry.events.map(toRecorded);
        else if (entry.at.getTime() < staleBefore) {
          events = await this.store.completeOutboxEntry(entry);
          this.logger.warn(
            { name: this.options.name, streamId: entry.streamId, fromVersion: firstVersion(entry), stored: events.length },
            'completed an outbox entry its writer left uncommitted',
          );
        } else break; // its writer is still at it: later versions of this stream wait for it
        // One connection keeps the publishes in order; acknowledgements come back together.
        attempts.push({ id: entry._id, published: Promise.all(events.map((event) => this.publish(event))) });
      }
    }
    const settled = await Promise.allSettled(attempts.map((a) => a.published));
    const done = attempts.filter((_, i) => settled[i]!.status === 'fulfilled').map((a) => a.id);
    const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed && Date.now() - this.lastFailureLog >= FAILURE_LOG_INTERVAL_MS) {
      // The entry stays and is published again on a later pass; the others are not held up by it.
      this.lastFailureLog = Date.now();
      this.logger.error(
        { name: this.options.name, failed: attempts.length - done.length, err: failed.reason },
        'publishing outbox entries failed; they stay in the outbox',
      );
    }
    await this.store.removeOutboxEntries(done);
    if (entries.length >= this.batchSize) return done.length > 0;
    if (Date.now() - this.lastOrphanSweep >= this.store.outboxGraceMs) {
      this.lastOrphanSweep = Date.now();
      await this.store.removeOrphanCommits(this.batchSize, new Date(staleBefore));
    }
    return false;
  }

  private async publish(event: RecordedEvent): Promise<void> {
    const h = natsHeaders();
    h.set(EVENT_HEADERS.position, String(event.position));
    h.set(EVENT_HEADERS.streamId, event.streamId);
    h.set(EVENT_HEADERS.version, String(event.version));
    h.set(EVENT_HEADERS.type, event.type);
    h.set(EVENT_HEADERS.logId, this.logId!);
    const payload: RelayedEventPayload = { ...event, time: event.time.toISOString() };
    await this.js.publish(this.options.subjectFor(event), encoder.encode(JSON.stringify(payload)), {
      msgID: event.eventId,
      headers: h,
    });
  }
}

function firstVersion(entry: OutboxEntry): number {
  return entry.events[0]?.version ?? 0;
}
