import { RAW_BATCH_HEADERS, type FetchJob } from '@s1c/contracts';
import {
  collectionDecider,
  collectionStreamId,
  evolveCollection,
  expandCollectionEvent,
  foldCollection,
  isCollectionEvent,
  isSourceEvent,
  planSteps,
  sourceDecider,
  sourceStreamId,
  toMicroIso,
  type CollectionCommand,
  type CollectionEvent,
  type CollectionState,
  type Lane,
  type SourceApi,
  type SourceCommand,
  type SourceEvent,
  type SourceOptions,
  type SourceState,
} from '@s1c/domain';
import { AggregateRepository, MongoEventStore, type RecordedEvent } from '@s1c/event-store';
import { createLogger, type Logger } from '@s1c/logger';
import { declareStreams, publishJson, STREAMS, subjects } from '@s1c/messaging';
import { API_PATHS, parseListBody } from '@s1c/s1-client';
import { SecretBox } from '@s1c/secrets';
import { startSimulator, type RunningSimulator, type SimulatorOptions } from '@s1c/s1-simulator';
import { serverUrls, uniqueDbName } from '@s1c/test-harness';
import { MongoClient, type Db } from 'mongodb';
import { connect, type JsMsg, type NatsConnection } from 'nats';
import { randomBytes, randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import type { ApiSpec } from '../api-spec';
import { loadFetcherConfig, retryPolicyOf, type FetcherConfig } from '../fetcher.config';
import { JobRunner, type JobRunnerDeps, type JobRunnerSettings } from '../job.runner';
import { jetStreamRawPublisher, type RawPublisher } from '../raw.publisher';

/** One raw record as stored in S1C_RAW. */
/** A record as it sits in S1C_RAW: in a raw batch, whose subject, sequence and headers it shares. */
export interface RawRecordSeen {
  readonly subject: string;
  readonly seq: number;
  readonly recordId: string;
  /** The record's JSON, as the batch's body holds it. */
  readonly body: string;
  readonly headers: Record<string, string>;
}

/** A record as the simulator serves it, with its exact JSON text. */
export interface SimRecord {
  readonly json: string;
  readonly value: Record<string, unknown>;
}

/** Scheduler timing used by {@link FetcherFixture.dispatch} to pick a lane's window, as planSteps does. */
const PLAN_SETTINGS = { pollIntervalMs: 60_000, overlapMs: 120_000, snapshotIntervalMs: 24 * 3_600_000, stallTimeoutMs: 3_600_000 };

export interface FetcherFixtureOptions {
  /** Simulator options (manual clock and a start time are set unless given). */
  readonly simulator?: SimulatorOptions;
  /** The token the source is registered with (the simulator accepts it as label `console`). */
  readonly token?: string;
}

/**
 * Everything a fetcher test needs, on the harness's real servers: a fresh database with its event
 * store, NATS with the project's streams, a simulator on a manual clock (the fetcher's clock too),
 * a captured log, and the scheduler's part (source, plan, dispatch) done by hand.
 */
export interface FetcherFixture {
  readonly sim: RunningSimulator;
  readonly db: Db;
  readonly dbName: string;
  readonly store: MongoEventStore;
  readonly nc: NatsConnection;
  readonly secretKey: string;
  readonly token: string;
  readonly logger: Logger;
  /** Simulator time as a Date (milliseconds). */
  clock(): Date;
  logText(): string;
  /** Configuration a fetcher of this fixture starts with (overrides on top). */
  config(overrides?: Record<string, string>): FetcherConfig;
  /** A runner on this fixture; `wrapPublisher` lets a test break publishing. */
  runner(
    spec: ApiSpec,
    options?: {
      settings?: Partial<JobRunnerSettings>;
      wrapPublisher?: (p: RawPublisher) => RawPublisher;
      random?: () => number;
      store?: MongoEventStore;
      sourceFolds?: JobRunnerDeps['sourceFolds'];
      tokenFolds?: JobRunnerDeps['tokenFolds'];
    },
  ): JobRunner;
  /** Creates a source (Initialized, generation 1) collecting `apis` from the simulator (or `baseUrl`); returns its id. */
  createSource(apis: readonly SourceApi[], options?: { token?: string; baseUrl?: string; options?: SourceOptions }): Promise<string>;
  /** Runs a command on a source, as the registry or scheduler would. */
  sourceCommand(sourceId: string, command: (state: SourceState) => SourceCommand): Promise<void>;
  /** PlanCollection at the simulator's now; `backfillMs` defaults to 24 h. */
  plan(sourceId: string, api: SourceApi, options?: { backfillMs?: number }): Promise<void>;
  /** Dispatches the lane's due job as the scheduler would (planSteps) and returns the FetchJob. */
  /**
   * Decides the lane's next job as the scheduler does and appends its JobDispatched; `deferred`: as
   * the scheduler does now, appends nothing and returns the job with the collection it was decided on.
   */
  dispatch(sourceId: string, api: SourceApi, lane: Lane, options?: { withFolds?: boolean; deferred?: boolean }): Promise<FetchJob>;
  /** Runs a command on a collection. */
  collectionCommand(sourceId: string, api: SourceApi, command: (state: CollectionState) => CollectionCommand): Promise<void>;
  /** Publishes a job to `s1c.job.<api>`, as the scheduler does. */
  publishJob(job: FetchJob): Promise<void>;
  collectionEvents(sourceId: string, api: SourceApi): Promise<CollectionEvent[]>;
  collectionState(sourceId: string, api: SourceApi): Promise<CollectionState>;
  /** Every raw record published for a source and API, in stream order. */
  rawRecords(api: SourceApi, sourceId: string): Promise<RawRecordSeen[]>;
  /** Walks the simulator directly (not through the client under test) with the given query. */
  simulatorRecords(api: SourceApi, query: Record<string, string>): Promise<SimRecord[]>;
  /** API list requests the simulator received (`system/info` left out), oldest first. */
  listRequests(api: SourceApi): Array<{ query: Readonly<Record<string, string>>; status: number }>;
  close(): Promise<void>;
}

export const SIM_START = '2024-06-01T12:00:00.000000Z';

/** Starts a {@link FetcherFixture}. */
export async function startFetcherFixture(options: FetcherFixtureOptions = {}): Promise<FetcherFixture> {
  const { natsUrl, mongoUrl } = serverUrls();
  const token = options.token ?? `tok-${randomBytes(12).toString('hex')}`;
  const sim = await startSimulator({
    clock: 'manual',
    startTime: SIM_START,
    activities: 2_500,
    agents: 150,
    threats: 300,
    tokens: [{ token, label: 'console' }],
    ...options.simulator,
  });
  const dbName = uniqueDbName('fetcher');
  const mongo = await MongoClient.connect(mongoUrl);
  const db = mongo.db(dbName);
  const clock = () => new Date(Date.parse(sim.admin.now()));
  const store = new MongoEventStore(db, { clock });
  await store.ensureIndexes();
  const nc = await connect({ servers: natsUrl });
  await declareStreams(await nc.jetstreamManager());
  const secretKey = randomBytes(32).toString('base64');
  const secrets = SecretBox.fromKeyList(secretKey);
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  const logger = createLogger({ name: 'fetcher-test', level: 'debug', destination });
  const sources = new AggregateRepository<SourceState, SourceCommand, SourceEvent>(store, sourceDecider, isSourceEvent);
  const collections = new AggregateRepository<CollectionState, CollectionCommand, CollectionEvent>(
    store,
    collectionDecider(),
    isCollectionEvent,
  );
  const now = () => clock();

  const config = (overrides: Record<string, string> = {}) =>
    loadFetcherConfig({
      // No metrics endpoint: test files run side by side, and would all want the default port.
      S1C_METRICS_PORT: '0',
      NATS_URL: natsUrl,
      MONGO_URL: mongoUrl,
      S1C_DB_NAME: dbName,
      S1C_SECRET_KEY: secretKey,
      S1C_ALLOW_INSECURE_BASE_URL: 'true',
      S1C_S1_REQUESTS_PER_SECOND: '500',
      S1C_S1_TIMEOUT: '10s',
      S1C_EVENT_GAP_TIMEOUT: '500ms',
      LOG_LEVEL: 'debug',
      ...overrides,
    });

  const fixture: FetcherFixture = {
    sim,
    db,
    dbName,
    store,
    nc,
    secretKey,
    token,
    logger,
    clock,
    logText: () => lines.join(''),
    config,
    runner(spec, runnerOptions = {}) {
      const base = jetStreamRawPublisher(nc.jetstream());
      const defaults = config();
      return new JobRunner({
        spec,
        store: runnerOptions.store ?? store,
        publisher: runnerOptions.wrapPublisher ? runnerOptions.wrapPublisher(base) : base,
        secrets,
        settings: {
          maxPagesPerJob: defaults.S1C_MAX_PAGES_PER_JOB,
          requestsPerSecond: defaults.S1C_S1_REQUESTS_PER_SECOND,
          s1TimeoutMs: defaults.S1C_S1_TIMEOUT,
          allowInsecure: true,
          retryPolicy: retryPolicyOf(defaults),
          ...runnerOptions.settings,
        },
        logger,
        clock,
        random: runnerOptions.random ?? (() => 0.5),
        ...(runnerOptions.sourceFolds ? { sourceFolds: runnerOptions.sourceFolds } : {}),
        ...(runnerOptions.tokenFolds ? { tokenFolds: runnerOptions.tokenFolds } : {}),
      });
    },
    async createSource(apis, sourceOptions = {}) {
      const sourceId = randomUUID();
      const secret = secrets.encrypt(sourceOptions.token ?? token, sourceId);
      await sources.execute(sourceStreamId(sourceId), () => ({
        type: 'CreateSource',
        data: {
          sourceId,
          collectorId: 'default',
          config: {
            name: `S1 ${sourceId.slice(0, 8)}`,
            description: null,
            category: 'sec/s1',
            fields: [],
            baseUrl: sourceOptions.baseUrl ?? `${sim.url}/`,
            supportedApis: apis,
            ...(sourceOptions.options ? { options: sourceOptions.options } : {}),
          },
          secret,
        },
        metadata: { now: now() },
      }));
      for (const type of ['StartCollection', 'InitializeCollection'] as const) {
        await sources.execute(sourceStreamId(sourceId), () => ({ type, data: { sourceId, generation: 1 }, metadata: { now: now() } }));
      }
      return sourceId;
    },
    async sourceCommand(sourceId, command) {
      await sources.execute(sourceStreamId(sourceId), command);
    },
    async plan(sourceId, api, planOptions = {}) {
      await collections.execute(collectionStreamId(sourceId, api), () => ({
        type: 'PlanCollection',
        data: { sourceId, api, generation: 1, baseUrl: `${sim.url}/`, backfillMs: planOptions.backfillMs ?? 24 * 3_600_000 },
        metadata: { now: now() },
      }));
    },
    async dispatch(sourceId, api, lane, dispatchOptions = {}) {
      const streamId = collectionStreamId(sourceId, api);
      const { state, version, position } = await collections.load(streamId);
      const step = planSteps(state, now(), PLAN_SETTINGS).find((s) => s.type === 'dispatch' && s.lane === lane);
      if (!step || step.type !== 'dispatch' || state.status !== 'Planned') throw new Error(`lane ${lane} of ${streamId} is not due`);
      // The scheduler's deterministic id: a second replica's identical plan collides on the version.
      const jobId = `${sourceId}:${api}:${lane}:${version + 1}`;
      const at = now();
      // As the scheduler publishes it: the source version it saw.
      const sourceVersion = await store.streamVersion(sourceStreamId(sourceId));
      const job = {
        jobId,
        sourceId,
        api,
        lane,
        generation: state.generation,
        window: step.window,
        resume: step.resume,
        dispatchedAt: toMicroIso(at),
        ...(sourceVersion > 0 ? { sourceVersion } : {}),
      };
      if (dispatchOptions.deferred) {
        const fold = dispatchOptions.withFolds === false ? {} : { collectionFold: { state, version, position: position ?? 0 } };
        return { ...job, collectionVersion: version + 1, ...fold, deferred: true as const };
      }
      const { events } = await collections.execute(
        streamId,
        () => ({ type: 'DispatchJob', data: { jobId, lane, window: step.window, resume: step.resume }, metadata: { now: at } }),
        { expectedVersion: version },
      );
      const dispatched = events[0]!;
      // Where its JobDispatched is and, as the scheduler does, the collection folded right after it.
      const folds = dispatchOptions.withFolds
        ? {
            collectionFold: { state: evolveCollection(state, dispatched as unknown as CollectionEvent), version: dispatched.version, position: dispatched.position },
          }
        : {};
      return { ...job, collectionVersion: dispatched.version, collectionPosition: dispatched.position, ...folds };
    },
    async collectionCommand(sourceId, api, command) {
      await collections.execute(collectionStreamId(sourceId, api), command);
    },
    async publishJob(job) {
      await publishJson(nc.jetstream(), subjects.job(job.api), job, { msgId: job.jobId });
    },
    async collectionEvents(sourceId, api) {
      const recorded: RecordedEvent[] = await store.readStream(collectionStreamId(sourceId, api));
      return recorded.map((e) => ({ type: e.type, data: e.data }) as CollectionEvent);
    },
    async collectionState(sourceId, api) {
      return foldCollection(await fixture.collectionEvents(sourceId, api));
    },
    async rawRecords(api, sourceId) {
      const subject = subjects.raw(api, sourceId);
      const jsm = await nc.jetstreamManager();
      const info = await jsm.streams.info(STREAMS.raw.name, { subjects_filter: subject });
      const count = info.state.subjects?.[subject] ?? 0;
      if (count === 0) return [];
      const consumer = await nc.jetstream().consumers.get(STREAMS.raw.name, { filterSubjects: subject });
      const out: RawRecordSeen[] = [];
      // Raw batches are up to 512 KiB each: a small pull keeps the server from cutting the client off as slow.
      const messages = await consumer.consume({ max_messages: 16 });
      let seen = 0;
      for await (const m of messages as AsyncIterable<JsMsg>) {
        const headers: Record<string, string> = {};
        for (const [key, values] of m.headers ?? []) headers[key] = values[0] ?? '';
        const ids = JSON.parse(headers[RAW_BATCH_HEADERS.recordIds] ?? '[]') as string[];
        const { records } = parseListBody(Buffer.from(m.data));
        if (records.length !== ids.length) throw new Error(`raw batch ${m.seq} holds ${records.length} records for ${ids.length} ids`);
        records.forEach((r, i) => out.push({ subject: m.subject, seq: m.seq, recordId: ids[i]!, body: r.json, headers }));
        if (++seen >= count) break;
      }
      await messages.close();
      return out;
    },
    async simulatorRecords(api, query) {
      const out: SimRecord[] = [];
      let cursor: string | null = null;
      do {
        const params = new URLSearchParams({ ...query, limit: '1000', ...(cursor ? { cursor } : {}) });
        const res = await fetch(`${sim.apiUrl}/${API_PATHS[api]}?${params}`, { headers: { Authorization: `ApiToken ${token}` } });
        if (!res.ok) throw new Error(`simulator answered ${res.status}`);
        const page = parseListBody(Buffer.from(await res.arrayBuffer()));
        out.push(...page.records);
        cursor = page.nextCursor;
      } while (cursor);
      return out;
    },
    listRequests(api) {
      return sim.admin
        .requests()
        .filter((r) => r.path === `/web/api/v2.1/${API_PATHS[api]}`)
        .map((r) => ({ query: r.query, status: r.status }));
    },
    async close() {
      await nc.close();
      await sim.close();
      await mongo.close();
    },
  };
  return fixture;
}

/** Waits until `check` returns something other than undefined/false, polling every 50 ms. */
export async function eventually<T>(check: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 20_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      lastError = error;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}`);
}

/** The events of a type in a collection's stream, a JobRan read as the three events it stands for. */
export function eventsOf<T extends CollectionEvent['type']>(events: readonly CollectionEvent[], type: T): Array<Extract<CollectionEvent, { type: T }>> {
  return events.flatMap(expandCollectionEvent).filter((e): e is Extract<CollectionEvent, { type: T }> => e.type === type);
}


