import 'reflect-metadata';
import { Controller, Inject, Injectable, Module, type BeforeApplicationShutdown, type DynamicModule, type INestApplicationContext, type OnModuleInit, type Type } from '@nestjs/common';
import { Ctx, Payload } from '@nestjs/microservices';
import { isSourceEvent, isTokenHealthEvent, sourceDecider, tokenHealthDecider, type SourceEvent, type SourceState, type TokenHealthEvent, type TokenHealthState } from '@s1c/domain';
import { FoldedStreams } from '@s1c/event-store';
import { METRICS_PORTS } from '@s1c/config';
import { createLogger, type Logger } from '@s1c/logger';
import { ensureStream, fetcherJobsDurable, JetStreamConsumer, NatsTransport, STREAMS, subjects, type JetStreamContext } from '@s1c/messaging';
import { openConnections, RUNTIME, RuntimeModule, startServiceApplication, type RuntimeModuleOptions, type ServiceConnections } from '@s1c/runtime';
import { SecretBox } from '@s1c/secrets';
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
  readonly app: INestApplicationContext;
  readonly runner: JobRunner;
  /** Stops taking jobs, hands the ones under way over at their next page, closes every connection. */
  close(): Promise<void>;
}

/** The API a fetcher serves (its {@link ApiSpec}). */
const FETCHER_SPEC = Symbol('s1c.fetcher.spec');

/** The durable consumer a fetcher serves: `fetcher-<api>` on `S1C_JOBS`, subject `s1c.job.<api>`. */
export const fetcherDurable = (spec: Pick<ApiSpec, 'api'>): string => fetcherJobsDurable(spec.api);

/**
 * A controller class for one API: its consumer's name, subject and limits come from the spec and
 * the configuration, so the class (and its decorator) is made per fetcher.
 */
function fetcherController(spec: ApiSpec, config: FetcherConfig): Type<unknown> {
  @Controller()
  class FetchJobsController {
    constructor(private readonly runner: JobRunner) {}

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
      await this.runner.run(job, { working: () => ctx.working(), deliveryCount: ctx.deliveryCount });
    }
  }
  Object.defineProperty(FetchJobsController, 'name', { value: `FetchJobsController_${spec.api}` });
  return FetchJobsController;
}

/** Every source folded from the relayed events, so that a job reads the log for its source only when they cannot answer. */
@Injectable()
class FetcherSources implements OnModuleInit, BeforeApplicationShutdown {
  readonly folds: FoldedStreams<SourceState>;
  /** Each source's token health (`token-<id>`), for the daily expiry check. */
  readonly tokens: FoldedStreams<TokenHealthState>;

  constructor(
    @Inject(RUNTIME.config) config: FetcherConfig,
    @Inject(RUNTIME.connections) private readonly connections: ServiceConnections,
    @Inject(RUNTIME.logger) private readonly logger: Logger,
    @Inject(FETCHER_SPEC) spec: ApiSpec,
  ) {
    // Folded from S1C_EVENTS from its first message: the decider's own events, a version each.
    const folded = <State, Event>(what: string, filterSubject: string, decider: { initialState(): State; evolve(state: State, event: Event): State }, isEvent: (e: { type: string }) => boolean) =>
      new FoldedStreams<State>(connections.store, connections.nc, {
        name: `fetcher-${spec.api}-${what}`,
        filterSubject,
        initial: () => decider.initialState(),
        evolve: (state, event) => (isEvent(event) ? decider.evolve(state, event as unknown as Event) : state),
        streamName: STREAMS.events.name,
        gapTimeoutMs: config.S1C_EVENT_GAP_TIMEOUT,
        logger,
      });
    this.folds = folded<SourceState, SourceEvent>('sources', subjects.everySourceEvent, sourceDecider, isSourceEvent);
    this.tokens = folded<TokenHealthState, TokenHealthEvent>('tokens', subjects.everyTokenEvent, tokenHealthDecider, isTokenHealthEvent);
  }

  /** The registry owns S1C_EVENTS: this waits for it. */
  async onModuleInit(): Promise<void> {
    await ensureStream(this.connections.jsm, STREAMS.events, { logger: this.logger, replicas: this.connections.streamReplicas });
    await this.folds.start();
    await this.tokens.start();
  }

  async beforeApplicationShutdown(): Promise<void> {
    await Promise.all([this.folds.stop(), this.tokens.stop()]);
  }
}

@Module({})
class FetcherModule {
  static register(runtime: RuntimeModuleOptions & { readonly config: FetcherConfig }, spec: ApiSpec, secrets: SecretBox, options: FetcherOptions): DynamicModule {
    const { config } = runtime;
    return {
      module: FetcherModule,
      imports: [RuntimeModule.forRoot(runtime)],
      controllers: [fetcherController(spec, config)],
      providers: [
        { provide: FETCHER_SPEC, useValue: spec },
        FetcherSources,
        {
          provide: JobRunner,
          inject: [RUNTIME.connections, RUNTIME.logger, FetcherSources],
          useFactory: (connections: ServiceConnections, logger: Logger, sources: FetcherSources) => {
            // Half the server's max_payload at most, so a batch with its headers always fits (a server set
            // below the default 1 MiB gets smaller batches instead of refusing them).
            const publisher = jetStreamRawPublisher(connections.js, { maxBytes: rawBatchMaxBytes(connections.nc.info?.max_payload) });
            return new JobRunner({
              spec,
              store: connections.store,
              sourceFolds: sources.folds,
              tokenFolds: sources.tokens,
              relayWaitMs: config.S1C_EVENT_GAP_TIMEOUT,
              publisher: options.wrapPublisher ? options.wrapPublisher(publisher) : publisher,
              secrets,
              settings: {
                maxPagesPerJob: config.S1C_MAX_PAGES_PER_JOB,
                requestsPerSecond: config.S1C_S1_REQUESTS_PER_SECOND,
                s1TimeoutMs: config.S1C_S1_TIMEOUT,
                allowInsecure: config.S1C_ALLOW_INSECURE_BASE_URL,
                network: config.s1Network,
                retryPolicy: retryPolicyOf(config),
                tokenExpiryWarningDays: config.S1C_TOKEN_EXPIRY_WARNING_DAYS,
              },
              logger,
              ...(options.clock ? { clock: options.clock } : {}),
              ...(options.random ? { random: options.random } : {}),
            });
          },
        },
      ],
    };
  }
}

/**
 * Starts a fetcher for one API as a Nest microservice on the shared runtime: the `fetcher-<api>`
 * consumer on `S1C_JOBS` and the {@link JobRunner} behind it.
 */
export async function startFetcher(spec: ApiSpec, config: FetcherConfig, options: FetcherOptions = {}): Promise<FetcherRuntime> {
  const name = `fetcher-${spec.api}`;
  const logger = options.logger ?? createLogger({ name, level: config.LOG_LEVEL });
  // Before connecting: a malformed key is a configuration error, not a connection's.
  const secrets = SecretBox.fromKeyList(config.S1C_SECRET_KEY);
  const connections = await openConnections(config, { name, logger, ...(options.clock ? { clock: options.clock } : {}) });
  const { app, close } = await startServiceApplication(FetcherModule.register(
      {
        config,
        logger,
        connections,
        metrics: {
          port: config.S1C_METRICS_PORT ?? (METRICS_PORTS as Record<string, number>)[name] ?? 0,
          host: config.S1C_METRICS_HOST,
          consumers: [{ stream: STREAMS.jobs.name, durable: fetcherDurable(spec) }],
        },
      },
      spec,
      secrets,
      options,
    ), {
    logger,
    connections,
    // The jobs stream is the scheduler's; raw records and dead letters are published here.
    transport: new NatsTransport({ connection: connections.nc, logger, queueGroup: `s1c-${name}`,
      streams: [STREAMS.jobs, STREAMS.raw, STREAMS.deadLetters],
      streamReplicas: connections.streamReplicas,
    }),
  });
  const runner = app.get(JobRunner);
  logger.info({ db: config.S1C_DB_NAME, durable: fetcherDurable(spec), maxPagesPerJob: config.S1C_MAX_PAGES_PER_JOB }, `${name} started`);
  return {
    app,
    runner,
    close: () => {
      // Nest closes the transport first, and it waits for the jobs under way: they stop at their next page and are handed over.
      runner.stop();
      return close();
    },
  };
}
