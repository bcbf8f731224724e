import type { NatsConnection } from 'nats';
import type { LoadedAggregate } from './aggregate.repository';
import { EventTailer } from './event.tailer';
import type { RecordedEvent, TailerLogger } from './event.types';
import type { MongoEventStore } from './mongo.event-store';

/** Options of {@link FoldedStreams}. */
export interface FoldedStreamsOptions<State> {
  /** Names the reader in logs. */
  name: string;
  /** The relayed subjects of the streams to fold, e.g. `s1c.evt.source.>`. */
  filterSubject: string;
  initial(): State;
  /** Folds one event of the stream (an event of a type the fold ignores only counts as a version). */
  evolve(state: State, event: RecordedEvent): State;
  /** Past versions kept per stream besides the newest, for {@link FoldedStreams.at}. Default 0. */
  keepVersions?: number;
  /** The JetStream stream the OutboxRelay publishes to. Default `S1C_EVENTS`. */
  streamName?: string;
  /** How long a missing version is looked for in the log (the tailer's `gapTimeoutMs`). Default 2000. */
  gapTimeoutMs?: number;
  logger?: TailerLogger;
}

interface Entry<State> {
  head: LoadedAggregate<State>;
  /** States of the last few versions before the head, oldest first. */
  readonly past: Map<number, State>;
}

interface Waiter {
  readonly version: number;
  readonly wake: () => void;
}

/**
 * The streams relayed on one subject (e.g. every source), each folded in memory from its first
 * version, so that a process reads the log for them only when memory cannot answer. Fed by an
 * {@link EventTailer} that reads the JetStream stream from its first message (`coldStart: 'stream'`,
 * no checkpoint): at a start the folds are rebuilt from JetStream, not from the log; the versions
 * of a stream that JetStream no longer holds (expired) are read from the log once, as a gap.
 *
 * Every fold held is exact: the stream's events from version 1 to its version, in order (the
 * relayed events are trusted: only the relay may publish them, and the tailer drops another log's).
 * A stream whose versions could not all be had is dropped (the caller reads the log instead) until
 * a fold read from the log is {@link offer}ed again.
 */
export class FoldedStreams<State> {
  private readonly entries = new Map<string, Entry<State>>();
  private readonly waiters = new Map<string, Waiter[]>();
  private readonly tailer: EventTailer;
  private readonly keepVersions: number;

  constructor(
    store: MongoEventStore,
    nc: NatsConnection,
    private readonly options: FoldedStreamsOptions<State>,
  ) {
    this.keepVersions = options.keepVersions ?? 0;
    this.tailer = new EventTailer(store, nc, options.name, { handle: (event) => this.fold(event) }, {
      filterSubject: options.filterSubject,
      coldStart: 'stream',
      ...(options.streamName ? { streamName: options.streamName } : {}),
      ...(options.gapTimeoutMs !== undefined ? { gapTimeoutMs: options.gapTimeoutMs } : {}),
      ...(options.logger ? { logger: options.logger } : {}),
    });
  }

  /** Starts reading (the stream from its first message); resolves once reading has begun. */
  start(): Promise<void> {
    return this.tailer.start();
  }

  async stop(): Promise<void> {
    await this.tailer.stop();
    for (const waiters of this.waiters.values()) for (const waiter of [...waiters]) waiter.wake();
  }

  /** Streams held. */
  get size(): number {
    return this.entries.size;
  }

  /** Every stream held, at its newest version held. */
  *heads(): IterableIterator<[streamId: string, fold: LoadedAggregate<State>]> {
    for (const [streamId, entry] of this.entries) yield [streamId, entry.head];
  }

  /**
   * Waits until every event relayed on the subject before the call has been folded (rejects after
   * the tailer's catch-up timeout without progress). Needs `$JS.API.STREAM.MSG.GET` on the stream.
   */
  async catchUp(): Promise<void> {
    await this.tailer.catchUp();
  }

  /** The stream's fold at the newest version held, if any. */
  head(streamId: string): LoadedAggregate<State> | undefined {
    return this.entries.get(streamId)?.head;
  }

  /** The stream's state at exactly `version`, if held (the head or one of the kept past versions). */
  at(streamId: string, version: number): State | undefined {
    const entry = this.entries.get(streamId);
    if (!entry) return undefined;
    return entry.head.version === version ? entry.head.state : entry.past.get(version);
  }

  /**
   * The fold once it reaches `version`, waiting up to `timeoutMs` for the relay to bring it;
   * what is held when the time is up otherwise (maybe older, maybe nothing).
   */
  async atLeast(streamId: string, version: number, timeoutMs: number): Promise<LoadedAggregate<State> | undefined> {
    const held = this.head(streamId);
    if ((held && held.version >= version) || version <= 0 || timeoutMs <= 0 || !this.tailer.isRunning) return held;
    await new Promise<void>((resolve) => {
      const list = this.waiters.get(streamId) ?? [];
      this.waiters.set(streamId, list);
      const waiter: Waiter = { version, wake: done };
      const timer = setTimeout(done, timeoutMs);
      list.push(waiter);
      function done(): void {
        clearTimeout(timer);
        const i = list.indexOf(waiter);
        if (i >= 0) list.splice(i, 1);
        resolve();
      }
    });
    if (this.waiters.get(streamId)?.length === 0) this.waiters.delete(streamId);
    return this.head(streamId);
  }

  /**
   * A fold the caller read from the log (exact up to its version): kept when newer than what is
   * held, so that a stream the relay could not fold is followed again from there.
   */
  offer(streamId: string, fold: LoadedAggregate<State>): void {
    const entry = this.entries.get(streamId);
    if (entry && entry.head.version >= fold.version) return;
    this.entries.set(streamId, { head: fold, past: new Map() });
    this.wake(streamId, fold.version);
  }

  private fold(event: RecordedEvent): void {
    const entry = this.entries.get(event.streamId);
    const version = entry?.head.version ?? 0;
    if (event.version <= version) return;
    if (event.version !== version + 1) {
      // A version could not be had (the tailer went on without it): this fold would be wrong.
      if (entry) this.entries.delete(event.streamId);
      this.options.logger?.warn({ name: this.options.name, streamId: event.streamId, held: version, version: event.version }, 'a stream version is missing: that stream is read from the log instead');
      return;
    }
    const state = this.options.evolve(entry?.head.state ?? this.options.initial(), event);
    const head = { state, version: event.version, position: event.position };
    if (!entry) {
      this.entries.set(event.streamId, { head, past: new Map() });
    } else {
      if (this.keepVersions > 0) {
        entry.past.set(entry.head.version, entry.head.state);
        if (entry.past.size > this.keepVersions) entry.past.delete(entry.past.keys().next().value!);
      }
      entry.head = head;
    }
    this.wake(event.streamId, event.version);
  }

  private wake(streamId: string, version: number): void {
    const list = this.waiters.get(streamId);
    if (!list) return;
    for (const waiter of [...list]) if (waiter.version <= version) waiter.wake();
  }
}
