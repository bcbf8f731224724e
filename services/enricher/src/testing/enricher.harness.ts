import { RAW_BATCH_HEADERS } from '@s1c/contracts';
import { listBodyOf, parseListBody } from '@s1c/s1-client';
import { isSourceEvent, siemEventId, sourceDecider, sourceStreamId, type CustomField, type SourceApi, type SourceCommand, type SourceConfig, type SourceState } from '@s1c/domain';
import { AggregateRepository, MongoEventStore, OutboxRelay, type RecordedEvent } from '@s1c/event-store';
import { createLogger, type Logger } from '@s1c/logger';
import { STREAMS, declareStreams, publishBytes, subjects } from '@s1c/messaging';
import { serverUrls, uniqueDbName } from '@s1c/test-harness';
import { MongoClient, type Db } from 'mongodb';
import { AckPolicy, connect, nanos, type JetStreamClient, type JetStreamManager, type JsMsg, type NatsConnection } from 'nats';
import { Writable } from 'node:stream';
import { loadEnricherConfig } from '../enricher.config';
import { startEnricher, type EnricherRuntime } from '../enricher.app';
import { DATA_RECORD_HEADERS } from '@s1c/delivery';

/** The test's own handles on the servers and the log, beside the enricher under test. */
export interface EnricherWorld {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly db: Db;
  readonly dbName: string;
  readonly store: MongoEventStore;
  readonly sources: AggregateRepository<SourceState, SourceCommand, never>;
  /** Every log line the enrichers of this world wrote. */
  logText(): string;
  /** Starts an enricher on this world's database with extra environment. */
  start(env?: Record<string, string>): Promise<EnricherRuntime>;
  close(): Promise<void>;
}

/**
 * Real NATS and FerretDB from the harness, a fresh database, and clean raw/data streams and
 * consumers (the streams' names are fixed, so test files run one after another).
 */
export async function createEnricherWorld(): Promise<EnricherWorld> {
  const { natsUrl, mongoUrl } = serverUrls();
  const dbName = uniqueDbName('enricher');
  const nc = await connect({ servers: natsUrl });
  const jsm = await nc.jetstreamManager();
  await declareStreams(jsm);
  for (const [stream, durable] of [
    [STREAMS.raw.name, 'enricher'],
    [STREAMS.data.name, 'sink-http'],
    [STREAMS.data.name, 'sink-file'],
  ] as const) {
    await jsm.consumers.delete(stream, durable).catch(() => undefined);
  }
  for (const stream of [STREAMS.raw.name, STREAMS.data.name, STREAMS.deadLetters.name]) await jsm.streams.purge(stream);
  const mongo = await MongoClient.connect(mongoUrl);
  const db = mongo.db(dbName);
  const store = new MongoEventStore(db);
  await store.ensureIndexes();
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  const logger: Logger = createLogger({ name: 'enricher', level: 'debug', destination });
  // The registry's part: what the test appends to the log reaches S1C_EVENTS, as source events there.
  const relay = new OutboxRelay(store, db, nc.jetstream(), jsm, { name: 'test', streamName: STREAMS.events.name, subjectFor: testSubjectFor, pollIntervalMs: 50 });
  await relay.start();
  const runtimes: EnricherRuntime[] = [];
  return {
    nc,
    js: nc.jetstream(),
    jsm,
    db,
    dbName,
    store,
    sources: new AggregateRepository(store, sourceDecider as never, isSourceEvent),
    logText: () => lines.join(''),
    async start(env = {}) {
      const config = loadEnricherConfig({
        // No metrics endpoint: test files run side by side, and would all want the default port.
        S1C_METRICS_PORT: '0',
        NATS_URL: natsUrl,
        MONGO_URL: mongoUrl,
        S1C_DB_NAME: dbName,
        S1C_SOURCE_REFRESH_INTERVAL: '200ms',
        S1C_EVENT_GAP_TIMEOUT: '300ms',
        S1C_ENRICHER_ACK_WAIT: '3s',
        S1C_SINK_ACK_WAIT: '3s',
        S1C_SINK_FLUSH_INTERVAL: '300ms',
        S1C_SINK_RETRY_INITIAL: '100ms',
        S1C_SINK_RETRY_MAX: '1s',
        LOG_LEVEL: 'debug',
        ...env,
      });
      const runtime = await startEnricher(config, { logger });
      runtimes.push(runtime);
      return runtime;
    },
    async close() {
      for (const runtime of runtimes) await runtime.close();
      await relay.stop();
      await nc.close();
      await mongo.close();
    },
  };
}

/**
 * A source whose first event never reaches `s1c.evt.source.>`, as when it expired from S1C_EVENTS
 * (its later events do): the enricher reads that version from the log.
 */
export const UNRELAYED_SOURCE = 'unrelayed';

/** The relay's subjects, as the registry's for source streams (`s1c.evt.source.<id>.<Type>`). */
function testSubjectFor(event: RecordedEvent): string {
  const source = 'source-';
  return event.streamId.startsWith(source) && !(event.streamId === `${source}${UNRELAYED_SOURCE}` && event.version === 1)
    ? `s1c.evt.source.${event.streamId.slice(source.length)}.${event.type}`
    : `s1c.evt.test.${event.streamId}.${event.type}`;
}

/** A source configuration with overrides. */
export function sourceConfig(overrides: Partial<SourceConfig> & { fields?: CustomField[] } = {}): SourceConfig {
  return {
    name: 'SentinelOne',
    description: null,
    category: 'sec/s1',
    fields: [],
    baseUrl: 'https://usea1-partners.sentinelone.net/',
    supportedApis: ['activities', 'agents', 'threats'],
    ...overrides,
  };
}

const SECRET = { alg: 'A256GCM', kid: 'k1', iv: 'aXY=', ct: 'Y3Q=', tag: 'dGFn' } as const;
const now = () => ({ now: new Date() });

/** Creates a source in the log as the registry would; returns its stream version. */
export async function createSource(world: EnricherWorld, sourceId: string, config: SourceConfig, collectorId = 'default'): Promise<number> {
  const result = await world.sources.execute(sourceStreamId(sourceId), () => ({
    type: 'CreateSource',
    data: { sourceId, collectorId, config, secret: SECRET },
    metadata: now(),
  }));
  return result.version;
}

/** Updates a source's configuration; returns the new stream version. */
export async function updateSource(world: EnricherWorld, sourceId: string, config: SourceConfig): Promise<number> {
  return (await world.sources.execute(sourceStreamId(sourceId), () => ({ type: 'UpdateSource', data: { sourceId, config }, metadata: now() }))).version;
}

/** Deletes a source (Stopping, then Deleted); returns the new stream version. */
export async function deleteSource(world: EnricherWorld, sourceId: string): Promise<number> {
  await world.sources.execute(sourceStreamId(sourceId), () => ({ type: 'DeleteSource', data: { sourceId }, metadata: now() }));
  return (await world.sources.execute(sourceStreamId(sourceId), () => ({ type: 'CompleteSourceDeletion', data: { sourceId }, metadata: now() }))).version;
}

export interface RawRecordSpec {
  readonly sourceId: string;
  readonly api: SourceApi;
  readonly recordId: string;
  readonly sourceVersion: number;
  /** The SentinelOne object's exact JSON. */
  readonly body: string | Uint8Array;
  /** Further records of the same raw batch, after this one. */
  readonly more?: ReadonlyArray<{ readonly recordId: string; readonly body: string | Uint8Array }>;
  readonly collectorId?: string;
  readonly fetchedAt?: string;
  /** The records' day; defaults to today (UTC). */
  readonly day?: string;
  /** Defaults to the record id. */
  readonly msgId?: string;
  /** Replaces or removes (undefined) headers. */
  readonly headers?: Record<string, string | undefined>;
  /**
   * Published as a fetcher before `S1c-Record-Lengths` was: without the lengths and event ids,
   * so the enricher parses the body. Needed for a body that is not JSON (the ids cannot be had).
   */
  readonly withoutLengths?: boolean;
}

/** Today (UTC), `YYYY-MM-DD`: the day the delivered set keeps a test's records under by default. */
export function today(): string {
  return new Date().toISOString().slice(0, 10);
}

/** Publishes a raw batch of one record (and `more`) as a fetcher does (COLLECTION.md, RAW_BATCH_HEADERS). */
export async function publishRaw(world: EnricherWorld, spec: RawRecordSpec): Promise<void> {
  const records = [{ recordId: spec.recordId, body: spec.body }, ...(spec.more ?? [])];
  const bytes = records.map((r) => (typeof r.body === 'string' ? new TextEncoder().encode(r.body) : r.body));
  // What the fetcher sends: each record's length, and its _siemEventID from the parsed record.
  const cut = spec.withoutLengths
    ? {}
    : {
        [RAW_BATCH_HEADERS.recordLengths]: JSON.stringify(bytes.map((b) => b.length)),
        [RAW_BATCH_HEADERS.recordEventIds]: JSON.stringify(eventIdsOf(spec.api, bytes)),
      };
  const headers: Record<string, string | undefined> = {
    ...cut,
    [RAW_BATCH_HEADERS.recordIds]: JSON.stringify(records.map((r) => r.recordId)),
    [RAW_BATCH_HEADERS.recordDay]: spec.day ?? today(),
    [RAW_BATCH_HEADERS.sourceId]: spec.sourceId,
    [RAW_BATCH_HEADERS.collectorId]: spec.collectorId ?? 'default',
    [RAW_BATCH_HEADERS.api]: spec.api,
    [RAW_BATCH_HEADERS.lane]: 'live',
    [RAW_BATCH_HEADERS.jobId]: `${spec.sourceId}:${spec.api}:live:1`,
    [RAW_BATCH_HEADERS.generation]: '1',
    [RAW_BATCH_HEADERS.sourceVersion]: String(spec.sourceVersion),
    [RAW_BATCH_HEADERS.fetchedAt]: spec.fetchedAt ?? '2026-01-02T03:04:05.123456Z',
    ...spec.headers,
  };
  const defined = Object.fromEntries(Object.entries(headers).filter((e): e is [string, string] => e[1] !== undefined));
  const body = listBodyOf(bytes);
  await publishBytes(world.js, subjects.raw(spec.api, spec.sourceId), body, { msgId: spec.msgId ?? spec.recordId, headers: defined });
}

/** Each record's _siemEventID, as the fetcher has it; the bare API for a body that is not JSON (a test of bad input). */
function eventIdsOf(api: SourceApi, bytes: readonly Uint8Array[]): string[] {
  try {
    return parseListBody(listBodyOf(bytes)).records.map((r) => siemEventId(api, r));
  } catch {
    return bytes.map(() => api);
  }
}

/** An output record as stored in S1C_DATA. */
export interface StoredDataRecord {
  readonly subject: string;
  readonly msgId: string | undefined;
  readonly headers: Record<string, string>;
  readonly text: string;
  readonly body: Uint8Array;
  readonly seq: number;
}

/** Every message in a stream on `filter`, in order. */
export async function readStream(world: EnricherWorld, stream: string, filter: string): Promise<StoredDataRecord[]> {
  const info = await world.jsm.streams.info(stream, { subjects_filter: filter } as never);
  const expected = Object.values((info.state as { subjects?: Record<string, number> }).subjects ?? {}).reduce((a, b) => a + b, 0);
  const out: StoredDataRecord[] = [];
  if (expected === 0) return out;
  // An ephemeral consumer: ordered consumers with a filter need nats-server 2.10.
  const added = await world.jsm.consumers.add(stream, { filter_subject: filter, ack_policy: AckPolicy.None, inactive_threshold: nanos(30_000) });
  const consumer = await world.js.consumers.get(stream, added.name);
  while (out.length < expected) {
    const batch = await consumer.fetch({ max_messages: Math.min(1000, expected - out.length), expires: 2000 });
    let got = 0;
    for await (const m of batch) {
      out.push(toStored(m));
      got += 1;
    }
    if (got === 0) break;
  }
  await consumer.delete().catch(() => undefined);
  return out;
}

function toStored(m: JsMsg): StoredDataRecord {
  const headers: Record<string, string> = {};
  for (const [k, v] of m.headers ?? []) headers[k] = v[0] ?? '';
  return { subject: m.subject, msgId: m.headers?.get('Nats-Msg-Id'), headers, text: new TextDecoder().decode(m.data), body: m.data, seq: m.seq };
}

/** Output records on `s1c.data.>` (optionally one source), each parsed except `event`, which stays text. */
export async function readOutput(world: EnricherWorld, sourceId?: string): Promise<Array<StoredDataRecord & { id: string; metadata: Record<string, unknown>; eventText: string }>> {
  const records = await readStream(world, STREAMS.data.name, sourceId ? 's1c.data.*.' + sourceId : 's1c.data.>');
  return records.map((r) => {
    const offset = Number(r.headers[DATA_RECORD_HEADERS.eventOffset]);
    const eventText = new TextDecoder().decode(r.body.subarray(offset, r.body.length - 1));
    const envelope = JSON.parse(r.text) as { id: string; metadata: Record<string, unknown> };
    return { ...r, id: envelope.id, metadata: envelope.metadata, eventText };
  });
}

/** Polls `check` until it returns true, or fails after `timeoutMs`. */
export async function eventually(check: () => Promise<boolean> | boolean, timeoutMs = 20_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
