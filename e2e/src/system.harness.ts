import { expandCollectionEvent, type CollectionEvent } from '@s1c/domain';
import { freePort, serverUrls, startNatsServer, uniqueDbName, type RunningServer } from '@s1c/test-harness';
import { MongoClient, type Db } from 'mongodb';
import { AckPolicy, connect, DeliverPolicy, nanos, nuid, type NatsConnection } from 'nats';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startService, type ServiceProcess } from './service.process';

/** The fetchers of the hosted product's three APIs, and of the opt-in ones (alerts, groups). */
export const HOSTED_FETCHERS = ['fetcher-activities', 'fetcher-agents', 'fetcher-threats'] as const;
export const FETCHERS = [...HOSTED_FETCHERS, 'fetcher-alerts', 'fetcher-groups'] as const;
/** The collection services, started by default. */
export const SERVICES = ['registry', 'scheduler', ...FETCHERS] as const;
/** Every service of the system: the collection services plus the enricher and the health service. */
export const ALL_SERVICES = [...SERVICES, 'enricher', 'health'] as const;
/**
 * What the fault suites run: every service, with the hosted three fetchers only. Their sources
 * collect activities; two more idle processes on a 2-core machine only shift the timing their
 * scenarios are tuned to (the outages they provoke must catch work in flight).
 */
export const FAULT_SERVICES = ['registry', 'scheduler', ...HOSTED_FETCHERS, 'enricher', 'health'] as const;
/** Any service a test may start: those above, and the gateway (the HTTP source API), only when asked for. */
export type ServiceName = (typeof ALL_SERVICES)[number] | 'gateway';

/** How {@link SystemUnderTest.start} runs the system; every field is optional. */
export interface SystemOptions {
  /** Servers to use instead of the harness's shared ones (e.g. a nats-server the test restarts). */
  readonly natsUrl?: string;
  readonly mongoUrl?: string;
  /** Which services to start; default {@link SERVICES}. */
  readonly services?: readonly ServiceName[];
  /** Processes per service (replicas share every durable consumer); default 1. */
  readonly replicas?: Partial<Record<ServiceName, number>>;
  /**
   * Restart a process that exits without being asked to (after `restartDelayMs`), as a process
   * supervisor (compose `restart: always`, systemd, Kubernetes) would. Every such exit is listed
   * in {@link SystemUnderTest.unexpectedExits}. Default false.
   */
  readonly supervise?: boolean;
  readonly restartDelayMs?: number;
  /** Serve each instance's Prometheus metrics on a free port of its own (default: none). */
  readonly metrics?: boolean;
}

/** A process that ended without the test asking it to. */
export interface UnexpectedExit {
  readonly instance: string;
  readonly exit: number | NodeJS.Signals;
  readonly at: string;
  /** The last lines it printed. */
  readonly tail: string;
}

/** A parsed reply or event; tests look into it freely. */
export type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** The whole system as real processes on the harness's servers, with helpers to look inside. */
export class SystemUnderTest {
  /** Running processes by instance (`<service>` for the first replica, `<service>#<n>` for others). */
  private readonly processes = new Map<string, ServiceProcess>();
  /** Output of earlier runs of an instance (before a kill or restart). */
  private readonly earlier = new Map<string, string>();
  /** Processes the test ended on purpose (their exit is not unexpected). */
  private readonly stopping = new Set<ServiceProcess>();
  private readonly exits: UnexpectedExit[] = [];
  private closed = false;
  /** A nats-server of this system's own, when the test did not pass one. */
  private ownNats: RunningServer | undefined;
  /** Each instance's metrics port, with `metrics`. */
  private readonly metricsPorts = new Map<string, number>();

  private constructor(
    readonly env: Record<string, string>,
    readonly nc: NatsConnection,
    private readonly mongo: MongoClient,
    readonly db: Db,
    private readonly options: SystemOptions = {},
  ) {}

  /** Starts the services (default: the collection services) with one shared environment (plus `overrides`). */
  static async start(overrides: Record<string, string> = {}, options: SystemOptions = {}): Promise<SystemUnderTest> {
    // Every system gets its own nats-server unless the test passes one: systems of test files
    // running in parallel would otherwise share streams and durable consumers, and take each
    // other's work. The MongoDB-wire server is shared; each system has its own database.
    const ownNats = options.natsUrl ? undefined : await startNatsServer();
    const natsUrl = options.natsUrl ?? ownNats!.url;
    const mongoUrl = options.mongoUrl ?? serverUrls().mongoUrl;
    const env = {
      NATS_URL: natsUrl,
      MONGO_URL: mongoUrl,
      S1C_DB_NAME: uniqueDbName('system'),
      S1C_SECRET_KEY: randomBytes(32).toString('base64'),
      S1C_ALLOW_INSECURE_BASE_URL: 'true',
      LOG_LEVEL: 'info',
      ...overrides,
    };
    // The test's own connections ride out server restarts too.
    const nc = await connect({ servers: natsUrl.split(','), maxReconnectAttempts: -1, reconnectTimeWait: 500 });
    const mongo = await MongoClient.connect(mongoUrl);
    const system = new SystemUnderTest(env, nc, mongo, mongo.db(env.S1C_DB_NAME), options);
    system.ownNats = ownNats;
    if (options.metrics) for (const instance of system.instances()) system.metricsPorts.set(instance, await freePort());
    for (const instance of system.instances()) system.launch(instance);
    await Promise.all(system.instances().map((instance) => system.waitUntilStarted(instance)));
    return system;
  }

  /** Every instance the system runs: `<service>`, and `<service>#2`… for more replicas. */
  instances(): string[] {
    const services = this.options.services ?? SERVICES;
    return services.flatMap((name) =>
      Array.from({ length: this.options.replicas?.[name] ?? 1 }, (_, i) => (i === 0 ? name : `${name}#${i + 1}`)),
    );
  }

  /** The running process of an instance (a service name is its first replica). */
  process(instance: string): ServiceProcess {
    const process = this.processes.get(instance);
    if (!process) throw new Error(`${instance} is not running`);
    return process;
  }

  /** Ends an instance abruptly (SIGKILL), as a crash would. */
  async kill(instance: string): Promise<void> {
    const process = this.process(instance);
    this.stopping.add(process);
    await process.stop('SIGKILL');
  }

  /**
   * Sends `signal` to every running process at once and waits for each to exit, at most
   * `timeoutMs`: one that is still running then is reported so, and killed (SIGKILL). Each result
   * says how long after the signal the process ended.
   */
  async signalAll(signal: NodeJS.Signals, timeoutMs: number): Promise<Array<{ instance: string; exit: number | NodeJS.Signals | 'still running'; afterMs: number }>> {
    const running = [...this.processes.entries()].filter(([, p]) => p.child.exitCode === null && p.child.signalCode === null);
    for (const [, p] of running) this.stopping.add(p);
    const sent = Date.now();
    for (const [, p] of running) p.child.kill(signal);
    return Promise.all(
      running.map(async ([instance, p]) => {
        let timer: NodeJS.Timeout | undefined;
        const exit = await Promise.race([
          p.exited(),
          new Promise<'still running'>((resolve) => (timer = setTimeout(() => resolve('still running'), timeoutMs))),
        ]);
        clearTimeout(timer);
        const afterMs = Date.now() - sent;
        if (exit === 'still running') await p.stop('SIGKILL');
        return { instance, exit, afterMs };
      }),
    );
  }

  /** Starts an instance again and waits until it says it started. */
  async restart(instance: string): Promise<void> {
    const process = this.processes.get(instance);
    if (process && process.child.exitCode === null && process.child.signalCode === null) {
      this.stopping.add(process);
      await process.stop('SIGTERM');
    }
    this.launch(instance);
    await this.waitUntilStarted(instance);
  }

  /** An instance's `GET /metrics` text (the system was started with `metrics`). */
  async metrics(instance: string): Promise<string> {
    const port = this.metricsPorts.get(instance);
    if (port === undefined) throw new Error(`${instance} serves no metrics: start the system with { metrics: true }`);
    const response = await fetch(`http://127.0.0.1:${port}/metrics`);
    if (!response.ok) throw new Error(`${instance} /metrics answered ${response.status}`);
    return response.text();
  }

  /** Instances whose process is running now. */
  alive(): string[] {
    return [...this.processes.entries()].filter(([, p]) => p.child.exitCode === null && p.child.signalCode === null).map(([name]) => name);
  }

  /** Processes that ended without the test asking (each restarted when supervising). */
  unexpectedExits(): readonly UnexpectedExit[] {
    return this.exits;
  }

  async command(op: string, payload: unknown): Promise<Json> {
    const reply = await this.nc.request(`s1c.cmd.source.${op}`, JSON.stringify(payload), { timeout: 15_000 });
    return JSON.parse(new TextDecoder().decode(reply.data)) as Json;
  }

  /**
   * Registers a source in the hosted product's document shape; throws with the reply when it is
   * refused. Returns its id.
   */
  async createSource(config: { name: string; category: string; base_url: string; api_secret: string; supported_apis: readonly string[]; options?: Json }): Promise<string> {
    const reply = await this.command('create', {
      'api.version': 'v1',
      source: { config: { ...config, fields: { _siemForward: true } }, schemaRef: { type: 'SentinelOne Mgmt API' }, sourceType: 'Universal' },
    });
    if (reply.ok !== true) throw new Error(`create refused: ${JSON.stringify(reply)}`);
    return reply.source.id as string;
  }

  /** Whether at least `atLeast` jobs of one lane of a collection finished it, after version `after`. */
  async laneFinished(sourceId: string, api: string, lane: string, atLeast = 1, after = 0): Promise<boolean> {
    const events = await this.stream(`collection-${sourceId}-${api}`);
    return events.filter((e) => e.version > after && e.type === 'JobCompleted' && e.data.lane === lane && e.data.finished).length >= atLeast;
  }

  /**
   * The events of one stream in the log, in order; a JobRan as the three events it stands for (each
   * with the JobRan's version): what the services fold.
   */
  async stream(streamId: string): Promise<Json[]> {
    const stored = await this.db.collection('events').find({ streamId }).sort({ version: 1 }).toArray();
    return stored.flatMap((doc) => (doc.type === 'JobRan' ? expandCollectionEvent(doc as unknown as CollectionEvent).map((part) => ({ ...doc, ...part })) : [doc]));
  }

  /** The version of a stream's last event (0: none). */
  async streamVersion(streamId: string): Promise<number> {
    return (await this.stream(streamId)).at(-1)?.version ?? 0;
  }

  /** Every raw record published for a source and API: record id → how many messages carry it. */
  async rawRecords(sourceId: string, api: string): Promise<Map<string, number>> {
    return this.recordIds('S1C_RAW', `s1c.raw.${api}.${sourceId}`);
  }

  /**
   * Every record id on one subject of a stream → how many messages carry it: the ids of a raw
   * batch's `S1c-Record-Ids` header, or an output record's `S1c-Record-Id`.
   */
  async recordIds(stream: string, subject: string): Promise<Map<string, number>> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.readRecordIds(stream, subject);
      } catch (error) {
        // A JetStream API request can time out while a cluster elects a leader (a node lost or
        // restarting): the read is made again from the start, as the services' own requests are.
        const code = (error as { code?: string }).code;
        if (attempt >= 5 || (code !== 'TIMEOUT' && code !== '503')) throw error;
        await new Promise((r) => setTimeout(r, 2_000 * attempt));
      }
    }
  }

  private async readRecordIds(stream: string, subject: string): Promise<Map<string, number>> {
    const counts = new Map<string, number>();
    const jsm = await this.nc.jetstreamManager();
    // A stream not created yet holds nothing; any other failure is the caller's to see.
    const info = await jsm.streams.info(stream, { subjects_filter: subject }).catch((error: { api_error?: { err_code?: number } }) => {
      if (error.api_error?.err_code === 10059) return undefined;
      throw error;
    });
    const total = info?.state.subjects?.[subject] ?? 0;
    if (total === 0) return counts;
    // Not an ordered consumer: nats-server 2.9.10 places a one-replica consumer on any peer of the
    // stream, a lost node too, and the client then waits for it minutes on end. A consumer with the
    // stream's replicas is placed on every peer and answers while a majority of them does.
    const name = `e2e_read_${nuid.next()}`;
    await jsm.consumers.add(stream, { name, ack_policy: AckPolicy.None, deliver_policy: DeliverPolicy.All, filter_subject: subject, inactive_threshold: nanos(60_000) });
    const consumer = await this.nc.jetstream().consumers.get(stream, name);
    try {
      let seen = 0;
      // Raw batches are up to 512 KiB: a pull of a thousand would overrun the connection's pending
      // limit on the server (64 MiB), which then cuts the client off as a slow consumer.
      const perPull = stream === 'S1C_RAW' ? 16 : 1000;
      while (seen < total) {
        const batch = await consumer.fetch({ max_messages: Math.min(perPull, total - seen), expires: 5000 });
        let got = 0;
        for await (const message of batch) {
          const batch = message.headers?.get('S1c-Record-Ids');
          const ids = batch ? (JSON.parse(batch) as string[]) : [message.headers?.get('S1c-Record-Id') ?? '(no id)'];
          for (const id of ids) counts.set(id, (counts.get(id) ?? 0) + 1);
          got++;
        }
        if (got === 0) throw new Error(`read ${seen} of ${total} messages on ${subject} in ${stream}`);
        seen += got;
      }
    } finally {
      await consumer.delete().catch(() => undefined);
    }
    return counts;
  }

  /** Every log line of every service so far. */
  output(): string {
    return this.known().map((instance) => this.outputOf(instance)).join('\n');
  }

  /** One instance's log lines so far, over all its restarts. */
  outputOf(instance: string): string {
    return `${this.earlier.get(instance) ?? ''}${this.processes.get(instance)?.output() ?? ''}`;
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(
      [...this.processes.values()].map((p) => {
        this.stopping.add(p);
        return p.stop('SIGTERM');
      }),
    );
    // Each service's output, for reading after a failed run (CI keeps the directory).
    const dir = process.env.S1C_E2E_LOG_DIR;
    if (dir) {
      mkdirSync(dir, { recursive: true });
      for (const instance of this.known()) writeFileSync(join(dir, `${this.env.S1C_DB_NAME}-${instance.replace('#', '-')}.log`), this.outputOf(instance));
    }
    await this.nc.close();
    await this.mongo.close();
    await this.ownNats?.stop();
  }

  private known(): string[] {
    return [...new Set([...this.instances(), ...this.processes.keys()])];
  }

  /** Waits until the instance's current process says it started (a supervised restart replaces the process). */
  private async waitUntilStarted(instance: string, timeoutMs = 90_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const current = this.process(instance);
      const exited = current.child.exitCode !== null || current.child.signalCode !== null;
      if (/started/.test(current.output())) return;
      if (exited && !this.options.supervise) throw new Error(`${instance} exited early:\n${current.output()}`);
      if (Date.now() > deadline) throw new Error(`${instance} did not start within ${timeoutMs} ms:\n${this.outputOf(instance)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  private launch(instance: string): void {
    const previous = this.processes.get(instance);
    if (previous) this.earlier.set(instance, `${this.earlier.get(instance) ?? ''}${previous.output()}\n--- restarted ---\n`);
    const service = instance.split('#')[0]!;
    const metricsPort = this.metricsPorts.get(instance);
    const child = startService(service, metricsPort === undefined ? this.env : { ...this.env, S1C_METRICS_PORT: String(metricsPort) });
    this.processes.set(instance, child);
    void child.exited().then((exit) => {
      if (this.stopping.has(child) || this.closed) return;
      this.exits.push({ instance, exit, at: new Date().toISOString(), tail: child.output().split('\n').slice(-8).join('\n') });
      if (!this.options.supervise) return;
      setTimeout(() => {
        if (!this.closed && this.processes.get(instance) === child) this.launch(instance);
      }, this.options.restartDelayMs ?? 1000);
    });
  }
}

/** Polls `probe` until it returns a value (not undefined), or fails with `what` after the timeout. */
export async function eventually<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    // A probe that hangs fails the wait at its deadline, named, instead of the test's own timeout.
    let timer: NodeJS.Timeout | undefined;
    const hung = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('the probe had not answered at the deadline')), Math.max(deadline - Date.now(), 1_000));
    });
    try {
      const value = await Promise.race([probe(), hung]);
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    } finally {
      clearTimeout(timer);
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
