import 'reflect-metadata';
import { mongoConnectionOf, natsConnectionOf } from '@s1c/config';
import { Controller, Module, type DynamicModule, type INestMicroservice, type Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Ctx, Payload } from '@nestjs/microservices';
import { connectMongo, FoldedStreams, MongoEventStore } from '@s1c/event-store';
import { isSourceEvent, sourceDecider, type SourceEvent, type SourceState } from '@s1c/domain';
import { createLogger, NestLogger, type Logger } from '@s1c/logger';
import { connectNats, drainNats, ensureStream, JetStreamConsumer, NatsTransport, STREAMS, subjects } from '@s1c/messaging';
import { SecretBox } from '@s1c/secrets';
import type { JetStreamContext } from '@s1c/messaging';
import type { ApiSpec } from './api-spec';
import { retryPolicyOf, type FetcherConfig } from './fetcher.config';
import { JobRunner, parseFetchJob } from './job.runner';
import { jetStreamRawPublisher, rawBatchMaxBytes, type RawPublisher } from './raw.publisher';

export interface FetcherOptions {
  readonly logger?: Logger;
  readonly clock?: () => Date;
  /** The retry jitter, a number in [0, 1). */
  readonly random?: () => number;
  /** Wraps the raw publisher (tests inject failures with it). */
  readonly wrapPublisher?: (publisher: RawPublisher) => RawPublisher;
}

export interface FetcherRuntime {
  readonly app: INestMicroservice;
  readonly runner: JobRunner;
  /** Stops taking jobs, hands the ones under way over at their next page, closes every connection. */
  close(): Promise<void>;
}

/** The durable consumer a fetcher serves: `fetcher-<api>` on `S1C_JOBS`, subject `s1c.job.<api>`. */
export const fetcherDurable = (spec: Pick<ApiSpec, 'api'>): string => `fetcher-${spec.api}`;

/**
 * A controller class for one API: its consumer's name, subject and limits come from the spec and
 * the configuration, so the class (and its decorator) is made per fetcher.
 */
function fetcherController(spec: ApiSpec, config: FetcherConfig, runner: JobRunner): Type<unknown> {
  @Controller()
  class FetchJobsController {
    @JetStreamConsumer({
      stream: STREAMS.jobs.name,
      durable: fetcherDurable(spec),
      filterSubject: subjects.job(spec.api),
      maxDeliver: config.S1C_JOB_MAX_DELIVER,
      ackWaitMs: config.S1C_JOB_ACK_WAIT,
      concurrency: config.S1C_FETCHER_CONCURRENCY,
      description: `fetch jobs for ${spec.api}`,
    })
    async onJob(@Payload() _data: Uint8Array, @Ctx() ctx: JetStreamContext): Promise<void> {
      const job = parseFetchJob(ctx.json(), spec);
      await runner.run(job, { working: () => ctx.working(), deliveryCount: ctx.deliveryCount });
    }
  }
  Object.defineProperty(FetchJobsController, 'name', { value: `FetchJobsController_${spec.api}` });
  return FetchJobsController;
}

@Module({})
class FetcherModule {
  static register(controller: Type<unknown>): DynamicModule {
    return { module: FetcherModule, controllers: [controller] };
  }
}

/**
 * Starts a fetcher for one API: the event store, NATS with the `fetcher-<api>` consumer on
 * `S1C_JOBS`, and the {@link JobRunner} behind it.
 */
export async function startFetcher(spec: ApiSpec, config: FetcherConfig, options: FetcherOptions = {}): Promise<FetcherRuntime> {
  const name = `fetcher-${spec.api}`;
  const logger = options.logger ?? createLogger({ name, level: config.LOG_LEVEL });
  const secrets = SecretBox.fromKeyList(config.S1C_SECRET_KEY);
  const cleanup: Array<() => Promise<unknown>> = [];
  const close = async () => {
    for (const step of cleanup.reverse()) await step().catch((error: unknown) => logger.warn({ err: error }, 'shutdown step failed'));
    cleanup.length = 0;
  };
  try {
    const mongo = await connectMongo(mongoConnectionOf(config));
    cleanup.push(() => mongo.close());
    const store = new MongoEventStore(mongo.db(config.S1C_DB_NAME), options.clock ? { clock: options.clock } : {});
    await store.ensureIndexes();

    const nc = await connectNats({ ...natsConnectionOf(config), name: `s1c-${name}`, logger });
    cleanup.push(() => drainNats(nc));
    // Every source folded from the relayed events, so that a job reads the log for its source only
    // when they cannot answer. The registry owns S1C_EVENTS: this waits for it.
    await ensureStream(await nc.jetstreamManager(), STREAMS.events, { logger });
    const sourceFolds = new FoldedStreams<SourceState>(store, nc, {
      name: `${name}-sources`,
      filterSubject: subjects.everySourceEvent,
      initial: sourceDecider.initialState,
      evolve: (state, event) => (isSourceEvent(event) ? sourceDecider.evolve(state, event as unknown as SourceEvent) : state),
      streamName: STREAMS.events.name,
      gapTimeoutMs: config.S1C_EVENT_GAP_TIMEOUT,
      logger,
    });
    await sourceFolds.start();
    cleanup.push(() => sourceFolds.stop());
    // Half the server's max_payload at most, so a batch with its headers always fits (a server set
    // below the default 1 MiB gets smaller batches instead of refusing them).
    const publisher = jetStreamRawPublisher(nc.jetstream(), { maxBytes: rawBatchMaxBytes(nc.info?.max_payload) });
    const runner = new JobRunner({
      spec,
      store,
      sourceFolds,
      relayWaitMs: config.S1C_EVENT_GAP_TIMEOUT,
      publisher: options.wrapPublisher ? options.wrapPublisher(publisher) : publisher,
      secrets,
      settings: {
        maxPagesPerJob: config.S1C_MAX_PAGES_PER_JOB,
        requestsPerSecond: config.S1C_S1_REQUESTS_PER_SECOND,
        s1TimeoutMs: config.S1C_S1_TIMEOUT,
        allowInsecure: config.S1C_ALLOW_INSECURE_BASE_URL,
        retryPolicy: retryPolicyOf(config),
      },
      logger,
      ...(options.clock ? { clock: options.clock } : {}),
      ...(options.random ? { random: options.random } : {}),
    });

    const app = await NestFactory.createMicroservice(FetcherModule.register(fetcherController(spec, config, runner)), {
      // The jobs stream is the scheduler's; raw records and dead letters are published here.
      strategy: new NatsTransport({ connection: nc, logger, queueGroup: `s1c-${name}`, streams: [STREAMS.jobs, STREAMS.raw, STREAMS.deadLetters] }),
      logger: new NestLogger(logger),
    });
    await app.listen();
    cleanup.push(async () => {
      // Jobs under way stop at their next page and are handed over before the transport waits for them.
      runner.stop();
      await app.close();
    });
    logger.info({ db: config.S1C_DB_NAME, durable: fetcherDurable(spec), maxPagesPerJob: config.S1C_MAX_PAGES_PER_JOB }, `${name} started`);
    return { app, runner, close };
  } catch (error) {
    await close();
    throw error;
  }
}
