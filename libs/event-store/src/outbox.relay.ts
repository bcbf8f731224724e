import { setTimeout as sleep } from 'node:timers/promises';
import { type Db } from 'mongodb';
import { headers as natsHeaders, type JetStreamClient, type JetStreamManager } from 'nats';
import { type RecordedEvent, type TailerLogger } from './event.types';
import { type MongoEventStore } from './mongo.event-store';

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
  /** Whether to take over the outboxes other writers abandoned (one process of a deployment does). Default true. */
  recover?: boolean;
  /** Pause between looks for abandoned outboxes. Default 1000. */
  pollIntervalMs?: number;
  /** How long {@link OutboxRelay.stop} waits for this process's appends to be published. Default 3000. */
  stopTimeoutMs?: number;
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
 * Publishes every event appended to the log to JetStream, with `Nats-Msg-Id` = eventId and the
 * {@link EVENT_HEADERS}, and never reads the log to do so:
 * - its own store's appends as soon as they are stored, in append order ({@link MongoEventStore.publishWith});
 * - with `recover`, the outbox buckets other writers left behind (a writer killed, or one that could
 *   not publish before its bucket's grace ran out): looked for every `pollIntervalMs`, each taken
 *   over with {@link MongoEventStore.recoverOutbox}.
 * A publication repeated (a recovery of a bucket its dead writer had partly published, two
 * recoveries at once) is dropped by JetStream's duplicate window, and consumers skip it by version.
 * Across writers, a stream's versions can reach JetStream out of order (a writer that died before
 * publishing); readers fill such a gap from the log.
 */
export class OutboxRelay {
  private readonly pollIntervalMs: number;
  private readonly logger: TailerLogger;
  private loop: { stopped: boolean; done: Promise<void>; wake: AbortController } | undefined;
  private running: Promise<unknown> = Promise.resolve();
  private logId: string | undefined;
  private lastFailureLog = 0;

  constructor(
    private readonly store: MongoEventStore,
    _db: Db,
    private readonly js: JetStreamClient,
    _jsm: JetStreamManager,
    private readonly options: OutboxRelayOptions,
  ) {
    this.pollIntervalMs = options.pollIntervalMs ?? 1000;
    this.logger = options.logger ?? SILENT;
  }

  /** Publishes the store's appends from now on and, with `recover`, starts looking for abandoned outboxes. */
  async start(): Promise<void> {
    if (this.loop) return;
    this.logId = await this.store.logId();
    this.store.publishWith((events) => this.publishAll(events));
    const loop = { stopped: false, done: Promise.resolve(), wake: new AbortController() };
    if (this.options.recover ?? true) {
      loop.done = (async () => {
        while (!loop.stopped) {
          try {
            await this.recoverOnce();
          } catch (error) {
            this.logger.error({ name: this.options.name, err: error }, 'recovering abandoned outboxes failed; trying again');
          }
          await sleep(this.pollIntervalMs, undefined, { signal: loop.wake.signal }).catch(() => undefined);
        }
      })();
    }
    this.loop = loop;
  }

  /**
   * Stops: waits for the recovery in progress and (up to `stopTimeoutMs`) for this process's appends
   * to be published; what is still unpublished stays in its bucket for a recovery.
   */
  async stop(): Promise<void> {
    const loop = this.loop;
    if (!loop) return;
    loop.stopped = true;
    loop.wake.abort();
    await loop.done;
    if (!(await this.store.published(this.options.stopTimeoutMs ?? 3000))) {
      this.logger.warn({ name: this.options.name }, 'appends not yet published at stop; their outbox is left for a recovery');
    }
    this.store.publishWith(undefined);
    this.loop = undefined;
  }

  /** Waits until this process's appends are published and, with `recover`, recovers what is abandoned now; for tests and tools. */
  async flush(): Promise<void> {
    await this.store.published();
    if (this.options.recover ?? true) await this.recoverOnce();
  }

  /** One look for abandoned outboxes, serialized with any other. */
  private recoverOnce(): Promise<void> {
    const pass = this.running.then(async () => {
      for (const name of await this.store.abandonedOutboxes()) {
        const recovery = await this.store.recoverOutbox(name, (events) => this.publishAll(events));
        for (const { streamId, fromVersion, stored } of recovery.completed) {
          this.logger.warn({ name: this.options.name, streamId, fromVersion, stored }, 'completed an append its writer left unstored');
        }
        this.logger.warn({ name: this.options.name, outbox: name, entries: recovery.entries, published: recovery.published }, 'recovered an abandoned outbox');
      }
    });
    this.running = pass.catch(() => undefined);
    return pass;
  }

  /**
   * Publishes events in order on one connection; acknowledgements come back together. An event no
   * subject is known for is reported and skipped (it stays in the log): holding it would hold every
   * later append of this process.
   */
  private async publishAll(events: readonly RecordedEvent[]): Promise<void> {
    this.logId ??= await this.store.logId();
    const publishable: Array<{ event: RecordedEvent; subject: string }> = [];
    for (const event of events) {
      try {
        publishable.push({ event, subject: this.options.subjectFor(event) });
      } catch (error) {
        this.logger.error({ name: this.options.name, streamId: event.streamId, version: event.version, err: error }, 'an appended event has no subject to be published on; skipped');
      }
    }
    try {
      await Promise.all(publishable.map(({ event, subject }) => this.publish(event, subject)));
    } catch (error) {
      if (Date.now() - this.lastFailureLog >= FAILURE_LOG_INTERVAL_MS) {
        this.lastFailureLog = Date.now();
        this.logger.error({ name: this.options.name, events: events.length, err: error }, 'publishing appended events failed; trying again');
      }
      throw error;
    }
  }

  private async publish(event: RecordedEvent, subject: string): Promise<void> {
    const h = natsHeaders();
    h.set(EVENT_HEADERS.position, String(event.position));
    h.set(EVENT_HEADERS.streamId, event.streamId);
    h.set(EVENT_HEADERS.version, String(event.version));
    h.set(EVENT_HEADERS.type, event.type);
    h.set(EVENT_HEADERS.logId, this.logId!);
    const payload: RelayedEventPayload = { ...event, time: event.time.toISOString() };
    await this.js.publish(subject, encoder.encode(JSON.stringify(payload)), {
      msgID: event.eventId,
      headers: h,
    });
  }
}
