import { mongoConnectionOf, natsConnectionOf } from '@s1c/config';
import { isSourceEvent, sourceDecider, type SourceEvent, type SourceState } from '@s1c/domain';
import { BatchConsumer, STREAMS, connectNats, declareStreams, drainNats, ensureConsumer, ensureStream, PipelinedPublisher, subjects } from '@s1c/messaging';
import { connectMongo, FoldedStreams, MongoEventStore } from '@s1c/event-store';
import { createLogger, type Logger } from '@s1c/logger';
import { type Db } from 'mongodb';
import { nanos, type JetStreamClient, type JetStreamManager, type JsMsg, type NatsConnection } from 'nats';
import { DeliveredSet } from './delivered.set';
import { DeliveryHealth } from './delivery.health';
import type { EnricherConfig } from './enricher.config';
import { FILE_SINK_DURABLE, FileSink } from './file.sink';
import { HTTP_SINK_DURABLE, HttpSink } from './http.sink';
import { ENRICHER_DURABLE, RawEnricher } from './raw.enricher';
import { SourceDirectory } from './source.directory';

export interface EnricherOptions {
  readonly logger?: Logger;
  readonly clock?: () => Date;
  /** Jitter source for the sink's backoff, a number in [0, 1). */
  readonly random?: () => number;
}

export interface EnricherRuntime {
  readonly enricher: RawEnricher;
  readonly httpSink: HttpSink | undefined;
  readonly fileSink: FileSink | undefined;
  readonly delivered: DeliveredSet;
  readonly sources: SourceDirectory;
  readonly db: Db;
  readonly nc: NatsConnection;
  /** Removes expired delivered-set entries now (the periodic cleanup does the same). */
  cleanupDelivered(): Promise<number>;
  /** Stops consuming, finishes batches in flight, hands held messages back, closes every connection. */
  close(): Promise<void>;
}

const CLOSE_TIMEOUT_MS = 30_000;
/** Past versions of each source kept in memory, for records fetched before an update. */
const SOURCE_VERSIONS_KEPT = 16;

/**
 * Starts the enricher: the `enricher` consumer on `S1C_RAW` (tagging, exactly-once output to
 * `S1C_DATA`), and, when configured, the HTTP sink (`sink-http`) and the file sink (`sink-file`)
 * on `S1C_DATA`.
 */
export async function startEnricher(config: EnricherConfig, options: EnricherOptions = {}): Promise<EnricherRuntime> {
  const logger = options.logger ?? createLogger({ name: 'enricher', level: config.LOG_LEVEL });
  const clock = options.clock ?? (() => new Date());
  const random = options.random ?? Math.random;
  const cleanup: Array<() => Promise<unknown>> = [];
  const close = async () => {
    for (const step of cleanup.reverse()) await step().catch((error: unknown) => logger.warn({ err: error }, 'shutdown step failed'));
    cleanup.length = 0;
  };
  try {
    const mongo = await connectMongo(mongoConnectionOf(config));
    cleanup.push(() => mongo.close());
    const db = mongo.db(config.S1C_DB_NAME);
    const store = new MongoEventStore(db, { clock });
    await store.ensureIndexes();
    const delivered = new DeliveredSet(db);
    const nc = await connectNats({ ...natsConnectionOf(config), name: 's1c-enricher', logger });
    cleanup.push(() => drainNats(nc));
    const jsm = await nc.jetstreamManager();
    // Raw records are the fetchers' stream: the enricher waits for it when it may not create it.
    await declareStreams(jsm, [STREAMS.raw, STREAMS.data, STREAMS.deadLetters], { logger });
    const js = nc.jetstream();

    // Every source folded from its relayed events (the registry owns S1C_EVENTS: this waits for it),
    // so that a record's configuration and its source's deletion come from memory.
    await ensureStream(jsm, STREAMS.events, { logger });
    const folds = new FoldedStreams<SourceState>(store, nc, {
      name: 'enricher-sources',
      filterSubject: subjects.everySourceEvent,
      initial: sourceDecider.initialState,
      evolve: (state, event) => (isSourceEvent(event) ? sourceDecider.evolve(state, event as unknown as SourceEvent) : state),
      keepVersions: SOURCE_VERSIONS_KEPT,
      streamName: STREAMS.events.name,
      gapTimeoutMs: config.S1C_EVENT_GAP_TIMEOUT,
      logger,
    });
    await folds.start();
    cleanup.push(() => folds.stop());
    const sources = new SourceDirectory(store, {
      cacheSize: config.S1C_SOURCE_CACHE_SIZE,
      refreshIntervalMs: config.S1C_SOURCE_REFRESH_INTERVAL,
      folds,
      relayWaitMs: config.S1C_EVENT_GAP_TIMEOUT,
      nowMs: () => clock().getTime(),
    });

    // Closed after the raw consumer stopped (cleanup runs in reverse): batches in flight get their PubAcks.
    const publisher = new PipelinedPublisher(nc);
    cleanup.push(async () => publisher.close());
    const enricher = new RawEnricher({ js, publisher, sources, delivered, logger, clock, maxDeliver: config.S1C_ENRICHER_MAX_DELIVER });
    await ensureConsumer(jsm, STREAMS.raw.name, {
      durable_name: ENRICHER_DURABLE,
      filter_subject: subjects.every.raw,
      ack_wait: nanos(config.S1C_ENRICHER_ACK_WAIT),
      // One spare delivery, as the messaging transport does: a message whose last delivery had no outcome is dead-lettered then.
      max_deliver: config.S1C_ENRICHER_MAX_DELIVER + 1,
      max_ack_pending: config.S1C_ENRICHER_MAX_ACK_PENDING,
      description: 'enricher: raw records to output records',
    });
    const rawConsumer = new BatchConsumer(
      js,
      {
        stream: STREAMS.raw.name,
        durable: ENRICHER_DURABLE,
        batchSize: config.S1C_ENRICHER_BATCH_SIZE,
        concurrency: config.S1C_ENRICHER_CONCURRENCY,
        ackWaitMs: config.S1C_ENRICHER_ACK_WAIT,
      },
      enricher.handle,
      logger,
    );

    let httpSink: HttpSink | undefined;
    let fileSink: FileSink | undefined;
    const sinkConsumers: BatchConsumer[] = [];
    if (config.S1C_SINK_HTTP_URL) {
      const health = new DeliveryHealth(store, clock, logger);
      httpSink = new HttpSink({
        js,
        nc,
        db,
        health,
        logger,
        clock,
        random,
        settings: {
          url: config.S1C_SINK_HTTP_URL,
          maxRecords: config.S1C_SINK_BATCH_RECORDS,
          maxBytes: config.S1C_SINK_BATCH_BYTES,
          flushIntervalMs: config.S1C_SINK_FLUSH_INTERVAL,
          timeoutMs: config.S1C_SINK_HTTP_TIMEOUT,
          concurrency: config.S1C_SINK_HTTP_CONCURRENCY,
          retryInitialMs: config.S1C_SINK_RETRY_INITIAL,
          retryMaxMs: config.S1C_SINK_RETRY_MAX,
          retryWindowMs: config.S1C_RETRY_WINDOW,
          ackWaitMs: config.S1C_SINK_ACK_WAIT,
        },
      });
      const sink = httpSink;
      // Cleanup runs in reverse: this runs after the consumer stopped pulling, and hands held batches back.
      cleanup.push(() => sink.stop());
      sinkConsumers.push(await sinkConsumer(jsm, js, HTTP_SINK_DURABLE, config, httpSink.handle, logger, 'HTTP sink: output records to the HTTP collector'));
    }
    if (config.S1C_SINK_FILE_DIR) {
      fileSink = new FileSink(js, { dir: config.S1C_SINK_FILE_DIR, maxBytes: config.S1C_SINK_FILE_MAX_BYTES }, logger);
      sinkConsumers.push(await sinkConsumer(jsm, js, FILE_SINK_DURABLE, config, fileSink.handle, logger, 'file sink: output records to NDJSON files'));
    }

    await rawConsumer.start();
    cleanup.push(() => rawConsumer.stop(CLOSE_TIMEOUT_MS));
    for (const consumer of sinkConsumers) {
      await consumer.start();
      cleanup.push(() => consumer.stop(CLOSE_TIMEOUT_MS));
    }

    const cleanupDelivered = async () => {
      const before = new Date(clock().getTime() - config.S1C_DELIVERED_RETENTION);
      let removed = await delivered.removeOlderThan(before, logger);
      removed += (await httpSink?.delivered.dropBefore(before)) ?? 0;
      return removed;
    };
    let cleaning: Promise<unknown> = Promise.resolve();
    const timer = setInterval(() => {
      cleaning = cleanupDelivered().catch((error: unknown) => logger.warn({ err: error }, 'delivered-set cleanup failed; will try again'));
    }, config.S1C_DELIVERED_CLEANUP_INTERVAL);
    timer.unref();
    cleanup.push(async () => {
      clearInterval(timer);
      await cleaning;
    });

    logger.info(
      {
        db: config.S1C_DB_NAME,
        durable: ENRICHER_DURABLE,
        httpSink: config.S1C_SINK_HTTP_URL ? new URL(config.S1C_SINK_HTTP_URL).host : null,
        fileSink: config.S1C_SINK_FILE_DIR ?? null,
      },
      'enricher started',
    );
    return { enricher, httpSink, fileSink, delivered, sources, db, nc, cleanupDelivered, close };
  } catch (error) {
    await close();
    throw error;
  }
}

async function sinkConsumer(
  jsm: JetStreamManager,
  js: JetStreamClient,
  durable: string,
  config: EnricherConfig,
  handle: (messages: readonly JsMsg[]) => Promise<void>,
  logger: Logger,
  description: string,
): Promise<BatchConsumer> {
  await ensureConsumer(jsm, STREAMS.data.name, {
    durable_name: durable,
    filter_subject: subjects.every.data,
    ack_wait: nanos(config.S1C_SINK_ACK_WAIT),
    max_ack_pending: config.S1C_SINK_MAX_ACK_PENDING,
    description,
  });
  return new BatchConsumer(
    js,
    { stream: STREAMS.data.name, durable, batchSize: 1000, concurrency: 1, ackWaitMs: config.S1C_SINK_ACK_WAIT },
    handle,
    logger,
  );
}
