import 'reflect-metadata';
import { ConfigError, isLoopbackHost, natsConnectionOf } from '@s1c/config';
import type { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { createLogger, NestLogger, registerSecret, type Logger } from '@s1c/logger';
import { connectNats, drainNats } from '@s1c/messaging';
import { startMetricsServer } from '@s1c/runtime';
import type { NatsConnection } from 'nats';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { configuredTokens } from './api-tokens';
import { ApiExceptionFilter } from './api-exception.filter';
import { exposureProblem, type GatewayConfig } from './gateway.config';
import { GatewayModule } from './gateway.module';
import { RegistryClient } from './registry.client';
import { requestContext } from './request.context';
import { apiSecurityHeaders } from './security.headers';

export interface GatewayRuntime {
  readonly app: INestApplication;
  /** The API's base URL, e.g. `http://127.0.0.1:8081/`. */
  readonly url: string;
  readonly port: number;
  readonly nc: NatsConnection;
  /** Stops serving, lets requests in flight finish, and closes the NATS connection. */
  close(): Promise<void>;
}

export interface GatewayOptions {
  readonly logger?: Logger;
}

/**
 * Starts the gateway: the hosted product's HTTP source API, each request one command to the
 * registry over NATS. It holds no state and talks to no database, so any number can run.
 */
export async function startGateway(config: GatewayConfig, options: GatewayOptions = {}): Promise<GatewayRuntime> {
  const logger = options.logger ?? createLogger({ name: 'gateway', level: config.LOG_LEVEL });
  const tokens = configuredTokens(config, (path) => readFileSync(path, 'utf8'));
  // S1C_API_TOKENS_FILE may hold no token at all (only comments): judged again on what it holds.
  const problem = exposureProblem(config, tokens.length > 0);
  if (problem) throw new ConfigError([problem]);
  for (const { token } of tokens) registerSecret(token);
  const cleanup: Array<() => Promise<unknown>> = [];
  const close = async () => {
    for (const step of cleanup.reverse()) await step().catch((error: unknown) => logger.warn({ err: error }, 'shutdown step failed'));
    cleanup.length = 0;
  };
  try {
    const nc = await connectNats({ ...natsConnectionOf(config), name: 's1c-gateway', logger });
    cleanup.push(() => drainNats(nc));
    const registry = new RegistryClient({ nc, timeoutMs: config.S1C_COMMAND_TIMEOUT, logger });
    const app = await NestFactory.create<NestExpressApplication>(GatewayModule.register({ registry, nc, tokens }), {
      logger: new NestLogger(logger),
      // Bodies are read by the handlers themselves: bounded, and only after authentication.
      bodyParser: false,
      abortOnError: false,
    });
    app.disable('x-powered-by');
    app.set('etag', false);
    // Express's fallback error page shows stacks outside "production".
    app.set('env', 'production');
    app.use(requestContext(logger));
    app.use(apiSecurityHeaders);
    app.useGlobalFilters(new ApiExceptionFilter(logger));
    await app.listen(config.S1C_GATEWAY_PORT, config.S1C_GATEWAY_HOST);
    cleanup.push(() => app.close());
    if (config.S1C_METRICS_PORT !== 0) {
      const metrics = await startMetricsServer({ port: config.S1C_METRICS_PORT, host: config.S1C_METRICS_HOST, logger });
      cleanup.push(() => metrics.close());
    }
    const port = (app.getHttpServer().address() as AddressInfo).port;
    const host = config.S1C_GATEWAY_HOST === '0.0.0.0' || config.S1C_GATEWAY_HOST === '::' ? '127.0.0.1' : config.S1C_GATEWAY_HOST;
    const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}/`;
    logger.info({ url, auth: tokens.length > 0 ? 'bearer' : 'none', callers: tokens.map((t) => t.name), commandTimeoutMs: config.S1C_COMMAND_TIMEOUT }, 'gateway started');
    if (tokens.length === 0 && !isLoopbackHost(config.S1C_GATEWAY_HOST)) {
      logger.warn({ host: config.S1C_GATEWAY_HOST }, 'the gateway takes commands from anyone who reaches it: S1C_ALLOW_ANONYMOUS=true and no API token');
    }
    return { app, url, port, nc, close };
  } catch (error) {
    await close();
    throw error;
  }
}
