import { fetchJobSchema, type FetchJob } from '@s1c/contracts';
import {
  collectionStreamId,
  parseMicros,
  sourceStreamId,
  type CollectionCommand,
  type CollectionState,
  type DispatchJob,
  type ErrorType,
  type Lane,
  type Progress,
  type SourceApi,
  type SourceCommand,
  type SourceConfig,
  type SourceState,
} from '@s1c/domain';
import { MongoEventStore, OutboxRelay, type RecordedEvent } from '@s1c/event-store';
import { createLogger } from '@s1c/logger';
import { ensureStream, STREAMS } from '@s1c/messaging';
import { serverUrls, uniqueDbName } from '@s1c/test-harness';
import { MongoClient, type Db } from 'mongodb';
import { AckPolicy, connect, type NatsConnection } from 'nats';
import { Writable } from 'node:stream';
import { startScheduler, type SchedulerRuntime } from '../scheduler.app';
import { loadSchedulerConfig } from '../scheduler.config';
import { createRepositories, type CollectionRepository, type SourceRepository } from '../scheduler.repositories';
import { SECRET, sourceConfig } from './memory.log';

export { sourceConfig };

/** A time the tests control: nothing moves unless they advance it. */
export class ManualClock {
  constructor(private current: Date) {}
  readonly now = (): Date => this.current;
  advance(ms: number): void {
    this.current = new Date(this.current.getTime() + ms);
  }
  set(to: Date | string): void {
    this.current = new Date(to);
  }
}

export const TEST_ENV = {
  // No metrics endpoint: test files run side by side, and would all want the default port.
  S1C_METRICS_PORT: '0',
  S1C_BACKFILL: '24h',
  S1C_POLL_INTERVAL: '5m',
  S1C_LIVE_OVERLAP: '2m',
  S1C_AGENT_SNAPSHOT_INTERVAL: '24h',
  S1C_JOB_STALL_TIMEOUT: '8m',
  S1C_SCHEDULER_TICK: '1s',
  S1C_EVENT_GAP_TIMEOUT: '500ms',
} as const;

/** A scheduler on the harness's real servers, with its log lines captured. */
export interface SchedulerUnderTest {
  readonly runtime: SchedulerRuntime;
  logText(): string;
  close(): Promise<void>;
}

export async function startSchedulerUnderTest(
  dbName: string,
  options: { clock?: () => Date; background?: boolean; env?: Record<string, string> } = {},
): Promise<SchedulerUnderTest> {
  const { natsUrl, mongoUrl } = serverUrls();
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  const config = loadSchedulerConfig({ NATS_URL: natsUrl, MONGO_URL: mongoUrl, S1C_DB_NAME: dbName, ...TEST_ENV, ...options.env });
  const runtime = await startScheduler(config, {
    logger: createLogger({ name: 'scheduler', level: 'debug', destination }),
    background: options.background ?? false,
    ...(options.clock ? { clock: options.clock } : {}),
  });
  return { runtime, logText: () => lines.join(''), close: () => runtime.close() };
}

/**
 * The log as the registry and the fetchers write it: the test plays them, through the same
 * deciders and repositories, on a fresh database. It also plays the registry's outbox relay, which
 * publishes every append (the scheduler's too) to S1C_EVENTS: each write of the test returns once
 * it is on the stream, so the scheduler's next tick reads it.
 */
export class TestLog {
  private constructor(
    readonly dbName: string,
    private readonly mongo: MongoClient,
    private readonly nc: NatsConnection,
    readonly db: Db,
    readonly store: MongoEventStore,
    readonly relay: OutboxRelay,
    private readonly sources: SourceRepository,
    private readonly collections: CollectionRepository,
    private readonly clock: () => Date,
  ) {}

  static async open(clock: () => Date): Promise<TestLog> {
    const { mongoUrl, natsUrl } = serverUrls();
    const mongo = await MongoClient.connect(mongoUrl);
    const dbName = uniqueDbName('scheduler');
    const db = mongo.db(dbName);
    const store = new MongoEventStore(db);
    const nc = await connect({ servers: natsUrl });
    const jsm = await nc.jetstreamManager();
    await ensureStream(jsm, STREAMS.events);
    const relay = new OutboxRelay(store, db, nc.jetstream(), jsm, {
      name: 'test-relay',
      streamName: STREAMS.events.name,
      subjectFor: (event) => `s1c.evt.test.${event.streamId}.${event.type}`,
      pollIntervalMs: 50,
    });
    await relay.start();
    const { sources, collections } = createRepositories(store);
    return new TestLog(dbName, mongo, nc, db, store, relay, sources, collections, clock);
  }

  async source(sourceId: string, command: (now: Date) => SourceCommand): Promise<void> {
    await this.sources.execute(sourceStreamId(sourceId), () => command(this.clock()), { metadata: { actor: 'test' } });
    await this.relay.flush();
  }

  async collection(
    sourceId: string,
    api: SourceApi,
    command: (now: Date) => CollectionCommand,
    before: (state: CollectionState) => CollectionCommand[] = () => [],
  ): Promise<RecordedEvent[]> {
    const result = await this.collections.execute(collectionStreamId(sourceId, api), (state) => [...before(state), command(this.clock())], {
      metadata: { actor: 'test' },
    });
    await this.relay.flush();
    return [...result.events];
  }

  create(sourceId: string, config: SourceConfig = sourceConfig()): Promise<void> {
    return this.source(sourceId, (now) => ({ type: 'CreateSource', data: { sourceId, collectorId: 'default', config, secret: SECRET }, metadata: { now } }));
  }

  async sourceState(sourceId: string): Promise<SourceState> {
    return (await this.sources.load(sourceStreamId(sourceId))).state;
  }

  async collectionState(sourceId: string, api: SourceApi): Promise<CollectionState> {
    return (await this.collections.load(collectionStreamId(sourceId, api))).state;
  }

  /**
   * Appends `command` of `job` as a fetcher does: with the job's JobDispatched first when the job
   * is deferred and not in flight yet (its first record), then `alsoFirst`'s commands.
   */
  private record(job: FetchJob, command: (now: Date) => CollectionCommand, alsoFirst: (now: Date) => CollectionCommand[] = () => []): Promise<RecordedEvent[]> {
    return this.collection(job.sourceId, job.api, (now) => command(now), (state) => {
      const inFlight = state.status === 'Planned' && state.jobs[job.lane]?.jobId === job.jobId;
      return [...this.dispatchFirst(job, inFlight), ...alsoFirst(this.clock())];
    });
  }

  private dispatchFirst(job: FetchJob, inFlight: boolean): CollectionCommand[] {
    if (inFlight || !job.deferred) return [];
    const { jobId, lane, window, resume, generation } = job;
    const dispatch: DispatchJob = {
      type: 'DispatchJob',
      data: { jobId, lane, window, resume, generation },
      metadata: { now: new Date(parseMicros(job.dispatchedAt)! / 1000) },
    };
    return [dispatch];
  }

  async events(streamId: string): Promise<RecordedEvent[]> {
    return this.store.readStream(streamId);
  }

  async types(streamId: string): Promise<string[]> {
    return (await this.events(streamId)).map((e) => e.type);
  }

  /** Every JobDispatched in the log, in order. */
  async dispatched(): Promise<Array<RecordedEvent<string, Record<string, unknown>>>> {
    const docs = await this.db.collection('events').find({ type: 'JobDispatched' }).sort({ position: 1 }).toArray();
    return docs.map((d) => ({ ...d, eventId: String(d._id) }) as unknown as RecordedEvent<string, Record<string, unknown>>);
  }

  /** Plays a fetcher on a job as published: records the token as verified, pages, completion or failure. */
  fetcher(job: FetchJob) {
    const { jobId } = job;
    const progress: Progress = { cursor: 'cursor-1', walkFrom: '2026-02-28T12:00:00.000000Z', lastTimestamp: '2026-02-28T12:30:00.000000Z', records: 1000, pages: 1 };
    return {
      progress,
      verify: () => this.record(job, (now) => ({ type: 'RecordTokenVerified', data: { jobId }, metadata: { now } })),
      page: () => this.record(job, (now) => ({ type: 'RecordPage', data: { jobId, progress, pageRecords: 1000, rateLimited: false }, metadata: { now } })),
      complete: (finished: boolean) => this.record(job, (now) => ({ type: 'CompleteJob', data: { jobId, finished, progress }, metadata: { now } })),
      /** Its one page and its end in one append, as a live poll records them (a JobRan when deferred). */
      run: (finished: boolean) =>
        this.record(
          job,
          (now) => ({ type: 'CompleteJob', data: { jobId, finished, progress }, metadata: { now } }),
          (now) => [{ type: 'RecordPage', data: { jobId, progress, pageRecords: 1000, rateLimited: false }, metadata: { now } }],
        ),
      fail: (errorType: ErrorType, reason = 'HTTP 401 Unauthorized') =>
        this.record(job, (now) => ({ type: 'FailJob', data: { jobId, errorType, reason, random: 0.5 }, metadata: { now } })),
    };
  }

  async close(): Promise<void> {
    await this.relay.stop();
    await this.nc.close();
    await this.mongo.close();
  }
}

/** A job received from `s1c.job.<api>`. */
export interface ReceivedJob {
  readonly subject: string;
  readonly msgId: string | undefined;
  readonly job: FetchJob;
}

const INBOX_DURABLE = 'scheduler-test-inbox';

/**
 * Plays the fetchers' side of the work queue: one durable consumer over every `s1c.job.*` subject
 * (a work-queue stream allows no overlapping consumers, so there is one per test run), keeping
 * every job it took.
 */
export class JobInbox {
  readonly received: ReceivedJob[] = [];
  private constructor(readonly nc: NatsConnection) {}

  static async open(): Promise<JobInbox> {
    const inbox = new JobInbox(await connect({ servers: serverUrls().natsUrl }));
    await inbox.declare();
    return inbox;
  }

  /** (Re)creates the jobs stream and the consumer, e.g. after a test deleted the stream. */
  async declare(): Promise<void> {
    const jsm = await this.nc.jetstreamManager();
    await ensureStream(jsm, STREAMS.jobs);
    try {
      await jsm.consumers.info(STREAMS.jobs.name, INBOX_DURABLE);
    } catch {
      await jsm.consumers.add(STREAMS.jobs.name, { durable_name: INBOX_DURABLE, ack_policy: AckPolicy.Explicit, filter_subject: 's1c.job.>' });
    }
  }

  /** Takes (and acks) every job waiting on the queue; returns those of `sourceId`, in order. */
  async take(sourceId?: string): Promise<ReceivedJob[]> {
    const consumer = await this.nc.jetstream().consumers.get(STREAMS.jobs.name, INBOX_DURABLE);
    const taken: ReceivedJob[] = [];
    for (;;) {
      const pending = (await consumer.info()).num_pending;
      if (pending === 0) break;
      const messages = await consumer.fetch({ max_messages: pending, expires: 2000 });
      for await (const m of messages) {
        const received = { subject: m.subject, msgId: m.headers?.get('Nats-Msg-Id'), job: fetchJobSchema.parse(m.json()) };
        taken.push(received);
        this.received.push(received);
        await m.ackAck();
      }
    }
    return sourceId === undefined ? taken : taken.filter((r) => r.job.sourceId === sourceId);
  }

  /** The last job received for a lane (taking what waits on the queue first). */
  async job(sourceId: string, api: SourceApi, lane: Lane): Promise<FetchJob> {
    await this.take();
    const job = this.received.findLast((r) => r.job.sourceId === sourceId && r.job.api === api && r.job.lane === lane)?.job;
    if (!job) throw new Error(`no ${lane} job received for ${sourceId}/${api}`);
    return job;
  }

  /** Every job of `sourceId` received so far. */
  of(sourceId: string): ReceivedJob[] {
    return this.received.filter((r) => r.job.sourceId === sourceId);
  }

  async close(): Promise<void> {
    const jsm = await this.nc.jetstreamManager();
    await jsm.consumers.delete(STREAMS.jobs.name, INBOX_DURABLE).catch(() => undefined);
    await this.nc.close();
  }
}
