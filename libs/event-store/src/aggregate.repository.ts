import type { Decider } from '@s1c/domain';
import { setTimeout as sleep } from 'node:timers/promises';
import { ConcurrencyError } from './event-store.errors';
import type { EventMetadata, RecordedEvent } from './event.types';
import type { MongoEventStore } from './mongo.event-store';

/** An aggregate folded from its stream, with the stream version it was folded at. */
export interface LoadedAggregate<State> {
  readonly state: State;
  readonly version: number;
  /** Position of the stream's last event (0 when empty or unknown): keeps positions ascending in the stream. */
  readonly position?: number;
}

export interface ExecuteResult<State> extends LoadedAggregate<State> {
  readonly events: readonly RecordedEvent[];
  /** Position of the last appended event; 0 when the command changed nothing. */
  readonly position: number;
}

export interface ExecuteOptions<State = unknown> {
  readonly metadata?: EventMetadata;
  /**
   * The version the caller last saw: any other current version is a {@link ConcurrencyError}
   * straight away, with no retry (the caller decided on what it saw, not on what is there now).
   */
  readonly expectedVersion?: number;
  /** Attempts when racing other writers without an expected version; default 5. */
  readonly maxAttempts?: number;
  /**
   * The aggregate as the caller last had it (a previous result of this stream, or a fold of the
   * relayed events): the command is decided on it and appended at its version without reading the
   * log; only when another writer got there first are the newer events read and folded onto it.
   */
  readonly from?: LoadedAggregate<State>;
}

/**
 * Runs commands on the aggregates of one kind: fold the stream (or take the caller's fold), decide,
 * append at the version it was folded at. A lost race is retried with fresh state (bounded, with
 * jitter); the last lost race surfaces as the store's {@link ConcurrencyError}.
 */
export class AggregateRepository<State, Command, Event extends { type: string; data: unknown }> {
  constructor(
    private readonly store: MongoEventStore,
    private readonly decider: Decider<State, Command, Event>,
    /** Which events of a stream belong to the aggregate (a stream may hold others). */
    private readonly isEvent: (event: { type: string }) => boolean,
  ) {}

  /** Folds the stream; with `from` (an earlier fold of it), only the events after its version. */
  async load(streamId: string, from?: LoadedAggregate<State>): Promise<LoadedAggregate<State>> {
    const recorded = await this.store.readStream(streamId, from ? { fromVersion: from.version + 1 } : {});
    let state = from ? from.state : this.decider.initialState();
    for (const event of recorded) {
      if (this.isEvent(event)) state = this.decider.evolve(state, event as unknown as Event);
    }
    const last = recorded.at(-1);
    return { state, version: last?.version ?? from?.version ?? 0, position: last?.position ?? from?.position ?? 0 };
  }

  /**
   * Decides `commandFor(state)` and appends its events. Several commands are decided one after the
   * other, each on the state the previous one's events lead to, and their events appended at once
   * (one append where the caller would otherwise make one per command).
   */
  async execute(
    streamId: string,
    commandFor: (state: State) => Command | readonly Command[],
    options: ExecuteOptions<State> = {},
  ): Promise<ExecuteResult<State>> {
    const maxAttempts = options.expectedVersion === undefined ? (options.maxAttempts ?? 5) : 1;
    let from = options.from;
    // The caller's fold is trusted as current until an append says otherwise.
    let trusted = from !== undefined;
    for (let attempt = 1; ; attempt++) {
      const loaded = trusted && from ? from : await this.load(streamId, from);
      trusted = false;
      const { state, version } = loaded;
      from = loaded;
      if (options.expectedVersion !== undefined && options.expectedVersion !== version) {
        throw new ConcurrencyError(streamId, options.expectedVersion, version);
      }
      const commands = commandFor(state);
      const events: Event[] = [];
      let next = state;
      for (const command of (Array.isArray(commands) ? commands : [commands]) as readonly Command[]) {
        const decided = this.decider.decide(command, next);
        next = decided.reduce((s, e) => this.decider.evolve(s, e), next);
        events.push(...decided);
      }
      if (events.length === 0) return { state, version, position: 0, events: [] };
      try {
        const appended = await this.store.appendToStream(
          streamId,
          (this.decider.compact?.(events) ?? events).map((event) => ({ type: event.type, data: event.data, ...(options.metadata ? { metadata: options.metadata } : {}) })),
          { expectedVersion: version === 0 ? 'no_stream' : version, lastPosition: loaded.position ?? 0 },
        );
        return { state: next, version: appended.nextExpectedVersion, events: appended.events, position: appended.lastPosition };
      } catch (error) {
        if (!(error instanceof ConcurrencyError) || attempt >= maxAttempts) throw error;
        await sleep(10 * attempt + Math.random() * 20 * attempt);
      }
    }
  }
}
