import type { CollectionCommand } from './collection.commands';
import { decideCollection, evolveCollection } from './collection.decider';
import type { CollectionEvent } from './collection.events';
import { planSteps, type PlanSettings } from './collection.planner';
import { initialCollectionState, type CollectionState } from './collection.state';
import { decideSource, evolveSource, type LiveSourceState, type SourceCommand, type SourceState } from './source.decider';
import type { SourceEvent } from './source.events';
import { collectionTimings } from './source.options';
import type { SourceApi } from './source.types';

/** An aggregate's state with the stream version it was folded at (0: empty stream). */
export interface Versioned<State> {
  readonly state: State;
  readonly version: number;
}

/** The lane timings of {@link planSteps}, plus how far back a new collection reaches. */
export interface DriveSettings extends PlanSettings {
  readonly backfillMs: number;
}

/** One write the scheduler should make, at the stream version it expects. */
export type SchedulerAction =
  | { readonly stream: 'source'; readonly sourceId: string; readonly expectedVersion: number; readonly command: SourceCommand }
  | {
      readonly stream: 'collection';
      readonly sourceId: string;
      readonly api: SourceApi;
      readonly expectedVersion: number;
      readonly command: CollectionCommand;
    };

/** More actions than any healthy source needs in one tick (start, 3 plans, initialize, 3 × 3 lanes, ...). */
const MAX_ACTIONS = 32;

/**
 * What the scheduler should do now for one source, in order (COLLECTION.md, "The scheduler as a
 * process manager"). Pure: each action's events are decided and folded with the aggregates' own
 * deciders, so the next action is chosen on the state the previous one leads to and carries the
 * stream version that state will have. The caller executes them in order and stops at the first
 * that fails: a lost race makes everything after it moot until the log has been read again.
 *
 * A DispatchJob is not appended by the scheduler: its JobDispatched goes into the job, and the
 * fetcher appends it with the job's first record (COLLECTION.md, "One append per job"). So the
 * actions after it see the job in flight, at the stream version before it. Its jobId is
 * `<sourceId>:<api>:<lane>:<collection version + 1>`: deterministic, so two scheduler replicas (or
 * one restarted) that plan the same job publish it under the same Nats-Msg-Id, which JetStream keeps once.
 */
export function decideSourceActions(
  source: Versioned<SourceState>,
  collections: ReadonlyMap<SourceApi, Versioned<CollectionState>>,
  now: Date,
  settings: DriveSettings,
): SchedulerAction[] {
  let current = source;
  const known = new Map(collections);
  const actions: SchedulerAction[] = [];
  while (actions.length < MAX_ACTIONS) {
    const action = nextAction(current, known, now, settings);
    if (!action) break;
    actions.push(action);
    try {
      if (action.stream === 'source') {
        const events = decideSource(action.command, current.state);
        if (events.length === 0) break;
        current = { state: events.reduce<SourceState>((s, e: SourceEvent) => evolveSource(s, e), current.state), version: current.version + events.length };
      } else {
        const collection = known.get(action.api) ?? { state: initialCollectionState(), version: 0 };
        const events = decideCollection(action.command, collection.state);
        if (events.length === 0) break;
        known.set(action.api, {
          state: events.reduce<CollectionState>((s, e: CollectionEvent) => evolveCollection(s, e), collection.state),
          // A dispatch is not appended by the scheduler (see above): the stream stays at its version.
          version: action.command.type === 'DispatchJob' ? collection.version : collection.version + events.length,
        });
      }
    } catch {
      // The decider refuses it: leave it as the last action, so that the caller meets (and logs)
      // the same refusal instead of it passing unnoticed.
      break;
    }
  }
  return actions;
}

function nextAction(
  source: Versioned<SourceState>,
  collections: ReadonlyMap<SourceApi, Versioned<CollectionState>>,
  now: Date,
  settings: DriveSettings,
): SchedulerAction | undefined {
  const { state } = source;
  const metadata = { now };
  switch (state.status) {
    case 'Nonexistent':
    case 'Deleted':
    case 'Error':
      return undefined;
    case 'Stopping': {
      // Every collection the source ever had, not only today's supported_apis: a job of an API
      // the last update removed would otherwise keep the deletion waiting for ever.
      const abandon = firstStalledJob(state, collections, now, settings);
      if (abandon) return abandon;
      if ([...collections.values()].some((c) => hasJobs(c.state))) return undefined;
      return sourceAction(source, { type: 'CompleteSourceDeletion', data: { sourceId: state.sourceId }, metadata });
    }
    case 'Pending':
      return sourceAction(source, { type: 'StartCollection', data: { sourceId: state.sourceId, generation: state.generation }, metadata });
    case 'Started':
    case 'Initialized':
    case 'Authenticated':
    case 'Collecting':
      return nextCollectingAction(source as Versioned<LiveSourceState>, collections, now, settings);
  }
}

function nextCollectingAction(
  source: Versioned<LiveSourceState>,
  collections: ReadonlyMap<SourceApi, Versioned<CollectionState>>,
  now: Date,
  settings: DriveSettings,
): SchedulerAction | undefined {
  const { state } = source;
  const { sourceId, generation } = state;
  const metadata = { now };
  const apis = state.config.supportedApis;

  for (const api of apis) {
    const collection = collections.get(api) ?? { state: initialCollectionState(), version: 0 };
    if (collection.state.status === 'Planned' && collection.state.generation >= generation) continue;
    const { backfillMs } = collectionTimings(state.config.options, api, settings);
    return collectionAction(sourceId, api, collection, {
      type: 'PlanCollection',
      data: { sourceId, api, generation, baseUrl: state.config.baseUrl, backfillMs },
      metadata,
    });
  }
  if (state.status === 'Started') return sourceAction(source, { type: 'InitializeCollection', data: { sourceId, generation }, metadata });

  const current = apis.flatMap((api) => {
    const c = collections.get(api)?.state;
    return c && c.status === 'Planned' && c.generation === generation ? [c] : [];
  });
  const gaveUp = current.find((c) => c.failure !== null && c.failure.retryAt === null);
  if (gaveUp) {
    const { errorType, reason } = gaveUp.failure!;
    return sourceAction(source, { type: 'FailSource', data: { sourceId, generation, failure: { errorType, reason, api: gaveUp.api } }, metadata });
  }
  // A collected page proves the token was accepted, even if its verification was not recorded.
  const collecting = current.some((c) => c.collectingGeneration === generation);
  const verified = collecting || current.some((c) => c.verifiedGeneration === generation);
  if (state.status === 'Initialized' && verified) return sourceAction(source, { type: 'MarkSourceAuthenticated', data: { sourceId, generation }, metadata });
  if (state.status === 'Authenticated' && collecting) return sourceAction(source, { type: 'BeginCollection', data: { sourceId, generation }, metadata });

  const abandon = firstStalledJob(state, collections, now, settings);
  if (abandon) return abandon;
  for (const api of apis) {
    const collection = collections.get(api)!;
    const { pollIntervalMs } = collectionTimings(state.config.options, api, settings);
    const step = planSteps(collection.state, now, { ...settings, pollIntervalMs }).find((s) => s.type === 'dispatch');
    if (step?.type !== 'dispatch') continue;
    const jobId = `${sourceId}:${api}:${step.lane}:${collection.version + 1}`;
    return collectionAction(sourceId, api, collection, {
      type: 'DispatchJob',
      data: { jobId, lane: step.lane, window: step.window, resume: step.resume },
      metadata,
    });
  }
  return undefined;
}

/** The first job, in any collection of the source, with no progress for the stall timeout. */
function firstStalledJob(
  source: LiveSourceState,
  collections: ReadonlyMap<SourceApi, Versioned<CollectionState>>,
  now: Date,
  settings: DriveSettings,
): SchedulerAction | undefined {
  for (const [api, collection] of collections) {
    const step = planSteps(collection.state, now, settings).find((s) => s.type === 'abandon');
    if (step?.type === 'abandon') {
      return collectionAction(source.sourceId, api, collection, {
        type: 'AbandonJob',
        data: { jobId: step.jobId, reason: step.reason },
        metadata: { now },
      });
    }
  }
  return undefined;
}

function hasJobs(state: CollectionState): boolean {
  return state.status === 'Planned' && Object.values(state.jobs).some((job) => job !== undefined);
}

function sourceAction(source: Versioned<SourceState>, command: SourceCommand): SchedulerAction {
  return { stream: 'source', sourceId: command.data.sourceId, expectedVersion: source.version, command };
}

function collectionAction(sourceId: string, api: SourceApi, collection: Versioned<CollectionState>, command: CollectionCommand): SchedulerAction {
  return { stream: 'collection', sourceId, api, expectedVersion: collection.version, command };
}
