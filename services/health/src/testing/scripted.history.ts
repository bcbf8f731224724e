import {
  NO_PROGRESS,
  sourceStreamId,
  collectionStreamId,
  type CollectionCommand,
  type EncryptedSecret,
  type Progress,
  type SourceApi,
  type SourceCommand,
  type SourceConfig,
  type TimeWindow,
} from '@s1c/domain';
import type { HealthUnderTest } from './health.harness';

/** Where the scripted history starts. */
export const T0 = Date.parse('2026-11-27T10:00:00.000Z');
/** A moment `minutes` after {@link T0}. */
export const at = (minutes: number): Date => new Date(T0 + minutes * 60_000);
/** The same moment in the read models' format (microseconds). */
export const iso = (minutes: number): string => at(minutes).toISOString().replace('Z', '000Z');
export const micros = (minutes: number): number => (T0 + minutes * 60_000) * 1000;

/** The service's "now" for assertions: 15 minutes in. */
export const NOW = at(15);

/** Ciphertext pieces that must never show up in any response. */
export const SECRET_PARTS = { kid: 'kid-never-shown', iv: 'IV-never-shown-0001', ct: 'CIPHERTEXT-never-shown-0001', tag: 'TAG-never-shown-0001' };
export const SECRET: EncryptedSecret = { alg: 'A256GCM', ...SECRET_PARTS };

export const IDS = { alpha: 'alpha-src', bravo: 'bravo-src', charlie: 'charlie-src', delta: 'delta-src' } as const;
const BACKFILL_MS = 24 * 3_600_000;

function config(name: string, apis: SourceApi[], extra: Partial<SourceConfig> = {}): SourceConfig {
  return {
    name,
    description: null,
    category: 'sec/s1',
    fields: [{ key: 'team.name', value: 'soc' }],
    baseUrl: `https://${name.toLowerCase().replace(/\W+/g, '-')}.sentinelone.net`,
    supportedApis: apis,
    ...extra,
  };
}

/**
 * Writes a history with the real deciders: four sources walking create, plan, dispatch, pages,
 * completion, a failure streak with three occurrences and its recovery, a 429 warning, two
 * configuration errors (one fixed by an update), a deletion, and health events on a
 * `delivery-<id>` stream (no `api` there).
 */
export async function writeScriptedHistory(h: HealthUnderTest): Promise<void> {
  const source = (id: string, minutes: number, command: Omit<SourceCommand, 'metadata'>) =>
    h.sources.execute(sourceStreamId(id), () => ({ ...command, metadata: { now: at(minutes) } }) as SourceCommand);
  const collection = async (id: string, api: SourceApi, minutes: number, command: Omit<CollectionCommand, 'metadata'>) =>
    h.collections.execute(collectionStreamId(id, api), () => ({ ...command, metadata: { now: at(minutes) } }) as CollectionCommand);
  const lifecycle = async (id: string, minutes: number, generation: number, type: 'StartCollection' | 'InitializeCollection' | 'MarkSourceAuthenticated' | 'BeginCollection') =>
    source(id, minutes, { type, data: { sourceId: id, generation } });
  /** Dispatches a job with the scheduler's deterministic id and returns it. */
  const dispatch = async (id: string, api: SourceApi, minutes: number, lane: 'backfill' | 'live', window: TimeWindow, resume: Progress = NO_PROGRESS) => {
    const { version } = await h.collections.load(collectionStreamId(id, api));
    const jobId = `${id}:${api}:${lane}:${version + 1}`;
    await collection(id, api, minutes, { type: 'DispatchJob', data: { jobId, lane, window, resume } });
    return jobId;
  };
  const page = (records: number, pages: number, lastTimestamp: string | null): Progress => ({ cursor: pages > 0 ? `cursor-${pages}` : null, walkFrom: null, lastTimestamp, records, pages });

  // alpha: collecting activities (backfill + live) and agents; a failure streak, recovery, a 429.
  const a = IDS.alpha;
  await source(a, 0, { type: 'CreateSource', data: { sourceId: a, collectorId: 'default', config: config('Alpha SOC', ['activities', 'agents'], { description: 'Production console' }), secret: SECRET } });
  await lifecycle(a, 1, 1, 'StartCollection');
  await collection(a, 'activities', 1, { type: 'PlanCollection', data: { sourceId: a, api: 'activities', generation: 1, baseUrl: 'https://alpha-soc.sentinelone.net', backfillMs: BACKFILL_MS } });
  await collection(a, 'agents', 1, { type: 'PlanCollection', data: { sourceId: a, api: 'agents', generation: 1, baseUrl: 'https://alpha-soc.sentinelone.net', backfillMs: BACKFILL_MS } });
  await lifecycle(a, 1, 1, 'InitializeCollection');
  const backfillWindow = { from: iso(1 - 24 * 60), to: iso(1) };
  const backfillJob = await dispatch(a, 'activities', 2, 'backfill', backfillWindow);
  const live1 = await dispatch(a, 'activities', 2, 'live', { from: iso(-1), to: iso(2) });
  const agentsLive = await dispatch(a, 'agents', 2, 'live', { from: iso(-1), to: iso(2) });
  await collection(a, 'activities', 2, { type: 'RecordTokenVerified', data: { jobId: backfillJob } });
  await lifecycle(a, 2, 1, 'MarkSourceAuthenticated');
  await collection(a, 'activities', 3, { type: 'RecordPage', data: { jobId: backfillJob, progress: page(1000, 1, iso(1 - 18 * 60)), pageRecords: 1000, rateLimited: false } });
  await lifecycle(a, 3, 1, 'BeginCollection');
  await collection(a, 'activities', 4, { type: 'RecordPage', data: { jobId: live1, progress: page(40, 1, iso(1.5)), pageRecords: 40, rateLimited: false } });
  await collection(a, 'activities', 4, { type: 'CompleteJob', data: { jobId: live1, finished: true, progress: page(40, 1, iso(1.5)) } });
  await collection(a, 'agents', 4, { type: 'RecordPage', data: { jobId: agentsLive, progress: page(25, 1, iso(1)), pageRecords: 25, rateLimited: false } });
  await collection(a, 'agents', 4, { type: 'CompleteJob', data: { jobId: agentsLive, finished: true, progress: page(25, 1, iso(1)) } });
  for (const minute of [7, 8, 9]) {
    const job = await dispatch(a, 'activities', minute, 'live', { from: iso(0), to: iso(minute) });
    await collection(a, 'activities', minute + 0.5, { type: 'FailJob', data: { jobId: job, errorType: 'ThirdPartyGeneric', reason: 'HTTP 503 from SentinelOne', random: 0.5 } });
  }
  const live5 = await dispatch(a, 'activities', 10, 'live', { from: iso(0), to: iso(10) });
  await collection(a, 'activities', 10.5, { type: 'RecordPage', data: { jobId: live5, progress: page(10, 1, iso(9)), pageRecords: 10, rateLimited: false } });
  await collection(a, 'activities', 11, { type: 'CompleteJob', data: { jobId: live5, finished: true, progress: page(10, 1, iso(9)) } });
  await collection(a, 'activities', 12, { type: 'RecordPage', data: { jobId: backfillJob, progress: page(2000, 2, iso(1 - 12 * 60)), pageRecords: 1000, rateLimited: true } });

  // bravo: the token is refused; collection quits and the source goes to Error.
  const b = IDS.bravo;
  await source(b, 1, { type: 'CreateSource', data: { sourceId: b, collectorId: 'emea', config: config('Bravo Corp', ['threats'], { category: null }), secret: SECRET } });
  await lifecycle(b, 2, 1, 'StartCollection');
  await collection(b, 'threats', 2, { type: 'PlanCollection', data: { sourceId: b, api: 'threats', generation: 1, baseUrl: 'https://bravo-corp.sentinelone.net', backfillMs: BACKFILL_MS } });
  await lifecycle(b, 2, 1, 'InitializeCollection');
  const bravoJob = await dispatch(b, 'threats', 3, 'backfill', { from: iso(2 - 24 * 60), to: iso(2) });
  await collection(b, 'threats', 4, { type: 'FailJob', data: { jobId: bravoJob, errorType: 'ThirdPartyConfig', reason: 'HTTP 401 from SentinelOne: the API token was refused', random: 0.5 } });
  await source(b, 4, { type: 'FailSource', data: { sourceId: b, generation: 1, failure: { errorType: 'ThirdPartyConfig', reason: 'HTTP 401 from SentinelOne: the API token was refused', api: 'threats' } } });

  // charlie: forbidden, Error, then an update (new console URL) resolves it and collection resumes.
  const c = IDS.charlie;
  const charlieConfig = config('Charlie Ltd', ['activities'], { category: 'sec/edr' });
  await source(c, 1, { type: 'CreateSource', data: { sourceId: c, collectorId: 'default', config: charlieConfig, secret: SECRET } });
  await lifecycle(c, 1, 1, 'StartCollection');
  await collection(c, 'activities', 1, { type: 'PlanCollection', data: { sourceId: c, api: 'activities', generation: 1, baseUrl: charlieConfig.baseUrl, backfillMs: 0 } });
  await lifecycle(c, 1, 1, 'InitializeCollection');
  const charlieJob = await dispatch(c, 'activities', 3, 'live', { from: iso(-1), to: iso(3) });
  await collection(c, 'activities', 4, { type: 'FailJob', data: { jobId: charlieJob, errorType: 'ThirdPartyConfig', reason: 'HTTP 403 from SentinelOne: activities not permitted', random: 0.5 } });
  await source(c, 4, { type: 'FailSource', data: { sourceId: c, generation: 1, failure: { errorType: 'ThirdPartyConfig', reason: 'HTTP 403 from SentinelOne: activities not permitted', api: 'activities' } } });
  const newUrl = 'https://charlie-new.sentinelone.net';
  await source(c, 6, { type: 'UpdateSource', data: { sourceId: c, config: { ...charlieConfig, baseUrl: newUrl } } });
  await lifecycle(c, 6.5, 2, 'StartCollection');
  await collection(c, 'activities', 6.5, { type: 'PlanCollection', data: { sourceId: c, api: 'activities', generation: 2, baseUrl: newUrl, backfillMs: 0 } });
  await lifecycle(c, 6.5, 2, 'InitializeCollection');
  const charlieLive = await dispatch(c, 'activities', 8, 'live', { from: iso(4.5), to: iso(8) });
  await collection(c, 'activities', 8, { type: 'RecordTokenVerified', data: { jobId: charlieLive } });
  await lifecycle(c, 8, 2, 'MarkSourceAuthenticated');
  await collection(c, 'activities', 9, { type: 'RecordPage', data: { jobId: charlieLive, progress: page(5, 1, iso(7)), pageRecords: 5, rateLimited: false } });
  await lifecycle(c, 9, 2, 'BeginCollection');
  await collection(c, 'activities', 9, { type: 'CompleteJob', data: { jobId: charlieLive, finished: true, progress: page(5, 1, iso(7)) } });
  // The enricher's HTTP sink reports on its own stream, without an API.
  const delivery = `delivery-${c}`;
  const deliveryEvent = {
    healthEventId: 'health-charlie-src-delivery-1',
    severity: 'Error',
    errorType: 'FirstPartyGeneric',
    eventName: 'FirstPartyGenericError',
    description: 'The HTTP sink answered 503. Retrying with backoff.',
    sourceId: c,
    retry: { retrying: true },
  };
  await h.store.appendToStream(delivery, [{ type: 'HealthEventRaised', data: { ...deliveryEvent, at: iso(9.5) } }], { expectedVersion: 'any' });
  await h.store.appendToStream(delivery, [{ type: 'HealthEventRaised', data: { ...deliveryEvent, at: iso(10) } }], { expectedVersion: 'any' });
  await h.store.appendToStream(delivery, [{ type: 'HealthEventResolved', data: { healthEventId: deliveryEvent.healthEventId, sourceId: c, at: iso(11) } }], { expectedVersion: 'any' });

  // delta: created and deleted: gone from listings unless asked for.
  const d = IDS.delta;
  await source(d, 2, { type: 'CreateSource', data: { sourceId: d, collectorId: 'default', config: config('Delta Old', ['agents']), secret: SECRET } });
  await source(d, 5, { type: 'DeleteSource', data: { sourceId: d } });
  await source(d, 5, { type: 'CompleteSourceDeletion', data: { sourceId: d } });
}
