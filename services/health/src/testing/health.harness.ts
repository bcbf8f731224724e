import {
  collectionDecider,
  isCollectionEvent,
  isSourceEvent,
  sourceDecider,
  type CollectionCommand,
  type CollectionEvent,
  type CollectionState,
  type SourceCommand,
  type SourceEvent,
  type SourceState,
} from '@s1c/domain';
import { AggregateRepository, MongoEventStore, OutboxRelay } from '@s1c/event-store';
import { createLogger, type Logger } from '@s1c/logger';
import { serverUrls, uniqueDbName } from '@s1c/test-harness';
import { ensureStream, STREAMS } from '@s1c/messaging';
import { MongoClient, type Db } from 'mongodb';
import { connect } from 'nats';
import { Writable } from 'node:stream';
import { startHealth, type HealthRuntime } from '../health.app';
import { loadHealthConfig } from '../health.config';

/**
 * A health service on the harness's real servers, with a log writer and a settable clock. The
 * harness also plays the registry's relay, which publishes what the test appends to S1C_EVENTS.
 */
export interface HealthUnderTest {
  readonly runtime: HealthRuntime;
  readonly db: Db;
  readonly store: MongoEventStore;
  readonly sources: AggregateRepository<SourceState, SourceCommand, SourceEvent>;
  readonly collections: AggregateRepository<CollectionState, CollectionCommand, CollectionEvent>;
  readonly url: string;
  /** The service's "now" (lag is measured against it). */
  setNow(now: Date): void;
  /** Publishes what the test appended, then waits until the read models (and those of every replica started) have applied it. */
  caughtUp(): Promise<void>;
  /** GET with the harness's token (unless `token` says otherwise); returns status, headers and parsed body. */
  get(path: string, options?: { token?: string | null }): Promise<Reply>;
  /**
   * Starts another health service on the same database and servers (a second replica, or the
   * service started again), with the same clock; it is caught up when this resolves. Closed with
   * this one.
   */
  startReplica(): Promise<HealthReplica>;
  logText(): string;
  close(): Promise<void>;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Reply = { status: number; headers: Headers; text: string; body: any };

export interface HealthReplica {
  readonly runtime: HealthRuntime;
  get(path: string, options?: { token?: string | null }): Promise<Reply>;
  close(): Promise<void>;
}

export async function startHealthUnderTest(
  options: { token?: string; natsUrl?: string; dbName?: string; now?: Date } = {},
): Promise<HealthUnderTest> {
  const { natsUrl, mongoUrl } = serverUrls();
  const dbName = options.dbName ?? uniqueDbName('health');
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  const logger: Logger = createLogger({ name: 'health', level: 'debug', destination });
  let now = options.now ?? new Date();
  const config = loadHealthConfig({
    NATS_URL: options.natsUrl ?? natsUrl,
    MONGO_URL: mongoUrl,
    S1C_DB_NAME: dbName,
    S1C_HEALTH_PORT: '0',
    S1C_HEALTH_HOST: '127.0.0.1',
    S1C_API_TOKEN: options.token,
    S1C_EVENT_GAP_TIMEOUT: '500ms',
  });
  const runtime = await startHealth(config, { logger, clock: () => now });
  // startHealth resolves before the log is replayed: wait for it, as a test expects a ready service.
  await runtime.readModel.catchUp();
  const mongo = await MongoClient.connect(mongoUrl);
  const db = mongo.db(dbName);
  const store = new MongoEventStore(db);
  await store.ensureIndexes();
  const nc = await connect({ servers: options.natsUrl ?? natsUrl });
  const jsm = await nc.jetstreamManager();
  await ensureStream(jsm, STREAMS.events);
  const relay = new OutboxRelay(store, db, nc.jetstream(), jsm, {
    name: 'test-relay',
    streamName: STREAMS.events.name,
    subjectFor: (event) => `s1c.evt.test.${event.streamId}.${event.type}`,
    pollIntervalMs: 50,
  });
  await relay.start();
  const replicas: HealthReplica[] = [];
  const getFrom = async (url: string, path: string, getOptions: { token?: string | null } = {}): Promise<Reply> => {
    const token = getOptions.token === undefined ? options.token : getOptions.token;
    const response = await fetch(new URL(path, url), { headers: token ? { Authorization: `Bearer ${token}` } : {} });
    const text = await response.text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    return { status: response.status, headers: response.headers, text, body };
  };
  return {
    runtime,
    db,
    store,
    sources: new AggregateRepository(store, sourceDecider, isSourceEvent),
    collections: new AggregateRepository(store, collectionDecider(), isCollectionEvent),
    url: runtime.url,
    setNow(next) {
      now = next;
    },
    async caughtUp() {
      await relay.flush();
      await runtime.readModel.catchUp();
      for (const replica of replicas) await replica.runtime.readModel.catchUp();
    },
    get: (path, getOptions) => getFrom(runtime.url, path, getOptions),
    async startReplica() {
      const other = await startHealth(config, { logger, clock: () => now });
      const replica: HealthReplica = { runtime: other, get: (path, getOptions) => getFrom(other.url, path, getOptions), close: () => other.close() };
      replicas.push(replica);
      await other.readModel.catchUp();
      return replica;
    },
    logText: () => lines.join(''),
    async close() {
      for (const replica of replicas) await replica.close();
      await runtime.close();
      await relay.stop();
      await nc.close();
      await mongo.close();
    },
  };
}
