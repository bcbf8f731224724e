import {
  Inject,
  Injectable,
  Module,
  Optional,
  type BeforeApplicationShutdown,
  type DynamicModule,
  type OnApplicationBootstrap,
  type OnModuleDestroy,
  type OnModuleInit,
  type Provider,
} from '@nestjs/common';
import { isSourceEvent, sourceDecider, type SourceEvent, type SourceState } from '@s1c/domain';
import { FoldedStreams } from '@s1c/event-store';
import type { Logger } from '@s1c/logger';
import { BatchConsumer, declareStreams, ensureConsumer, ensureStream, LostConsumerGuard, PipelinedPublisher, recentMsgIds, STREAMS, subjects, type BatchHandler, type ConsumerDeclaration } from '@s1c/messaging';
import { RUNTIME, RuntimeModule, type RuntimeModuleOptions, type ServiceConnections } from '@s1c/runtime';
import { nanos } from 'nats';
import { DeliveredSet, DeliveryHealth, ENRICHER_DURABLE, FILE_SINK_DURABLE, FileSink, HTTP_SINK_DURABLE, HttpSink, RawEnricher, SourceDirectory } from '@s1c/delivery';
import type { EnricherConfig } from './enricher.config';

/**
 * How long a stop waits for the batches a consumer is handling: inside the service's shutdown
 * deadline; what is still running then is redelivered.
 */
const CONSUMER_STOP_TIMEOUT_MS = 5_000;
/** How long the start may spend reading the last output records' ids (100,000 take about a second). */
const LAST_OUTPUT_READ_TIMEOUT_MS = 20_000;
/** Past versions of each source kept in memory, for records fetched before an update. */
const SOURCE_VERSIONS_KEPT = 16;
/** `() => number` in [0, 1): the jitter of the sink's backoff (tests set it). */
export const RANDOM = Symbol('s1c.enricher.random');

/*
 * Each provider follows the same phases (libs/runtime startServiceApplication): it gets ready in
 * onModuleInit (streams, folds), takes work in onApplicationBootstrap (its consumer), stops taking
 * work in onModuleDestroy, and hands back what it holds in beforeApplicationShutdown; the
 * connections close after that.
 */

/** The streams the enricher reads and writes. Raw records are the fetchers' stream: it waits for it when it may not create it. */
@Injectable()
export class EnricherStreams implements OnModuleInit {
  constructor(
    @Inject(RUNTIME.connections) private readonly connections: ServiceConnections,
    @Inject(RUNTIME.logger) private readonly logger: Logger,
  ) {}

  async onModuleInit(): Promise<void> {
    await declareStreams(this.connections.jsm, [STREAMS.raw, STREAMS.data, STREAMS.deadLetters], { logger: this.logger, replicas: this.connections.streamReplicas });
  }
}

/**
 * Every source folded from its relayed events (the registry owns S1C_EVENTS: this waits for it),
 * so that a record's configuration and its source's deletion come from memory.
 */
@Injectable()
export class EnricherSources implements OnModuleInit, BeforeApplicationShutdown {
  readonly folds: FoldedStreams<SourceState>;
  readonly directory: SourceDirectory;

  constructor(
    @Inject(RUNTIME.config) config: EnricherConfig,
    @Inject(RUNTIME.connections) private readonly connections: ServiceConnections,
    @Inject(RUNTIME.logger) private readonly logger: Logger,
    @Inject(RUNTIME.clock) clock: () => Date,
  ) {
    this.folds = new FoldedStreams<SourceState>(connections.store, connections.nc, {
      name: 'enricher-sources',
      filterSubject: subjects.everySourceEvent,
      initial: sourceDecider.initialState,
      evolve: (state, event) => (isSourceEvent(event) ? sourceDecider.evolve(state, event as unknown as SourceEvent) : state),
      keepVersions: SOURCE_VERSIONS_KEPT,
      streamName: STREAMS.events.name,
      gapTimeoutMs: config.S1C_EVENT_GAP_TIMEOUT,
      logger,
    });
    this.directory = new SourceDirectory(connections.store, {
      cacheSize: config.S1C_SOURCE_CACHE_SIZE,
      refreshIntervalMs: config.S1C_SOURCE_REFRESH_INTERVAL,
      folds: this.folds,
      relayWaitMs: config.S1C_EVENT_GAP_TIMEOUT,
      nowMs: () => clock().getTime(),
    });
  }

  async onModuleInit(): Promise<void> {
    await ensureStream(this.connections.jsm, STREAMS.events, { logger: this.logger, replicas: this.connections.streamReplicas });
    await this.folds.start();
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.folds.stop();
  }
}

/** The `enricher` consumer on `S1C_RAW`: tagging, exactly-once output to `S1C_DATA`. */
@Injectable()
export class RawEnricherService implements OnApplicationBootstrap, OnModuleDestroy, BeforeApplicationShutdown {
  readonly enricher: RawEnricher;
  private readonly publisher: PipelinedPublisher;
  private readonly consumer: BatchConsumer;
  private readonly declaration: ConsumerDeclaration;

  constructor(
    @Inject(RUNTIME.config) config: EnricherConfig,
    @Inject(RUNTIME.connections) private readonly connections: ServiceConnections,
    @Inject(RUNTIME.logger) private readonly logger: Logger,
    @Inject(RUNTIME.clock) clock: () => Date,
    sources: EnricherSources,
    private readonly delivered: DeliveredSet,
  ) {
    this.publisher = new PipelinedPublisher(connections.nc);
    this.enricher = new RawEnricher({ js: connections.js, publisher: this.publisher, sources: sources.directory, delivered, logger, clock, maxDeliver: config.S1C_ENRICHER_MAX_DELIVER });
    this.declaration = {
      durable_name: ENRICHER_DURABLE,
      filter_subject: subjects.every.raw,
      ack_wait: nanos(config.S1C_ENRICHER_ACK_WAIT),
      // One spare delivery, as the messaging transport does: a message whose last delivery had no outcome is dead-lettered then.
      max_deliver: config.S1C_ENRICHER_MAX_DELIVER + 1,
      max_ack_pending: config.S1C_ENRICHER_MAX_ACK_PENDING,
      description: 'enricher: raw records to output records',
    };
    this.consumer = new BatchConsumer(
      connections.js,
      {
        stream: STREAMS.raw.name,
        durable: ENRICHER_DURABLE,
        batchSize: config.S1C_ENRICHER_BATCH_SIZE,
        // The server's max_payload bounds a raw message (its headers and body).
        batch: { bytes: config.S1C_ENRICHER_BATCH_BYTES, maxMessageBytes: connections.nc.info?.max_payload ?? 1024 * 1024 },
        lingerMs: config.S1C_ENRICHER_LINGER,
        concurrency: config.S1C_ENRICHER_CONCURRENCY,
        ackWaitMs: config.S1C_ENRICHER_ACK_WAIT,
        // Every record is claimed in the delivered set, first deliveries too: a consumer declared again from its ack floor repeats nothing.
        lost: new LostConsumerGuard(connections.jsm, STREAMS.raw.name, this.declaration, logger),
      },
      this.enricher.handle,
      logger,
    );
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.readLastOutput();
    await ensureConsumer(this.connections.jsm, STREAMS.raw.name, this.declaration);
    await this.consumer.start();
  }

  /**
   * Gives the delivered set the ids of the last output records: what it remembered before a
   * restart, so that the repeats the first live polls after it bring (their overlap with the polls
   * before) are skipped without a lookup, a scan of the day's claims on FerretDB each.
   */
  private async readLastOutput(): Promise<void> {
    const started = Date.now();
    try {
      const { ids, complete } = await recentMsgIds(this.connections.js, this.connections.jsm, STREAMS.data.name, {
        filterSubject: subjects.every.data,
        max: DeliveredSet.OUTPUT_KEPT,
        timeoutMs: LAST_OUTPUT_READ_TIMEOUT_MS,
      });
      this.delivered.rememberOutput(ids);
      this.logger.info({ records: ids.length, complete, ms: Date.now() - started }, 'ids of the last output records read from S1C_DATA');
    } catch (error) {
      this.logger.warn({ err: error }, 'could not read the ids of the last output records from S1C_DATA; repeats are looked up in the store until the delivered set knows them');
    }
  }

  onModuleDestroy(): Promise<void> {
    return this.consumer.stop(CONSUMER_STOP_TIMEOUT_MS);
  }

  /** After the consumer stopped: the batches it finished get their PubAcks. */
  async beforeApplicationShutdown(): Promise<void> {
    await this.publisher.close();
  }
}

/** What a sink gives its consumer: its handler and, for a sink that holds messages after taking them, when it holds enough. */
interface SinkIntake {
  readonly handle: BatchHandler;
  /**
   * Whether its consumer is declared again, from its last ack floor, if the server lost it (the
   * messages acked since the floor come again, as first deliveries): for an at-least-once sink.
   */
  readonly declareAgainWhenLost: boolean;
  readonly full?: () => boolean;
  readonly onRoom?: (listener: () => void) => void;
}

/** A durable consumer of every output record on `S1C_DATA`, for one sink. */
class SinkConsumer {
  private readonly consumer: BatchConsumer;
  private readonly declaration: ConsumerDeclaration;

  constructor(
    private readonly connections: ServiceConnections,
    config: EnricherConfig,
    durable: string,
    description: string,
    sink: SinkIntake,
    logger: Logger,
  ) {
    this.declaration = {
      durable_name: durable,
      filter_subject: subjects.every.data,
      ack_wait: nanos(config.S1C_SINK_ACK_WAIT),
      max_ack_pending: config.S1C_SINK_MAX_ACK_PENDING,
      description,
    };
    const lost = new LostConsumerGuard(connections.jsm, STREAMS.data.name, this.declaration, logger, { declareAgain: sink.declareAgainWhenLost });
    this.consumer = new BatchConsumer(
      connections.js,
      { stream: STREAMS.data.name, durable, batchSize: 1000, concurrency: 1, ackWaitMs: config.S1C_SINK_ACK_WAIT, lost, ...(sink.full ? { full: sink.full } : {}) },
      sink.handle,
      logger,
    );
    sink.onRoom?.(() => this.consumer.resume());
  }

  async start(): Promise<void> {
    await ensureConsumer(this.connections.jsm, STREAMS.data.name, this.declaration);
    await this.consumer.start();
  }

  stop(): Promise<void> {
    return this.consumer.stop(CONSUMER_STOP_TIMEOUT_MS);
  }
}

/** The HTTP sink (`sink-http`, when `S1C_SINK_HTTP_URL` is set): output records to a hosted collector's HTTP source. */
@Injectable()
export class HttpSinkService implements OnApplicationBootstrap, OnModuleDestroy, BeforeApplicationShutdown {
  readonly sink: HttpSink;
  private readonly consumer: SinkConsumer;

  constructor(
    @Inject(RUNTIME.config) config: EnricherConfig,
    @Inject(RUNTIME.connections) connections: ServiceConnections,
    @Inject(RUNTIME.logger) logger: Logger,
    @Inject(RUNTIME.clock) clock: () => Date,
    @Inject(RANDOM) random: () => number,
  ) {
    const { js, nc, db, store } = connections;
    this.sink = new HttpSink({
      js,
      nc,
      db,
      health: new DeliveryHealth(store, clock, logger),
      logger,
      clock,
      random,
      settings: {
        url: config.S1C_SINK_HTTP_URL!,
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
    const sink = this.sink;
    this.consumer = new SinkConsumer(
      connections,
      config,
      HTTP_SINK_DURABLE,
      'HTTP sink: output records to the HTTP collector',
      // It looks up redeliveries only: a consumer declared again from its ack floor could send records twice, so a lost one is only reported.
      { handle: sink.handle, full: () => sink.full, onRoom: (listener) => sink.onRoom(listener), declareAgainWhenLost: false },
      logger,
    );
  }

  onApplicationBootstrap(): Promise<void> {
    return this.consumer.start();
  }

  onModuleDestroy(): Promise<void> {
    return this.consumer.stop();
  }

  /** A POST in flight may finish; held batches are handed back. */
  beforeApplicationShutdown(): Promise<void> {
    return this.sink.stop();
  }
}

/** The file sink (`sink-file`, when `S1C_SINK_FILE_DIR` is set): output records to NDJSON files. */
@Injectable()
export class FileSinkService implements OnApplicationBootstrap, OnModuleDestroy {
  readonly sink: FileSink;
  private readonly consumer: SinkConsumer;

  constructor(
    @Inject(RUNTIME.config) config: EnricherConfig,
    @Inject(RUNTIME.connections) connections: ServiceConnections,
    @Inject(RUNTIME.logger) logger: Logger,
  ) {
    this.sink = new FileSink(connections.js, { dir: config.S1C_SINK_FILE_DIR!, maxBytes: config.S1C_SINK_FILE_MAX_BYTES, format: config.S1C_SINK_FILE_FORMAT }, logger);
    this.consumer = new SinkConsumer(connections, config, FILE_SINK_DURABLE, 'file sink: output records to NDJSON files', { handle: this.sink.handle, declareAgainWhenLost: true }, logger);
  }

  onApplicationBootstrap(): Promise<void> {
    return this.consumer.start();
  }

  onModuleDestroy(): Promise<void> {
    return this.consumer.stop();
  }
}

/** Removes expired delivered-set entries every `S1C_DELIVERED_CLEANUP_INTERVAL`. */
@Injectable()
export class DeliveredCleanup implements OnApplicationBootstrap, OnModuleDestroy {
  private timer: NodeJS.Timeout | undefined;
  private cleaning: Promise<unknown> = Promise.resolve();

  constructor(
    @Inject(RUNTIME.config) private readonly config: EnricherConfig,
    @Inject(RUNTIME.logger) private readonly logger: Logger,
    @Inject(RUNTIME.clock) private readonly clock: () => Date,
    private readonly delivered: DeliveredSet,
    @Optional() private readonly http?: HttpSinkService,
  ) {}

  /** Removes expired entries now; resolves to how many. */
  async run(): Promise<number> {
    const before = new Date(this.clock().getTime() - this.config.S1C_DELIVERED_RETENTION);
    let removed = await this.delivered.removeOlderThan(before, this.logger);
    removed += (await this.http?.sink.delivered.dropBefore(before)) ?? 0;
    return removed;
  }

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => {
      this.cleaning = this.run().catch((error: unknown) => this.logger.warn({ err: error }, 'delivered-set cleanup failed; will try again'));
    }, this.config.S1C_DELIVERED_CLEANUP_INTERVAL);
    this.timer.unref();
  }

  async onModuleDestroy(): Promise<void> {
    clearInterval(this.timer);
    await this.cleaning;
  }
}

/** The enricher's Nest module: the shared runtime, the raw consumer, and each configured sink. */
@Module({})
export class EnricherModule {
  static register(runtime: RuntimeModuleOptions & { readonly config: EnricherConfig }, options: { random: () => number }): DynamicModule {
    const { config } = runtime;
    const providers: Provider[] = [
      { provide: RANDOM, useValue: options.random },
      { provide: DeliveredSet, useFactory: (connections: ServiceConnections) => new DeliveredSet(connections.db), inject: [RUNTIME.connections] },
      EnricherStreams,
      EnricherSources,
      RawEnricherService,
      DeliveredCleanup,
    ];
    if (config.S1C_SINK_HTTP_URL) providers.push(HttpSinkService);
    if (config.S1C_SINK_FILE_DIR) providers.push(FileSinkService);
    return { module: EnricherModule, imports: [RuntimeModule.forRoot(runtime)], providers };
  }
}
