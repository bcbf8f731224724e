import { serverUrls, uniqueDbName } from '@s1c/test-harness';
import { MongoClient, type Db } from 'mongodb';
import { connect, type NatsConnection } from 'nats';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startService, type ServiceProcess } from './service.process';

export const FETCHERS = ['fetcher-activities', 'fetcher-agents', 'fetcher-threats'] as const;
export const SERVICES = ['registry', 'scheduler', ...FETCHERS] as const;
export type ServiceName = (typeof SERVICES)[number];

/** A parsed reply or event; tests look into it freely. */
export type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** The whole system as real processes on the harness's servers, with helpers to look inside. */
export class SystemUnderTest {
  private readonly processes = new Map<ServiceName, ServiceProcess>();
  /** Output of earlier runs of a service (before a kill or restart). */
  private readonly earlier = new Map<ServiceName, string>();

  private constructor(
    readonly env: Record<string, string>,
    readonly nc: NatsConnection,
    private readonly mongo: MongoClient,
    readonly db: Db,
  ) {}

  /** Starts every service with one shared environment (plus `overrides`). */
  static async start(overrides: Record<string, string> = {}): Promise<SystemUnderTest> {
    const { natsUrl, mongoUrl } = serverUrls();
    const env = {
      NATS_URL: natsUrl,
      MONGO_URL: mongoUrl,
      S1C_DB_NAME: uniqueDbName('system'),
      S1C_SECRET_KEY: randomBytes(32).toString('base64'),
      S1C_ALLOW_INSECURE_BASE_URL: 'true',
      LOG_LEVEL: 'info',
      ...overrides,
    };
    const nc = await connect({ servers: natsUrl });
    const mongo = await MongoClient.connect(mongoUrl);
    const system = new SystemUnderTest(env, nc, mongo, mongo.db(env.S1C_DB_NAME));
    for (const name of SERVICES) system.launch(name);
    await Promise.all(SERVICES.map((name) => system.process(name).waitForOutput(/started/, 60_000)));
    return system;
  }

  process(name: ServiceName): ServiceProcess {
    const process = this.processes.get(name);
    if (!process) throw new Error(`${name} is not running`);
    return process;
  }

  /** Ends a service abruptly (SIGKILL), as a crash would. */
  async kill(name: ServiceName): Promise<void> {
    await this.process(name).stop('SIGKILL');
  }

  /** Starts a service again and waits until it says it started. */
  async restart(name: ServiceName): Promise<void> {
    const process = this.processes.get(name);
    if (process && process.child.exitCode === null && process.child.signalCode === null) await process.stop('SIGTERM');
    this.launch(name);
    await this.process(name).waitForOutput(/started/, 60_000);
  }

  async command(op: string, payload: unknown): Promise<Json> {
    const reply = await this.nc.request(`s1c.cmd.source.${op}`, JSON.stringify(payload), { timeout: 15_000 });
    return JSON.parse(new TextDecoder().decode(reply.data)) as Json;
  }

  /** The events of one stream in the log, in order. */
  async stream(streamId: string): Promise<Json[]> {
    return this.db.collection('events').find({ streamId }).sort({ version: 1 }).toArray();
  }

  /** Every raw record published for a source and API: record id → how many messages carry it. */
  async rawRecords(sourceId: string, api: string): Promise<Map<string, number>> {
    const subject = `s1c.raw.${api}.${sourceId}`;
    const counts = new Map<string, number>();
    const jsm = await this.nc.jetstreamManager();
    const info = await jsm.streams.info('S1C_RAW', { subjects_filter: subject }).catch(() => undefined);
    const total = info?.state.subjects?.[subject] ?? 0;
    if (total === 0) return counts;
    // A single filter subject: nats-server 2.9 has no multi-filter consumers.
    const consumer = await this.nc.jetstream().consumers.get('S1C_RAW', { filterSubjects: subject });
    let seen = 0;
    while (seen < total) {
      const batch = await consumer.fetch({ max_messages: Math.min(1000, total - seen), expires: 5000 });
      let got = 0;
      for await (const message of batch) {
        const id = message.headers?.get('S1c-Record-Id') ?? '(no id)';
        counts.set(id, (counts.get(id) ?? 0) + 1);
        got++;
      }
      if (got === 0) throw new Error(`read ${seen} of ${total} raw messages on ${subject}`);
      seen += got;
    }
    await consumer.delete().catch(() => undefined);
    return counts;
  }

  /** Every log line of every service so far. */
  output(): string {
    return SERVICES.map((name) => this.outputOf(name)).join('\n');
  }

  async close(): Promise<void> {
    await Promise.all([...this.processes.values()].map((p) => p.stop('SIGTERM')));
    // Each service's output, for reading after a failed run (CI keeps the directory).
    const dir = process.env.S1C_E2E_LOG_DIR;
    if (dir) {
      mkdirSync(dir, { recursive: true });
      for (const name of SERVICES) writeFileSync(join(dir, `${this.env.S1C_DB_NAME}-${name}.log`), this.outputOf(name));
    }
    await this.nc.close();
    await this.mongo.close();
  }

  private launch(name: ServiceName): void {
    const previous = this.processes.get(name);
    if (previous) this.earlier.set(name, `${this.earlier.get(name) ?? ''}${previous.output()}\n--- restarted ---\n`);
    this.processes.set(name, startService(name, this.env));
  }

  private outputOf(name: ServiceName): string {
    return `${this.earlier.get(name) ?? ''}${this.processes.get(name)?.output() ?? ''}`;
  }
}

/** Polls `probe` until it returns a value (not undefined), or fails with `what` after the timeout. */
export async function eventually<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
