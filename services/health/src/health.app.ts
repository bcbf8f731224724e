import 'reflect-metadata';
import { isLoopbackHost, mongoConnectionOf, natsConnectionOf } from '@s1c/config';
import type { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { connectMongo, MongoEventStore } from '@s1c/event-store';
import { createLogger, NestLogger, type Logger } from '@s1c/logger';
import { connectNats, drainNats, ensureStream, STREAMS } from '@s1c/messaging';
import type { AddressInfo } from 'node:net';
import { HealthExceptionFilter } from './api-exception.filter';
import { loadDashboardAssets, type DashboardAssets } from './dashboard.controller';
import type { HealthConfig } from './health.config';
import { HealthModule } from './health.module';
import { HealthQueries } from './health.queries';
import { HealthReadModel } from './health.read-model';
import { DependencyProbes } from './probes';
import { dashboardSecurityHeaders } from './security.headers';

export interface HealthRuntime {
  readonly app: INestApplication;
  /** The dashboard's URL (the API is under it). */
  readonly url: string;
  readonly port: number;
  /** The read models: source and API status in memory, health events in MongoDB. */
  readonly readModel: HealthReadModel;
  readonly queries: HealthQueries;
  /** Stops serving, stops the read models, and closes every connection. */
  close(): Promise<void>;
}

export interface HealthOptions {
  readonly logger?: Logger;
  readonly clock?: () => Date;
  /** The dashboard's files; read from the package's `public` directory by default. */
  readonly assets?: DashboardAssets;
}

/**
 * Starts the health service: the read models (the whole log replayed into memory at every start,
 * then S1C_EVENTS followed; health events in MongoDB), the HTTP API, `/healthz`, `/metrics`, the
 * OpenAPI document and the dashboard. It resolves once it listens, before the replay is over:
 * `/healthz` and the status endpoints answer 503 until it is (`readModel.ready`).
 */
export async function startHealth(config: HealthConfig, options: HealthOptions = {}): Promise<HealthRuntime> {
  const logger = options.logger ?? createLogger({ name: 'health', level: config.LOG_LEVEL });
  const clock = options.clock ?? (() => new Date());
  const cleanup: Array<() => Promise<unknown>> = [];
  const close = async () => {
    for (const step of cleanup.reverse()) await step().catch((error: unknown) => logger.warn({ err: error }, 'shutdown step failed'));
    cleanup.length = 0;
  };
  try {
    const assets = options.assets ?? loadDashboardAssets();
    const mongo = await connectMongo(mongoConnectionOf(config));
    cleanup.push(() => mongo.close());
    const db = mongo.db(config.S1C_DB_NAME);
    const store = new MongoEventStore(db, { clock });

    // The read models follow S1C_EVENTS (the registry owns the stream: this waits for it). Once
    // started, a broken NATS connection only holds the read models back: the API still answers.
    // No checkpoint: the source and API status are only in memory, so a start reads the log after
    // the last snapshot of them (or all of it, without one).
    const nc = await connectNats({ ...natsConnectionOf(config), name: 's1c-health', logger });
    cleanup.push(() => drainNats(nc));
    await ensureStream(await nc.jetstreamManager({ checkAPI: false }), STREAMS.events, { logger });
    const readModel = new HealthReadModel(store, db, nc, {
      streamName: STREAMS.events.name,
      gapTimeoutMs: config.S1C_EVENT_GAP_TIMEOUT,
      logger,
      snapshots: { intervalMs: config.S1C_SNAPSHOT_INTERVAL },
    });
    await readModel.start();
    cleanup.push(() => readModel.stop());

    const queries = new HealthQueries(db, readModel.model, clock, store);
    const probes = new DependencyProbes(nc, db, () => ({ ready: readModel.ready, checkpoint: readModel.position }));
    const app = await NestFactory.create<NestExpressApplication>(
      HealthModule.register({ queries, probes, token: config.S1C_API_TOKEN, clock, assets }),
      { logger: new NestLogger(logger), bodyParser: false, abortOnError: false },
    );
    app.disable('x-powered-by');
    app.set('etag', false);
    app.use(dashboardSecurityHeaders);
    app.useGlobalFilters(new HealthExceptionFilter(logger));
    await app.listen(config.S1C_HEALTH_PORT, config.S1C_HEALTH_HOST);
    cleanup.push(() => app.close());
    const port = (app.getHttpServer().address() as AddressInfo).port;
    const host = config.S1C_HEALTH_HOST === '0.0.0.0' || config.S1C_HEALTH_HOST === '::' ? '127.0.0.1' : config.S1C_HEALTH_HOST;
    const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}/`;
    logger.info({ url, db: config.S1C_DB_NAME, auth: config.S1C_API_TOKEN ? 'bearer' : 'none' }, 'health started');
    if (!config.S1C_API_TOKEN && !isLoopbackHost(config.S1C_HEALTH_HOST)) {
      logger.warn({ host: config.S1C_HEALTH_HOST }, 'the health API answers anyone who reaches it: S1C_ALLOW_ANONYMOUS=true and no S1C_API_TOKEN');
    }
    return { app, url, port, readModel, queries, close };
  } catch (error) {
    await close();
    throw error;
  }
}
