import { Inject, Injectable, Module, type DynamicModule } from '@nestjs/common';
import { createLogger } from '@s1c/logger';
import { freePort, serverUrls } from '@s1c/test-harness';
import { Writable } from 'node:stream';
import { AckPolicy } from 'nats';
import { describe, expect, it } from 'vitest';
import { openConnections, type ServiceConnections } from './service.connections';
import { MetricsEndpoint, type MetricsSettings } from './metrics';
import { RUNTIME, RuntimeModule, startServiceApplication } from './service.module';

const FAILS_IN = Symbol('fails in');
type Phase = 'onModuleInit' | 'onApplicationBootstrap' | 'onModuleDestroy' | 'beforeApplicationShutdown';

/** Notes each phase it sees, and whether NATS was still open then; throws in the phase it is told to. */
@Injectable()
class Witness {
  static readonly seen: Array<{ phase: Phase; natsOpen: boolean }> = [];

  constructor(
    @Inject(RUNTIME.connections) private readonly connections: ServiceConnections,
    @Inject(FAILS_IN) private readonly failsIn: Phase | undefined,
  ) {}

  private note(phase: Phase): void {
    Witness.seen.push({ phase, natsOpen: !this.connections.nc.isClosed() });
    if (this.failsIn === phase) throw new Error(`${phase} failed`);
  }

  onModuleInit(): void {
    this.note('onModuleInit');
  }
  onApplicationBootstrap(): void {
    this.note('onApplicationBootstrap');
  }
  onModuleDestroy(): void {
    this.note('onModuleDestroy');
  }
  beforeApplicationShutdown(): void {
    this.note('beforeApplicationShutdown');
  }
}

@Module({})
class WitnessModule {
  static register(connections: ServiceConnections, failsIn?: Phase, metrics?: MetricsSettings): DynamicModule {
    const logger = createLogger({ name: 'test', level: 'silent' });
    return {
      module: WitnessModule,
      imports: [RuntimeModule.forRoot({ config: {}, logger, connections, ...(metrics ? { metrics } : {}) })],
      providers: [Witness, { provide: FAILS_IN, useValue: failsIn }],
    };
  }
}

async function connections(): Promise<{ connections: ServiceConnections; mongoClosed: () => boolean }> {
  const { natsUrl, mongoUrl } = serverUrls();
  const logger = createLogger({ name: 'test', level: 'silent', destination: new Writable({ write: (_c, _e, done) => done() }) });
  const opened = await openConnections({ NATS_URL: natsUrl, MONGO_URL: mongoUrl, S1C_DB_NAME: 'runtimetest' }, { name: 'runtime-test', logger });
  let closed = false;
  opened.mongo.on('topologyClosed', () => (closed = true));
  return { connections: opened, mongoClosed: () => closed };
}

const logger = createLogger({ name: 'test', level: 'silent' });

describe('a service application on the shared runtime', () => {
  it('goes through the same phases on start and stop, and closes the connections after them', async () => {
    Witness.seen.length = 0;
    const { connections: opened, mongoClosed } = await connections();
    const { app, close } = await startServiceApplication(WitnessModule.register(opened), { logger, connections: opened });
    expect(app.get(RUNTIME.connections)).toBe(opened);
    expect(Witness.seen.map((s) => s.phase)).toEqual(['onModuleInit', 'onApplicationBootstrap']);
    await close();
    expect(Witness.seen).toEqual([
      { phase: 'onModuleInit', natsOpen: true },
      { phase: 'onApplicationBootstrap', natsOpen: true },
      { phase: 'onModuleDestroy', natsOpen: true },
      { phase: 'beforeApplicationShutdown', natsOpen: true },
    ]);
    expect(opened.nc.isClosed()).toBe(true);
    expect(mongoClosed()).toBe(true);
  });

  it('closes the connections when a stop step throws, and a second close does nothing more', async () => {
    Witness.seen.length = 0;
    const { connections: opened, mongoClosed } = await connections();
    const { close } = await startServiceApplication(WitnessModule.register(opened, 'onModuleDestroy'), { logger, connections: opened });
    await close();
    await close();
    expect(Witness.seen.map((s) => s.phase)).toEqual(['onModuleInit', 'onApplicationBootstrap', 'onModuleDestroy']);
    expect(opened.nc.isClosed()).toBe(true);
    expect(mongoClosed()).toBe(true);
  });

  it('closes the connections and rejects with the error when the start fails', async () => {
    Witness.seen.length = 0;
    const { connections: opened, mongoClosed } = await connections();
    await expect(startServiceApplication(WitnessModule.register(opened, 'onModuleInit'), { logger, connections: opened })).rejects.toThrow('onModuleInit failed');
    expect(opened.nc.isClosed()).toBe(true);
    expect(mongoClosed()).toBe(true);
  });
});

describe('openConnections', () => {
  it('rejects with an error that names NATS when it cannot be reached', async () => {
    const { mongoUrl } = serverUrls();
    await expect(openConnections({ NATS_URL: 'nats://127.0.0.1:1', MONGO_URL: mongoUrl, S1C_DB_NAME: 'runtimetest' }, { name: 'runtime-test', logger })).rejects.toThrow(/NATS/);
  });
});

describe('the metrics endpoint', () => {
  it('serves the process metrics and the backlog of the durable consumers it is given, from start to stop', async () => {
    const { connections: opened } = await connections();
    const stream = `METRICS_${Date.now()}`;
    await opened.jsm.streams.add({ name: stream, subjects: [`${stream}.>`] });
    await opened.jsm.consumers.add(stream, { durable_name: 'reader', ack_policy: AckPolicy.Explicit });
    for (let i = 0; i < 3; i++) await opened.js.publish(`${stream}.${i}`, new Uint8Array([i]));
    const port = await freePort();
    const { close } = await startServiceApplication(WitnessModule.register(opened, undefined, { port, host: '127.0.0.1', consumers: [{ stream, durable: 'reader' }] }), {
      logger,
      connections: opened,
    });
    try {
      const response = await fetch(`http://127.0.0.1:${port}/metrics`);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toContain('text/plain');
      const text = await response.text();
      expect(text).toMatch(/^process_cpu_seconds_total \d/m);
      expect(text).toMatch(/^nodejs_heap_size_used_bytes \d/m);
      expect(text).toContain(`s1c_consumer_pending_messages{stream="${stream}",durable="reader"} 3`);
      expect(text).toContain(`s1c_consumer_ack_pending_messages{stream="${stream}",durable="reader"} 0`);
      expect((await fetch(`http://127.0.0.1:${port}/other`)).status).toBe(404);
      expect((await fetch(`http://127.0.0.1:${port}/metrics`, { method: 'POST' })).status).toBe(404);
    } finally {
      await opened.jsm.streams.delete(stream).catch(() => undefined);
      await close();
    }
    await expect(fetch(`http://127.0.0.1:${port}/metrics`)).rejects.toThrow();
  });

  it('serves nothing with port 0', async () => {
    const { connections: opened } = await connections();
    const { app, close } = await startServiceApplication(WitnessModule.register(opened, undefined, { port: 0, host: '127.0.0.1', consumers: [] }), { logger, connections: opened });
    expect(app.get(MetricsEndpoint).port).toBe(0);
    await close();
  });
});
