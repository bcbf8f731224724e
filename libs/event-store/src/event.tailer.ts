import { setTimeout as sleep } from 'node:timers/promises';
import { askJetStream, BoundedPull, isPermissionViolation, NatsPermissionError, refusedSubject } from '@s1c/messaging';
import { type Collection, type Db } from 'mongodb';
import {
  AckPolicy,
  DeliverPolicy,
  nanos,
  nuid,
  type Consumer,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
  type NatsConnection,
} from 'nats';
import { type RecordedEvent, type TailerLogger } from './event.types';
import { type MongoEventStore } from './mongo.event-store';
import { EVENT_HEADERS, type RelayedEventPayload } from './outbox.relay';

/** Where an {@link EventTailer} keeps how far it has read: `{_id: name, stream, sequence}`. */
export interface CheckpointDocument {
  _id: string;
  /** The JetStream stream the sequence belongs to. */
  stream: string;
  /** Every message of the stream up to this sequence has been handled (or skipped: another log's). */
  sequence: number;
  at: Date;
}

/** Settings of an {@link EventTailer}; {@link EventTailerOptions} adds where it keeps its checkpoint and what it reads. */
export interface TailerOptions {
  /** The JetStream stream the OutboxRelay publishes to. Default `S1C_EVENTS`. */
  streamName?: string;
  /**
   * Messages read between two saves of the checkpoint. Default 100. A reader that has caught up
   * saves it too, at most every `checkpointIntervalMs`.
   */
  batchSize?: number;
  /** Shortest time between two saves of the checkpoint made because the reader caught up. Default 1000. */
  checkpointIntervalMs?: number;
  /**
   * How long catchUp waits for one event, or, for the stream's head, without any progress (no event
   * handled, no message read), before it fails. Default 30000.
   */
  catchUpTimeoutMs?: number;
  /**
   * How long versions missing between two events of a stream (a gap) are looked for in the store
   * before the reader goes on without them, loudly. Default 2000.
   */
  gapTimeoutMs?: number;
  /** Pause before the first retry of an event whose handler failed, doubled up to `maxRetryDelayMs`. Default 100. */
  retryDelayMs?: number;
  /** Longest pause between two attempts at a failing event. Default 5000. */
  maxRetryDelayMs?: number;
  logger?: TailerLogger;
}

/** What an {@link EventTailer} drives. */
export interface TailerHooks {
  /** Runs at every start, before the first event (creates collections, indexes). */
  init?(): Promise<void>;
  /**
   * Handles one event. Each stream's events come in version order, each once per run of the
   * tailer; across a restart an event after the saved checkpoint may come again, so it must be
   * idempotent. A failure is retried (the same event, never the next one) until it succeeds.
   */
  handle(event: RecordedEvent): Promise<void> | void;
  /** Runs before every save of the checkpoint; when it fails the checkpoint is not saved. */
  beforeCheckpoint?(): Promise<void>;
}

/** Options of an {@link EventTailer}. */
export interface EventTailerOptions extends TailerOptions {
  /**
   * The collection that keeps the checkpoint, as `{_id: name}` (prefixed like the store's
   * collections). Without it every start is a cold start (the scheduler, which holds everything
   * in memory anyway).
   */
  checkpoints?: { db: Db; collection: string };
  /**
   * Only the relayed messages whose subject matches this (one NATS subject filter, e.g.
   * `s1c.evt.source.>`): the reader sees only those streams. Default: every message.
   */
  filterSubject?: string;
  /**
   * Where a cold start reads the past: `log` (default) replays the whole log from MongoDB, then
   * follows the stream; `stream` reads the JetStream stream from its first message instead, and a
   * stream whose first versions are not there any more (expired) has them read from the log, once,
   * as a gap. `stream` suits a reader of a few streams (a subject filter) that keeps no checkpoint.
   */
  coldStart?: 'log' | 'stream';
}

/** How far a reader has read: the stream sequence and the last version handled of every event stream. */
export interface SnapshotPoint {
  readonly sequence: number;
  readonly versions: ReadonlyMap<string, number>;
}

/** A point to catch up to: a stream's version, handled. */
export interface CatchUpTarget {
  streamId: string;
  version: number;
}

/** How long a pull of the stream stays open waiting for events. */
const PULL_EXPIRES_MS = 5_000;

const SILENT: TailerLogger = { warn: () => undefined, error: () => undefined };
const decoder = new TextDecoder();

/** Thrown inside the reader when stop() interrupts it; never reaches a caller. */
class Stopped extends Error {}

/** One run of the reader, from start to stop. */
interface Running {
  stopping: boolean;
  abort: AbortController;
  task: Promise<void>;
  consumer?: Consumer;
  messages?: BoundedPull;
}

/** A pino-like logger; `info` is used when there is one. */
type ReaderLogger = TailerLogger & { info?(obj: object, msg: string): void };

interface Waiter {
  reached(): boolean;
  resolve(): void;
  reject(error: Error): void;
}

/**
 * Hands every event of this store's log to `handle`, as relayed to JetStream by the OutboxRelay:
 * the reader of the log for everybody but the relay. It never polls MongoDB; it reads the log only
 * at a cold start (the whole log, in one query) and to fill a gap (a stream's missing versions).
 *
 * It follows the stream with an ORDERED consumer (ephemeral, no acks, in memory on the server,
 * recreated by the client from the last sequence it delivered after a reconnect or a missed
 * message) rather than a durable one because: every replica of a service must see every event
 * (a durable consumer shared by replicas splits the messages between them); the checkpoint that
 * matters lives in MongoDB next to the read model, so a second cursor on the server would only
 * need keeping in step, resetting on a rebuild and deleting; and nothing is left on the server
 * when a process dies (the consumer goes after 5 minutes without a client).
 *
 * - Checkpoint: the stream sequence of the last message read, saved every `batchSize` messages,
 *   when the reader has caught up (at most every `checkpointIntervalMs`), and at stop.
 * - Messages of another log (`S1c-Log-Id` differs from {@link MongoEventStore.logId}) are skipped.
 * - Idempotent per (streamId, version): the last version handled of each stream is kept in
 *   memory; an event at or below it is skipped (a republication after the duplicate window).
 *   An event more than one version ahead is preceded by the missing versions, read from the store.
 * - Cold start (no checkpoint, or one the stream no longer holds): the stream's last sequence is
 *   noted, the whole log is replayed from MongoDB ({@link MongoEventStore.readLog}), and the stream
 *   is followed from that sequence + 1; what the replay already had is skipped by version.
 * - A handler failure is logged and the same event retried with backoff, for ever: nothing is
 *   skipped, nothing after it is handled meanwhile.
 * - At most one pull of events (`batchSize`, at least 10) is held in memory ({@link BoundedPull}): a
 *   reader far behind the stream (a restart after a while, a handler failing) leaves the backlog on
 *   the server.
 */
export class EventTailer {
  private readonly streamName: string;
  private readonly batchSize: number;
  private readonly checkpointIntervalMs: number;
  private readonly catchUpTimeoutMs: number;
  private readonly gapTimeoutMs: number;
  private readonly retryDelayMs: number;
  private readonly maxRetryDelayMs: number;
  private readonly logger: ReaderLogger;
  private readonly checkpoints: Collection<CheckpointDocument> | undefined;
  private readonly filterSubject: string | undefined;
  private readonly coldStart: 'log' | 'stream';
  private startAt: SnapshotPoint | undefined;
  private readonly js: JetStreamClient;
  private jsm: JetStreamManager | undefined;
  private logId: string | undefined;

  /** The last version handled per stream. */
  private readonly versions = new Map<string, number>();
  /** True after a cold start: a stream missing from `versions` has had no event yet. */
  private complete = false;
  /** The stream sequence read up to; -1 until known (during a cold replay). */
  private sequence = -1;
  private unsaved = 0;
  private savedAtMs = 0;
  /** Saves run one after the other, so that an older sequence never overwrites a newer one. */
  private saving: Promise<void> = Promise.resolve();
  private saveTimer: NodeJS.Timeout | undefined;
  /** Counts events handled and messages read: catchUp waits as long as it moves. */
  private progress = 0;
  private failure: { event: RecordedEvent; error: unknown } | undefined;
  private readonly waiters = new Set<Waiter>();
  /** True while a handler runs. */
  private handling = false;

  private starting: Promise<void> | undefined;
  private running: Running | undefined;

  constructor(
    private readonly store: MongoEventStore,
    private readonly nc: NatsConnection,
    private readonly name: string,
    private readonly hooks: TailerHooks,
    options: EventTailerOptions = {},
  ) {
    this.streamName = options.streamName ?? 'S1C_EVENTS';
    this.batchSize = options.batchSize ?? 100;
    this.checkpointIntervalMs = options.checkpointIntervalMs ?? 1_000;
    this.catchUpTimeoutMs = options.catchUpTimeoutMs ?? 30_000;
    this.gapTimeoutMs = options.gapTimeoutMs ?? 2_000;
    this.retryDelayMs = options.retryDelayMs ?? 100;
    this.maxRetryDelayMs = options.maxRetryDelayMs ?? 5_000;
    this.logger = options.logger ?? SILENT;
    this.checkpoints = options.checkpoints
      ? options.checkpoints.db.collection<CheckpointDocument>(`${store.collectionPrefix}${options.checkpoints.collection}`)
      : undefined;
    this.filterSubject = options.filterSubject;
    this.coldStart = options.coldStart ?? 'log';
    this.js = nc.jetstream();
  }

  /** Whether the reader has been started and not stopped. */
  get isRunning(): boolean {
    return this.running !== undefined || this.starting !== undefined;
  }

  /** The stream sequence read up to (0 before the first start). */
  get position(): number {
    return Math.max(this.sequence, 0);
  }

  /** The last version of `streamId` handled in this run, 0 if none. */
  handledVersion(streamId: string): number {
    return this.versions.get(streamId) ?? 0;
  }

  /**
   * Makes the next start follow the stream after `point` (where the owner's restored state was
   * taken: {@link snapshotPoint}, kept by a SnapshotStore), with its stream versions, instead of
   * replaying the log; when the stream no longer holds the message after it, that start is as
   * without it. Only while stopped.
   */
  startFrom(point: SnapshotPoint): void {
    if (this.running || this.starting) throw new Error(`${this.name}: stop the reader before moving its start`);
    this.startAt = point;
  }

  /**
   * Where the reader is, for a snapshot of what it has handled: undefined until it knows every
   * stream's version (a cold replay done, or started from a snapshot), and after a start from a
   * checkpoint. Take it in the same synchronous step as the state it goes with: the state may then
   * hold events after it (handled, their message not yet counted), which the next start skips.
   */
  snapshotPoint(): SnapshotPoint | undefined {
    // While a handler runs, its event may be partly applied: an owner whose handler awaits must not
    // take its state then (a restored half-applied event would not be applied again).
    if (!this.complete || this.sequence < 0 || this.handling) return undefined;
    return { sequence: this.sequence, versions: new Map(this.versions) };
  }

  /** The saved checkpoint (a stream sequence), 0 when there is none; what has been read is saved first. */
  async checkpoint(): Promise<number> {
    await this.saveCheckpoint();
    return (await this.loadCheckpoint())?.sequence ?? 0;
  }

  /**
   * Runs `init`, decides where to start (the saved checkpoint, or a cold start), then reads in the
   * background: the cold replay if any, then the stream. Resolves once reading has begun; fails
   * when the stream cannot be looked at (missing, permissions). Does nothing when already running.
   */
  start(): Promise<void> {
    if (this.running) return Promise.resolve();
    this.starting ??= this.begin().finally(() => (this.starting = undefined));
    return this.starting;
  }

  /** Stops reading (waiting for the event in progress), saves the checkpoint, and releases the consumer. */
  async stop(): Promise<void> {
    await this.starting?.catch(() => undefined);
    const running = this.running;
    if (!running) return;
    running.stopping = true;
    running.abort.abort();
    running.messages?.stop();
    await running.task;
    clearTimeout(this.saveTimer);
    this.saveTimer = undefined;
    await this.saveCheckpoint().catch((error: unknown) => this.logger.warn({ name: this.name, err: error }, 'could not save the checkpoint at stop'));
    await running.consumer?.delete().catch(() => undefined);
    this.running = undefined;
    for (const waiter of this.waiters) waiter.reject(new Error(`${this.name}: stopped before catching up`));
    this.waiters.clear();
  }

  /**
   * Waits until `until` (a stream version) has been handled, or, without it, until the stream's
   * last sequence (with a filter: the last one it takes) at the time of the call has been read; starts the reader if it is not running.
   * Meant for events appended after the start (a version handled before a restart is not known).
   * Returns the sequence read up to. Rejects when `until` has not been handled within
   * `catchUpTimeoutMs`, or, without it, after `catchUpTimeoutMs` without progress; and with the
   * handler's error while the reader is retrying a failing event (at once, or as soon as an attempt
   * fails while it waits): the reader itself goes on retrying that event.
   */
  async catchUp(until?: CatchUpTarget): Promise<number> {
    await this.start();
    let reached: () => boolean;
    let target: string;
    if (until) {
      reached = () => (this.versions.get(until.streamId) ?? 0) >= until.version;
      target = `${until.streamId}@${until.version}`;
    } else {
      const lastSeq = await this.lastSequence();
      reached = () => this.sequence >= lastSeq;
      target = `${this.streamName} sequence ${lastSeq}`;
    }
    if (reached()) return this.position;
    if (this.failure) throw this.failureError(this.failure.event, this.failure.error);
    await new Promise<void>((resolve, reject) => {
      // Waiting for the stream's head is bounded by the lack of progress, so that a long cold replay
      // is not cut short; waiting for one event is bounded by time, however busy the stream is.
      let seen = this.progress;
      const expire = () => {
        if (!until && this.progress !== seen) {
          seen = this.progress;
          timer = setTimeout(expire, this.catchUpTimeoutMs);
          return;
        }
        this.waiters.delete(waiter);
        const why = until ? `not handled within ${this.catchUpTimeoutMs} ms` : `no progress for ${this.catchUpTimeoutMs} ms`;
        reject(new Error(`${this.name}: not caught up to ${target}: ${why} (read up to sequence ${this.position})`));
      };
      let timer = setTimeout(expire, this.catchUpTimeoutMs);
      const waiter: Waiter = {
        reached,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      this.waiters.add(waiter);
    });
    return this.position;
  }

  /** The stream's last sequence, or with a filter the last sequence of a message it takes (0: none). */
  private async lastSequence(): Promise<number> {
    const jsm = await this.manager();
    if (!this.filterSubject) return (await jsm.streams.info(this.streamName)).state.last_seq;
    try {
      return (await jsm.streams.getMessage(this.streamName, { last_by_subj: this.filterSubject })).seq;
    } catch (error) {
      if ((error as { code?: string }).code === '404') return 0;
      if (isPermissionViolation(error)) {
        throw new NatsPermissionError('publish', refusedSubject(error) ?? this.streamName, `reading the last message of ${this.streamName} on ${this.filterSubject}`);
      }
      throw error;
    }
  }

  /** Forgets everything read (the checkpoint too): the next start is a cold start. Only while stopped. */
  async forget(): Promise<void> {
    if (this.running || this.starting) throw new Error(`${this.name}: stop the reader before resetting it`);
    this.versions.clear();
    this.complete = false;
    this.sequence = -1;
    this.unsaved = 0;
    this.failure = undefined;
    await this.checkpoints?.deleteOne({ _id: this.name });
  }

  // ---- start ----

  private async begin(): Promise<void> {
    await this.hooks.init?.();
    this.logId = await this.store.logId();
    const jsm = await this.manager();
    const info = await askJetStream(this.logger, this.streamName, () => jsm.streams.info(this.streamName));
    const { first_seq: firstSeq, last_seq: lastSeq } = info.state;
    await this.probeConsumer();
    const saved = await this.loadCheckpoint();
    let replayUpTo: number | undefined;
    const startAt = this.startAt;
    this.startAt = undefined;
    if (this.sequence >= 0 && this.sequence + 1 >= firstSeq && this.sequence <= lastSeq) {
      // Started again in the same process: go on from memory.
    } else if (startAt && startAt.sequence + 1 >= firstSeq && startAt.sequence <= lastSeq) {
      this.versions.clear();
      for (const [streamId, version] of startAt.versions) this.versions.set(streamId, version);
      this.complete = true;
      this.sequence = startAt.sequence;
      this.logger.info?.({ name: this.name, sequence: startAt.sequence, streams: startAt.versions.size }, 'starting from a snapshot; following the stream after it');
    } else if (saved && saved.sequence + 1 >= firstSeq && saved.sequence <= lastSeq) {
      // What was handled before the checkpoint is not known here: a stream's first event seen is trusted.
      if (this.sequence >= 0) this.versions.clear();
      this.complete = false;
      this.sequence = saved.sequence;
    } else if (this.coldStart === 'stream') {
      // Every stream seen from its first relayed message: a version before it is a gap, read from the log.
      this.versions.clear();
      this.complete = true;
      this.sequence = Math.max(firstSeq - 1, 0);
    } else {
      if (startAt) {
        this.logger.warn(
          { name: this.name, snapshot: startAt.sequence, firstSeq, lastSeq },
          'the snapshot is not in the stream any more (messages expired, or the stream was recreated): replaying the log',
        );
      }
      if (saved) {
        this.logger.warn(
          { name: this.name, checkpoint: saved.sequence, firstSeq, lastSeq },
          'the checkpoint is not in the stream any more (messages expired, or the stream was recreated): replaying the log',
        );
      }
      replayUpTo = lastSeq;
      this.versions.clear();
      this.sequence = -1;
    }
    const running = { stopping: false, abort: new AbortController(), task: Promise.resolve() };
    this.running = running;
    running.task = this.read(running, replayUpTo);
  }

  /**
   * Creates and deletes a consumer like the reader's (same filter, named by the client): a user who
   * may not follow the stream is refused here, so start() fails and names the permission, rather
   * than the reader retrying in the background for ever.
   */
  private async probeConsumer(): Promise<void> {
    const jsm = await this.manager();
    const name = `probe_${nuid.next()}`;
    try {
      await askJetStream(this.logger, `a probe consumer of ${this.streamName}`, () => jsm.consumers.add(this.streamName, {
        name,
        ack_policy: AckPolicy.None,
        deliver_policy: DeliverPolicy.New,
        mem_storage: true,
        inactive_threshold: nanos(10_000),
        ...(this.filterSubject ? { filter_subject: this.filterSubject } : {}),
      }));
    } catch (error) {
      if (!isPermissionViolation(error)) throw error;
      throw new NatsPermissionError('publish', refusedSubject(error) ?? this.streamName, `following ${this.streamName}${this.filterSubject ? ` on ${this.filterSubject}` : ''}`);
    }
    await jsm.consumers.delete(this.streamName, name).catch(() => undefined);
  }

  private async read(running: Running, replayUpTo: number | undefined): Promise<void> {
    try {
      if (replayUpTo !== undefined) await this.replay(running, replayUpTo);
      await this.follow(running);
    } catch (error) {
      if (!(error instanceof Stopped)) this.logger.error({ name: this.name, err: error }, 'the event reader stopped unexpectedly');
    }
  }

  /** The cold start: the whole log from MongoDB, then the sequence noted before it. */
  private async replay(running: Running, lastSeq: number): Promise<void> {
    // The replay knows the whole log: a stream not seen yet has no event before the one at hand.
    this.complete = true;
    let events = 0;
    for (let attempt = 1; ; attempt++) {
      try {
        for await (const batch of this.store.readLog({ batchSize: 1000 })) {
          for (const event of batch) {
            if (running.stopping) throw new Stopped();
            await this.deliver(event, running);
            events++;
          }
          this.settleWaiters();
        }
        break;
      } catch (error) {
        if (error instanceof Stopped || running.stopping) throw new Stopped();
        this.logger.error({ name: this.name, attempt, err: error }, 'replaying the log failed; trying again (events already handled are skipped)');
        await this.pause(running, this.retryDelay(attempt));
      }
    }
    this.sequence = lastSeq;
    await this.saveCheckpoint(true);
    this.settleWaiters();
    this.logger.info?.({ name: this.name, events, streams: this.versions.size, sequence: lastSeq }, 'cold start: replayed the log; following the stream after the sequence noted before');
  }

  /** Follows the stream from the sequence after the one read, for ever; a broken subscription starts again from there. */
  private async follow(running: Running): Promise<void> {
    for (let failures = 0; !running.stopping; ) {
      if (this.nc.isClosed()) {
        this.logger.error({ name: this.name }, 'the NATS connection is closed: no more events are read');
        return;
      }
      try {
        // Always from the last message handled (not from the client's cursor, which counts the
        // messages received): nothing buffered and dropped on the way is lost.
        running.consumer = await this.js.consumers.get(this.streamName, {
          opt_start_seq: this.sequence + 1,
          ...(this.filterSubject ? { filterSubjects: this.filterSubject } : {}),
        });
        // At most a pull's worth of events held: a reader far behind the stream (after a restart,
        // or held by a failing handler) leaves the backlog on the server.
        running.messages = new BoundedPull(running.consumer, { max: Math.max(this.batchSize, 10), expiresMs: PULL_EXPIRES_MS });
        if (running.stopping) running.messages.stop();
        for await (const message of running.messages) {
          if (running.stopping) break;
          await this.onMessage(message, running);
          failures = 0;
        }
      } catch (error) {
        if (error instanceof Stopped || running.stopping) return;
        failures++;
        this.logger.error({ name: this.name, sequence: this.sequence, err: error }, 'reading the stream failed; starting again after the last message read');
      }
      if (running.stopping) return;
      // The subscription ended on its own: drop its consumer and start again after the last message read.
      const stale = running.consumer;
      running.consumer = undefined;
      running.messages = undefined;
      await stale?.delete().catch(() => undefined);
      await this.pause(running, this.retryDelay(failures + 1));
    }
  }

  private async onMessage(message: JsMsg, running: Running): Promise<void> {
    if (message.seq <= this.sequence) return;
    if (message.headers?.get(EVENT_HEADERS.logId) === this.logId) {
      const event = parse(message);
      if (event) await this.deliver(event, running);
      else await this.deliverUnreadable(message, running);
    }
    this.sequence = message.seq;
    this.unsaved++;
    this.progress++;
    if (this.unsaved >= this.batchSize) await this.saveCheckpoint();
    else if (message.info.pending === 0) this.saveSoon();
    this.settleWaiters();
  }

  /** Hands `event` over once, after any versions of its stream that were skipped. */
  private async deliver(event: RecordedEvent, running: Running): Promise<void> {
    const known = this.versions.get(event.streamId) ?? (this.complete ? 0 : undefined);
    if (known !== undefined && event.version <= known) return;
    if (known !== undefined && event.version > known + 1) {
      for (const missing of await this.readMissing(event.streamId, known + 1, event.version - 1, running)) {
        await this.handle(missing, running);
      }
    }
    await this.handle(event, running);
  }

  /** A message of this log whose body is not an event: its version is read from the store instead. */
  private async deliverUnreadable(message: JsMsg, running: Running): Promise<void> {
    const streamId = message.headers?.get(EVENT_HEADERS.streamId);
    const version = Number(message.headers?.get(EVENT_HEADERS.version));
    if (streamId && Number.isInteger(version) && version >= 1) {
      const [stored] = await this.readMissing(streamId, version, version, running);
      if (stored) return this.deliver(stored, running);
    }
    this.logger.error({ name: this.name, sequence: message.seq, subject: message.subject, streamId, version }, 'a message of this log is not a readable event; skipped');
  }

  private async handle(event: RecordedEvent, running: Running): Promise<void> {
    // Until the event is handled (retries included), the owner's state may hold part of it.
    this.handling = true;
    try {
      await this.handleOnce(event, running);
    } finally {
      this.handling = false;
    }
  }

  private async handleOnce(event: RecordedEvent, running: Running): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      if (running.stopping) throw new Stopped();
      try {
        await this.hooks.handle(event);
        this.progress++;
        this.failure = undefined;
        this.versions.set(event.streamId, Math.max(event.version, this.versions.get(event.streamId) ?? 0));
        return;
      } catch (error) {
        this.failure = { event, error };
        this.logger.error(
          { name: this.name, streamId: event.streamId, version: event.version, position: event.position, eventType: event.type, attempt, err: error },
          'event handling failed; retrying the same event',
        );
        const failed = this.failureError(event, error);
        for (const waiter of this.waiters) waiter.reject(failed);
        this.waiters.clear();
        await this.pause(running, this.retryDelay(attempt));
      }
    }
  }

  /** Versions `[from, to]` of a stream from the store, waiting up to `gapTimeoutMs` for them all to be there. */
  private async readMissing(streamId: string, from: number, to: number, running: Running): Promise<RecordedEvent[]> {
    const deadline = Date.now() + this.gapTimeoutMs;
    for (let attempt = 1; ; attempt++) {
      if (running.stopping) throw new Stopped();
      let found: RecordedEvent[] = [];
      try {
        found = await this.store.readStream(streamId, { fromVersion: from, toVersion: to });
      } catch (error) {
        this.logger.error({ name: this.name, streamId, fromVersion: from, toVersion: to, err: error }, 'reading missing versions from the store failed');
      }
      if (found.length === to - from + 1) {
        this.logger.warn({ name: this.name, streamId, fromVersion: from, toVersion: to }, 'filled a gap in the stream from the store');
        return found;
      }
      if (Date.now() >= deadline) {
        this.logger.error(
          { name: this.name, streamId, fromVersion: from, toVersion: to, found: found.map((e) => e.version) },
          'versions missing from the log; going on without them',
        );
        return found;
      }
      await this.pause(running, Math.min(50 * attempt, 500));
    }
  }

  // ---- plumbing ----

  private failureError(event: RecordedEvent, error: unknown): Error {
    return new Error(`${this.name}: handling ${event.streamId}@${event.version} (${event.type}) failed, and is being retried: ${describe(error)}`, { cause: error });
  }

  private settleWaiters(): void {
    for (const waiter of this.waiters) {
      if (waiter.reached()) {
        this.waiters.delete(waiter);
        waiter.resolve();
      }
    }
  }

  private async loadCheckpoint(): Promise<CheckpointDocument | undefined> {
    if (!this.checkpoints) return undefined;
    const doc = await this.checkpoints.findOne({ _id: this.name });
    // A checkpoint of the log-position era (`{position}`) or of another stream means nothing here.
    if (!doc || typeof doc.sequence !== 'number' || doc.stream !== this.streamName) return undefined;
    return doc;
  }

  /** Caught up: saves now, or once `checkpointIntervalMs` has passed since the last save. */
  private saveSoon(): void {
    if (!this.checkpoints || this.saveTimer) return;
    const waitMs = this.savedAtMs + this.checkpointIntervalMs - Date.now();
    this.saveTimer = setTimeout(() => {
      this.saveTimer = undefined;
      this.saveCheckpoint().catch((error: unknown) => this.logger.warn({ name: this.name, err: error }, 'could not save the checkpoint'));
    }, Math.max(waitMs, 0));
  }

  private saveCheckpoint(force = false): Promise<void> {
    const save = async () => {
      if (!this.checkpoints || (this.unsaved === 0 && !force) || this.sequence < 0) return;
      const sequence = this.sequence;
      await this.hooks.beforeCheckpoint?.();
      await this.checkpoints.updateOne({ _id: this.name }, { $set: { stream: this.streamName, sequence, at: new Date() } }, { upsert: true });
      this.savedAtMs = Date.now();
      if (this.sequence === sequence) this.unsaved = 0;
    };
    const next = this.saving.then(save, save);
    this.saving = next.catch(() => undefined);
    return next;
  }

  private async manager(): Promise<JetStreamManager> {
    this.jsm ??= await this.nc.jetstreamManager({ checkAPI: false });
    return this.jsm;
  }

  private retryDelay(attempt: number): number {
    return Math.min(this.retryDelayMs * 2 ** Math.min(attempt - 1, 20), this.maxRetryDelayMs);
  }

  private async pause(running: Running, ms: number): Promise<void> {
    await sleep(ms, undefined, { signal: running.abort.signal }).catch(() => undefined);
    if (running.stopping) throw new Stopped();
  }
}

/** The event a relayed message carries, or undefined when its body is not one. */
function parse(message: JsMsg): RecordedEvent | undefined {
  let payload: Partial<RelayedEventPayload>;
  try {
    payload = JSON.parse(decoder.decode(message.data)) as Partial<RelayedEventPayload>;
  } catch {
    return undefined;
  }
  const { eventId, streamId, version, position, type, data, metadata, time } = payload;
  if (typeof streamId !== 'string' || typeof type !== 'string' || typeof eventId !== 'string') return undefined;
  if (typeof version !== 'number' || !Number.isInteger(version) || version < 1 || typeof position !== 'number' || typeof time !== 'string') return undefined;
  const at = new Date(time);
  if (Number.isNaN(at.getTime())) return undefined;
  return { eventId, streamId, version, position, type, data, metadata: metadata ?? {}, time: at };
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
