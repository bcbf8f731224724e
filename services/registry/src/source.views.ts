import { subjects } from '@s1c/messaging';
import { evolveSource, initialSourceState, isSourceEvent, type LiveSourceState, type SourceEvent, type SourceState } from '@s1c/domain';
import { FoldedStreams, type ExecuteResult, type LoadedAggregate, type MongoEventStore, type RecordedEvent, type TailerLogger } from '@s1c/event-store';
import type { NatsConnection } from 'nats';
import { sourceStreamId } from './source.streams';

/**
 * A source as the registry answers for it: its state, when its last event happened, and its last
 * live state (what a deleted source is shown with).
 */
export interface SourceFold {
  readonly source: SourceState;
  readonly updatedAt: string | null;
  readonly lastLive: LiveSourceState | null;
}

export type LoadedFold = LoadedAggregate<SourceFold>;

export const emptyFold = (): SourceFold => ({ source: initialSourceState(), updatedAt: null, lastLive: null });

export function evolveFold(fold: SourceFold, event: RecordedEvent): SourceFold {
  if (!isSourceEvent(event)) return fold;
  const recorded = event as unknown as SourceEvent;
  const source = evolveSource(fold.source, recorded);
  return { source, updatedAt: recorded.data.at, lastLive: isLive(source) ? source : fold.lastLive };
}

export function isLive(state: SourceState): state is LiveSourceState {
  return state.status !== 'Nonexistent' && state.status !== 'Deleted';
}

/** The source as shown: live, or deleted with the configuration it last had; undefined when it never existed. */
export function shownSource(fold: SourceFold): LiveSourceState | (Omit<LiveSourceState, 'status'> & { status: 'Deleted' }) | undefined {
  const { source, lastLive } = fold;
  if (isLive(source)) return source;
  if (source.status === 'Deleted' && lastLive) return { ...withoutFailure(lastLive), status: 'Deleted', since: source.since };
  return undefined;
}

function withoutFailure(state: LiveSourceState): Omit<LiveSourceState, 'status'> {
  const { status: _status, ...rest } = state as LiveSourceState & { failure?: unknown };
  delete (rest as { failure?: unknown }).failure;
  return rest;
}

const SOURCE_PREFIX = sourceStreamId('');

export interface SourceViewsOptions {
  /** How long a missing version is looked for in the log. */
  readonly gapTimeoutMs: number;
  readonly logger?: TailerLogger;
}

/**
 * Every source, folded in memory from the events relayed on `s1c.evt.source.>`: what get and list
 * answer from, and what commands are decided on, so that neither reads the store (on FerretDB
 * every query but one by `_id` reads a whole collection). The log stays the truth: a source the
 * folds cannot answer for is read from it, and a command's reply is folded from the events it
 * appended.
 */
export class SourceViews {
  private readonly folds: FoldedStreams<SourceFold>;

  constructor(
    private readonly store: MongoEventStore,
    nc: NatsConnection,
    private readonly options: SourceViewsOptions,
  ) {
    this.folds = new FoldedStreams(store, nc, {
      name: 'registry.sources',
      filterSubject: subjects.everySourceEvent,
      initial: emptyFold,
      evolve: evolveFold,
      gapTimeoutMs: options.gapTimeoutMs,
      ...(options.logger ? { logger: options.logger } : {}),
    });
  }

  /** Starts folding and resolves once every source relayed so far is folded. */
  async start(): Promise<void> {
    await this.folds.start();
    await this.folds.catchUp();
  }

  stop(): Promise<void> {
    return this.folds.stop();
  }

  /** Waits until every source event relayed before the call is folded (another replica's too). */
  catchUp(): Promise<void> {
    return this.folds.catchUp();
  }

  /** Every source held, with its id. */
  *all(): IterableIterator<[sourceId: string, fold: LoadedFold]> {
    for (const [streamId, fold] of this.folds.heads()) yield [streamId.slice(SOURCE_PREFIX.length), fold];
  }

  /**
   * The source, from memory when held; otherwise from the log when it has a first event (one read
   * by `_id` decides that), so an unknown id costs no scan.
   */
  async load(sourceId: string): Promise<LoadedFold> {
    const streamId = sourceStreamId(sourceId);
    const held = this.folds.head(streamId);
    if (held) return held;
    if (!(await this.store.hasEvent(streamId, 1))) return { state: emptyFold(), version: 0, position: 0 };
    return (await this.folds.atLeast(streamId, 1, this.options.gapTimeoutMs)) ?? this.fromLog(sourceId);
  }

  /** The fold as a command's repository takes it (`from`). */
  static aggregateOf(fold: LoadedFold): LoadedAggregate<SourceState> {
    return { state: fold.state.source, version: fold.version, position: fold.position };
  }

  /**
   * The source right after a command: its events folded onto the fold the command was decided on
   * (`before`), or, when that was not it (a lost race read the log), the relayed fold or the log.
   * Never fails because the relay is slow: an appended command always gets its reply.
   */
  async after(sourceId: string, before: LoadedFold | undefined, result: ExecuteResult<SourceState>): Promise<LoadedFold> {
    const streamId = sourceStreamId(sourceId);
    let fold: LoadedFold | undefined;
    if (result.events.length === 0) {
      fold = this.folds.head(streamId);
      if (fold && fold.version !== result.version) fold = undefined;
    } else if (before && before.version === result.version - result.events.length) {
      fold = { state: result.events.reduce(evolveFold, before.state), version: result.version, position: result.position };
    }
    if (!fold) {
      const relayed = await this.folds.atLeast(streamId, result.version, this.options.gapTimeoutMs);
      fold = relayed && relayed.version >= result.version ? relayed : await this.fromLog(sourceId);
    }
    this.folds.offer(streamId, fold);
    return fold;
  }

  private async fromLog(sourceId: string): Promise<LoadedFold> {
    const events = await this.store.readStream(sourceStreamId(sourceId));
    const last = events.at(-1);
    const fold = { state: events.reduce(evolveFold, emptyFold()), version: last?.version ?? 0, position: last?.position ?? 0 };
    if (last) this.folds.offer(sourceStreamId(sourceId), fold);
    return fold;
  }
}
