import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import type { INestMicroservice } from '@nestjs/common';
import { mongoConnectionOf, natsConnectionOf } from '@s1c/config';
import { collectionDecider, isCollectionEvent } from '@s1c/domain';
import { AggregateRepository, connectMongo, MongoEventStore, OutboxRelay } from '@s1c/event-store';
import { createLogger, NestLogger, type Logger } from '@s1c/logger';
import { connectNats, drainNats, ensureStream, NatsTransport, STREAMS } from '@s1c/messaging';
import type { AddressResolver } from '@s1c/s1-client';
import { SecretBox } from '@s1c/secrets';
import { randomUUID } from 'node:crypto';
import { ImmediateDeletionCompleter } from './deletion.completer';
import type { RegistryConfig } from './registry.config';
import { RegistryModule } from './registry.module';
import { SourceNameRegistry } from './source-name.registry';
import { SourceRepository } from './source.repository';
import { relaySubjectFor } from './source.streams';
import { SourceViews } from './source.views';
import { SourcesService } from './sources.service';

export interface RegistryRuntime {
  readonly app: INestMicroservice;
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
 * Starts the registry: the event store and its read model, the relay that publishes the log to
 * JetStream, and the command handlers on NATS.
 */
export async function startRegistry(config: RegistryConfig, options: RegistryOptions = {}): Promise<RegistryRuntime> {
  const logger = options.logger ?? createLogger({ name: 'registry', level: config.LOG_LEVEL });
  const clock = options.clock ?? (() => new Date());
  const secrets = SecretBox.fromKeyList(config.S1C_SECRET_KEY);
  const cleanup: Array<() => Promise<unknown>> = [];
  const close = async () => {
    for (const step of cleanup.reverse()) await step().catch((error: unknown) => logger.warn({ err: error }, 'shutdown step failed'));
  };
  try {
    const mongo = await connectMongo(mongoConnectionOf(config));
    cleanup.push(() => mongo.close());
    const db = mongo.db(config.S1C_DB_NAME);
    const store = new MongoEventStore(db, { clock });
    await store.ensureIndexes();

    const nc = await connectNats({ ...natsConnectionOf(config), name: 's1c-registry', logger });
    cleanup.push(() => drainNats(nc));
    const jsm = await nc.jetstreamManager();
    await ensureStream(jsm, STREAMS.events, { logger });

    // Every source folded from S1C_EVENTS (the relay below is in this process and is woken by its
    // appends); start resolves once every source relayed so far is held.
    const views = new SourceViews(store, nc, { gapTimeoutMs: config.S1C_EVENT_GAP_TIMEOUT, logger });
    await views.start();
    cleanup.push(() => views.stop());

    const relay = new OutboxRelay(store, db, nc.jetstream(), jsm, {
      name: 'registry',
      streamName: STREAMS.events.name,
      subjectFor: relaySubjectFor,
      pollIntervalMs: config.S1C_EVENT_POLL_INTERVAL,
      logger,
    });
    await relay.start();
    cleanup.push(() => relay.stop());

    const repository = new SourceRepository(store);
    const sources = new SourcesService({
      repository,
      collections: new AggregateRepository(store, collectionDecider(), isCollectionEvent),
      names: new SourceNameRegistry(store, async (sourceId) => (await views.load(sourceId)).state.source, clock),
      secrets,
      views,
      clock,
      newId: randomUUID,
    });
    if (config.S1C_DELETION_COMPLETION === 'immediate') {
      const completer = new ImmediateDeletionCompleter(sources, logger);
      sources.useDeletionCompleter(completer);
      cleanup.push(() => completer.idle());
      await completer.resume();
    }

    const app = await NestFactory.createMicroservice(
      RegistryModule.register({
        sources,
        policy: { allowInsecure: config.S1C_ALLOW_INSECURE_BASE_URL, ...(options.resolver ? { resolver: options.resolver } : {}) },
        logger,
        trustedGateways: config.S1C_TRUSTED_GATEWAY_USERS,
      }),
      { strategy: new NatsTransport({ connection: nc, logger, queueGroup: 's1c-registry', streams: [] }), logger: new NestLogger(logger) },
    );
    await app.listen();
    cleanup.push(() => app.close());
    logger.info({ db: config.S1C_DB_NAME, encryptionKeyId: secrets.currentKeyId }, 'registry started');
    return { app, sources, views, relay, close };
  } catch (error) {
    await close();
    throw error;
  }
}
