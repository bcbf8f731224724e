import 'reflect-metadata';
import type { INestApplication } from '@nestjs/common';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { isLoopbackHost } from '@s1c/config';
import { createLogger, type Logger } from '@s1c/logger';
import { collectProcessMetrics, openConnections, startHttpServiceApplication } from '@s1c/runtime';
import type { AddressInfo } from 'node:net';
import { HealthExceptionFilter } from './api-exception.filter';
import { loadDashboardAssets, type DashboardAssets } from './dashboard.controller';
import type { HealthConfig } from './health.config';
import { HealthModule } from './health.module';
import { HealthQueries } from './health.queries';
import { HealthReadModel } from './health.read-model';
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
  const assets = options.assets ?? loadDashboardAssets();
  collectProcessMetrics();
  const connections = await openConnections(config, { name: 'health', logger, clock });
  const { app, close } = await startHttpServiceApplication<NestExpressApplication>(HealthModule.register({ runtime: { config, logger, connections, clock }, assets }), {
    logger,
    connections,
    port: config.S1C_HEALTH_PORT,
    host: config.S1C_HEALTH_HOST,
    configure: (created) => {
      created.disable('x-powered-by');
      created.set('etag', false);
      created.use(dashboardSecurityHeaders);
      created.useGlobalFilters(new HealthExceptionFilter(logger));
    },
  });
  const port = (app.getHttpServer().address() as AddressInfo).port;
  const host = config.S1C_HEALTH_HOST === '0.0.0.0' || config.S1C_HEALTH_HOST === '::' ? '127.0.0.1' : config.S1C_HEALTH_HOST;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}/`;
  logger.info({ url, db: config.S1C_DB_NAME, auth: config.S1C_API_TOKEN ? 'bearer' : 'none' }, 'health started');
  if (!config.S1C_API_TOKEN && !isLoopbackHost(config.S1C_HEALTH_HOST)) {
    logger.warn({ host: config.S1C_HEALTH_HOST }, 'the health API answers anyone who reaches it: S1C_ALLOW_ANONYMOUS=true and no S1C_API_TOKEN');
  }
  return { app, url, port, readModel: app.get(HealthReadModel), queries: app.get(HealthQueries), close };
}
