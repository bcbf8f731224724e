import { mongoConnectionOf, natsConnectionOf } from '@s1c/config';
import { connectMongo, MongoEventStore, OutboxRelay, relaySubjectFor } from '@s1c/event-store';
import type { Logger } from '@s1c/logger';
import { connectNats, drainNats, STREAMS } from '@s1c/messaging';
import type { Db, MongoClient } from 'mongodb';
import type { JetStreamClient, JetStreamManager, NatsConnection } from 'nats';

/** The connection settings of every service's configuration (libs/config `commonEnvShape`). */
export type ConnectionConfig = Parameters<typeof natsConnectionOf>[0] &
  Parameters<typeof mongoConnectionOf>[0] & { readonly S1C_DB_NAME: string; readonly S1C_STREAM_REPLICAS?: number };

/** A service's two connections and what it reads and writes through them. */
export interface ServiceConnections {
  readonly mongo: MongoClient;
  readonly db: Db;
  /** The event log, its indexes ensured; what this service appends is published to `S1C_EVENTS` by {@link relay}. */
  readonly store: MongoEventStore;
  /** Publishes the store's appends; in the service opened with `recoverOutbox`, also recovers what other writers abandoned. */
  readonly relay: OutboxRelay;
  readonly nc: NatsConnection;
  readonly jsm: JetStreamManager;
  readonly js: JetStreamClient;
  /** Replicas of every stream this service declares (S1C_STREAM_REPLICAS). */
  readonly streamReplicas: number;
  /** Drains NATS (bounded), then closes MongoDB; the last step of a stop. Safe to call twice. */
  close(): Promise<void>;
}

export interface OpenConnectionsOptions {
  /** The service's name; NATS sees the client as `s1c-<name>`. */
  readonly name: string;
  readonly logger: Logger;
  /** The time the event store stamps events with (tests). */
  readonly clock?: () => Date;
  /** Take over the outboxes other writers abandoned, looking every `pollIntervalMs` (one service of a deployment: the registry). */
  readonly recoverOutbox?: { readonly pollIntervalMs: number };
}

/**
 * Connects to MongoDB (the event log's indexes ensured) and NATS, the same way for every service.
 * A failure closes what was opened and rejects with the connection's own clear error.
 */
export async function openConnections(config: ConnectionConfig, options: OpenConnectionsOptions): Promise<ServiceConnections> {
  const mongo = await connectMongo(mongoConnectionOf(config));
  let nc: NatsConnection | undefined;
  try {
    const db = mongo.db(config.S1C_DB_NAME);
    const store = new MongoEventStore(db, options.clock ? { clock: options.clock } : {});
    await store.ensureIndexes();
    nc = await connectNats({ ...natsConnectionOf(config), name: `s1c-${options.name}`, logger: options.logger });
    // No API check ($JS.API.INFO): not every service's NATS user may ask it (infra/nats/nats.conf), and
    // the first stream declaration says clearly enough whether JetStream answers.
    const jsm = await nc.jetstreamManager({ checkAPI: false });
    const opened = nc;
    const js = opened.jetstream();
    const relay = new OutboxRelay(store, db, js, jsm, {
      name: options.name,
      streamName: STREAMS.events.name,
      subjectFor: relaySubjectFor,
      recover: options.recoverOutbox !== undefined,
      ...(options.recoverOutbox ? { pollIntervalMs: options.recoverOutbox.pollIntervalMs } : {}),
      logger: options.logger,
    });
    await relay.start();
    let closing: Promise<void> | undefined;
    return {
      mongo,
      db,
      store,
      relay,
      nc: opened,
      jsm,
      js,
      streamReplicas: config.S1C_STREAM_REPLICAS ?? 1,
      close: () =>
        (closing ??= (async () => {
          await relay.stop().catch((error: unknown) => options.logger.warn({ err: error }, 'the outbox relay did not stop cleanly'));
          await drainNats(opened).catch((error: unknown) => options.logger.warn({ err: error }, 'NATS did not drain'));
          await mongo.close().catch((error: unknown) => options.logger.warn({ err: error }, 'MongoDB did not close cleanly'));
        })()),
    };
  } catch (error) {
    if (nc) await drainNats(nc).catch(() => undefined);
    await mongo.close().catch(() => undefined);
    throw error;
  }
}
