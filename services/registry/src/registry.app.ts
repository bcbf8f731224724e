import 'reflect-metadata';
import type { INestApplicationContext } from '@nestjs/common';
import type { OutboxRelay } from '@s1c/event-store';
import { createLogger, type Logger } from '@s1c/logger';
import { NatsTransport } from '@s1c/messaging';
import { openConnections, startServiceApplication } from '@s1c/runtime';
import type { AddressResolver } from '@s1c/s1-client';
import { SecretBox } from '@s1c/secrets';
import type { RegistryConfig } from './registry.config';
import { RegistryModule } from './registry.module';
import { SourceViews } from './source.views';
import { SourcesService } from './sources.service';

export interface RegistryRuntime {
  readonly app: INestApplicationContext;
  readonly sources: SourcesService;
  readonly views: SourceViews;
  readonly relay: OutboxRelay;
  /** Stops serving, finishes work in flight, and closes every connection. */
  close(): Promise<void>;
}

export interface RegistryOptions {
  readonly logger?: Logger;
  readonly clock?: () => Date;
  /** Resolves console host names (tests inject one); default: the system resolver. */
  readonly resolver?: AddressResolver;
}

/**
 * Starts the registry as a Nest microservice on the shared runtime: the event store and its read
 * model, the relay (which also recovers the outboxes other writers abandoned), and the command handlers on NATS
 * ({@link RegistryModule}).
 */
export async function startRegistry(config: RegistryConfig, options: RegistryOptions = {}): Promise<RegistryRuntime> {
  const logger = options.logger ?? createLogger({ name: 'registry', level: config.LOG_LEVEL });
  const clock = options.clock ?? (() => new Date());
  // Before connecting: a malformed key is a configuration error, not a connection's.
  const secrets = SecretBox.fromKeyList(config.S1C_SECRET_KEY);
  const connections = await openConnections(config, { name: 'registry', logger, clock, recoverOutbox: { pollIntervalMs: config.S1C_EVENT_POLL_INTERVAL } });
  const { app, close } = await startServiceApplication(
    RegistryModule.register({
      runtime: { config, logger, connections, clock, metrics: { port: config.S1C_METRICS_PORT, host: config.S1C_METRICS_HOST, consumers: [] } },
      secrets,
      policy: {
        allowInsecure: config.S1C_ALLOW_INSECURE_BASE_URL,
        privateConsoles: config.s1Network.privateConsoles,
        network: config.s1Network,
        ...(options.resolver ? { resolver: options.resolver } : {}),
      },
    }),
    { logger, connections, transport: new NatsTransport({ connection: connections.nc, logger, queueGroup: 's1c-registry', streams: [] }) },
  );
  logger.info({ db: config.S1C_DB_NAME, encryptionKeyId: secrets.currentKeyId }, 'registry started');
  return { app, sources: app.get(SourcesService), views: app.get(SourceViews), relay: connections.relay, close };
}
