import { serverUrls } from '@s1c/test-harness';
import { connect, type JetStreamClient, type JetStreamManager, type NatsConnection } from 'nats';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { connectMongo, type MongoFixture } from './mongo.fixture';

/** The harness's real nats-server and FerretDB for one spec file, and clean-up steps run after each test. */
export interface Servers {
  mongo: MongoFixture;
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  /** Run in reverse after each test; a failing step does not stop the others. */
  readonly cleanup: Array<() => Promise<unknown>>;
}

/** Registers the spec file's hooks: connects before its tests, runs `cleanup` after each, closes after all. */
export function useServers(): Servers {
  const servers = { cleanup: [] } as unknown as Servers;
  beforeAll(async () => {
    servers.mongo = await connectMongo();
    servers.nc = await connect({ servers: serverUrls().natsUrl });
    servers.js = servers.nc.jetstream();
    servers.jsm = await servers.nc.jetstreamManager();
  });
  afterEach(async () => {
    for (const step of servers.cleanup.reverse()) await step().catch(() => undefined);
    servers.cleanup.length = 0;
  });
  afterAll(async () => {
    await servers.nc?.close();
    await servers.mongo?.close();
  });
  return servers;
}
