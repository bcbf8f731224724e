import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, Socket } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { findBinary } from './binaries';
import { connect } from 'nats';

/** A server process the harness started; `stop` ends it and removes its data directory. */
export interface RunningServer {
  readonly url: string;
  readonly port: number;
  readonly dataDir: string;
  /** Stops the process (SIGTERM, then SIGKILL) and, unless `keepData`, deletes its data. */
  stop(options?: { keepData?: boolean }): Promise<void>;
  /** Ends the process abruptly, as a crash would; the data directory stays. */
  kill(): Promise<void>;
  /** Starts the process again on the same port with the same data. */
  restart(): Promise<void>;
}

/** Asks the OS for a free TCP port on loopback. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

async function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    socket.setTimeout(500);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
    socket.connect(port, '127.0.0.1');
  });
}

interface ProcessSpec {
  name: string;
  binary: string;
  args: string[];
  /** Extra environment (e.g. the passwords a nats-server configuration file reads). */
  env?: Record<string, string>;
  port: number;
  dataDir: string;
  url: string;
  readyTimeoutMs: number;
}

async function launch(spec: ProcessSpec): Promise<ChildProcess> {
  const env = spec.env ? { ...process.env, ...spec.env } : process.env;
  const child = spawn(spec.binary, spec.args, { cwd: spec.dataDir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-4000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  let exited: number | null | undefined;
  child.once('exit', (code) => {
    exited = code;
  });
  const deadline = Date.now() + spec.readyTimeoutMs;
  while (Date.now() < deadline) {
    if (exited !== undefined) {
      throw new Error(`${spec.name} exited with code ${exited} before it was ready:\n${output}`);
    }
    if (await canConnect(spec.port)) return child;
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGKILL');
  throw new Error(`${spec.name} did not listen on port ${spec.port} within ${spec.readyTimeoutMs} ms:\n${output}`);
}

async function terminate(child: ChildProcess, signal: NodeJS.Signals, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** Where a server listens and keeps its data; both default to fresh temporary ones. */
export interface ServerOptions {
  readonly port?: number;
  /** A directory to keep the data in (created if missing, never deleted by `stop`). */
  readonly dataDir?: string;
}

async function startManaged(
  spec: Omit<ProcessSpec, 'port' | 'dataDir' | 'url' | 'args'> & {
    prefix: string;
    argsFor(port: number, dataDir: string): string[] | Promise<string[]>;
    urlFor(port: number): string;
  },
  options: ServerOptions,
): Promise<RunningServer> {
  const ownDir = options.dataDir === undefined;
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), spec.prefix));
  mkdirSync(dataDir, { recursive: true });
  const port = options.port ?? (await freePort());
  const full: ProcessSpec = { ...spec, port, dataDir, url: spec.urlFor(port), args: await spec.argsFor(port, dataDir) };
  let child: ChildProcess;
  try {
    child = await launch(full);
  } catch (error) {
    if (ownDir) rmSync(dataDir, { recursive: true, force: true });
    throw error;
  }
  return {
    url: full.url,
    port,
    dataDir,
    async stop(options) {
      await terminate(child, 'SIGTERM', 5000);
      if (ownDir && !options?.keepData) rmSync(dataDir, { recursive: true, force: true });
    },
    async kill() {
      await terminate(child, 'SIGKILL', 0);
    },
    async restart() {
      await terminate(child, 'SIGTERM', 5000);
      child = await launch(full);
    },
  };
}

/** Options of {@link startNatsServer}. */
export interface NatsServerOptions extends ServerOptions {
  /**
   * A configuration file (accounts, users, TLS), e.g. infra/nats/nats.conf. The address, port and
   * store directory given here still win, and its monitoring port is moved to a free one.
   */
  readonly configFile?: string;
  /** Environment for the server, e.g. the passwords the configuration file reads. */
  readonly env?: Record<string, string>;
}

/** Starts `nats-server -js` on a free port with its store in a temporary directory. */
export async function startNatsServer(options: NatsServerOptions = {}): Promise<RunningServer> {
  const binary = findBinary('nats-server', process.env.NATS_SERVER_BIN, ['/usr/sbin', '/usr/local/bin']);
  return startManaged({
    name: 'nats-server',
    binary,
    prefix: 's1c-nats-',
    readyTimeoutMs: 15_000,
    ...(options.env ? { env: options.env } : {}),
    argsFor: async (port, dir) => [
      ...(options.configFile ? ['-c', options.configFile, '-m', String(await freePort())] : []),
      '-js', '-a', '127.0.0.1', '-p', String(port), '-sd', dir,
    ],
    urlFor: (port) => `nats://127.0.0.1:${port}`,
  }, options);
}

/** TLS files for a server: its certificate and key, and the CA that client certificates must chain to. */
export interface ServerTlsFiles {
  readonly certFile: string;
  readonly keyFile: string;
  readonly caFile: string;
}

/** Options of {@link startFerretDb}. */
export interface FerretDbOptions extends ServerOptions {
  /**
   * Listen with TLS on `port` (the returned URL), verifying client certificates against `caFile`;
   * the plain listener moves to another free port.
   */
  readonly tls?: ServerTlsFiles;
  /**
   * Require authentication (FerretDB's experimental SCRAM support) and create this user, in
   * `database`, when the store is new: clients authenticate with `authSource=<database>`.
   */
  readonly auth?: { readonly username: string; readonly password: string; readonly database: string };
}

/** Starts FerretDB v1 (SQLite backend) on a free port with its data in a temporary directory. */
export async function startFerretDb(options: FerretDbOptions = {}): Promise<RunningServer> {
  const tls = options.tls;
  const binary = findBinary('ferretdb', process.env.FERRETDB_BIN, [join(homedir(), 'go', 'bin'), '/usr/local/bin']);
  return startManaged({
    name: 'ferretdb',
    binary,
    prefix: 's1c-ferretdb-',
    // The password by environment, not on the command line (where `ps` shows it).
    ...(options.auth ? { env: { FERRETDB_SETUP_PASSWORD: options.auth.password } } : {}),
    readyTimeoutMs: 30_000,
    argsFor: async (port, dir) => [
      '--handler=sqlite',
      // WAL with synchronous=NORMAL: a commit is written to the WAL but not fsynced (the WAL is
      // synced at checkpoints), so a killed FerretDB loses nothing and a power loss may lose the last
      // commits, as mongo:7 does with its default write concern (journal synced every 100 ms). The
      // default (FULL) fsyncs every insert command: a sixth of the embedded store's CPU at scale.
      `--sqlite-url=file:${dir}/?_pragma=synchronous(normal)`,
      ...(tls
        ? [
            `--listen-addr=127.0.0.1:${await freePort()}`,
            `--listen-tls=127.0.0.1:${port}`,
            `--listen-tls-cert-file=${tls.certFile}`,
            `--listen-tls-key-file=${tls.keyFile}`,
            `--listen-tls-ca-file=${tls.caFile}`,
          ]
        : [`--listen-addr=127.0.0.1:${port}`]),
      ...(options.auth
        ? ['--test-enable-new-auth', `--setup-database=${options.auth.database}`, `--setup-username=${options.auth.username}`]
        : []),
      '--telemetry=disable',
      `--state-dir=${dir}`,
      '--debug-addr=-',
      '--log-level=warn',
    ],
    urlFor: (port) => `mongodb://127.0.0.1:${port}/`,
  }, options);
}

/** A JetStream cluster of `nats-server` processes on loopback (see {@link startNatsCluster}). */
export interface RunningNatsCluster {
  /** Every node's client URL, comma-separated (what NATS_URL takes). */
  readonly url: string;
  /** The nodes, in order; their server names are `n1`, `n2`, ... */
  readonly nodes: readonly RunningServer[];
  readonly names: readonly string[];
  /** Each node's monitoring URL (`/jsz`, `/varz`, ...), in the order of {@link nodes}. */
  readonly monitorUrls: readonly string[];
  /** The index in {@link nodes} of the JetStream meta leader, asked of the first node that answers. */
  metaLeader(): Promise<number>;
  /** Stops every node that still runs and removes their stores. */
  stop(): Promise<void>;
}

/**
 * Starts `size` `nats-server -js` processes (default 3) on loopback with cluster routes between
 * them (cluster `s1c`), and resolves once JetStream answers on the cluster (a meta leader is elected).
 */
export async function startNatsCluster(options: { size?: number } = {}): Promise<RunningNatsCluster> {
  const size = options.size ?? 3;
  const binary = findBinary('nats-server', process.env.NATS_SERVER_BIN, ['/usr/sbin', '/usr/local/bin']);
  const routePorts: number[] = [];
  for (let i = 0; i < size; i++) routePorts.push(await freePort());
  const routes = routePorts.map((p) => `nats://127.0.0.1:${p}`).join(',');
  const monitorPorts: number[] = [];
  for (let i = 0; i < size; i++) monitorPorts.push(await freePort());
  const monitorUrls = monitorPorts.map((p) => `http://127.0.0.1:${p}`);
  const nodes: RunningServer[] = [];
  const names = routePorts.map((_, i) => `n${i + 1}`);
  try {
    for (let i = 0; i < size; i++) {
      nodes.push(
        await startManaged(
          {
            name: `nats-server ${names[i]}`,
            binary,
            prefix: `s1c-nats-${names[i]}-`,
            readyTimeoutMs: 15_000,
            argsFor: (port, dir) => [
              ...['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', dir, '-n', names[i]!, '-m', String(monitorPorts[i])],
              ...['--cluster_name', 's1c', '--cluster', `nats://127.0.0.1:${routePorts[i]}`, '--routes', routes],
            ],
            urlFor: (port) => `nats://127.0.0.1:${port}`,
          },
          {},
        ),
      );
    }
    const url = nodes.map((n) => n.url).join(',');
    await waitForJetStream(url, 30_000, size);
    return {
      url,
      nodes,
      names,
      monitorUrls,
      async metaLeader() {
        for (const monitor of monitorUrls) {
          try {
            const jsz = (await (await fetch(`${monitor}/jsz`, { signal: AbortSignal.timeout(2_000) })).json()) as { meta_cluster?: { leader?: string } };
            const index = names.indexOf(jsz.meta_cluster?.leader ?? '');
            if (index >= 0) return index;
          } catch {
            // That node is down: ask the next.
          }
        }
        throw new Error('no node of the cluster names a JetStream meta leader');
      },
      async stop() {
        for (const node of nodes) await node.stop().catch(() => undefined);
      },
    };
  } catch (error) {
    for (const node of nodes) await node.stop().catch(() => undefined);
    throw error;
  }
}

/**
 * Resolves once JetStream answers on `url` (one server or a cluster) and can place a stream of
 * `replicas` (a cluster knows its peers a moment after its meta leader is elected).
 */
export async function waitForJetStream(url: string, timeoutMs: number, replicas = 1): Promise<void> {
  const nc = await connect({ servers: url.split(','), maxReconnectAttempts: -1 });
  try {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        const jsm = await nc.jetstreamManager({ timeout: 2_000 });
        await jsm.getAccountInfo();
        if (replicas > 1) {
          await jsm.streams.add({ name: 'S1C_HARNESS_PROBE', subjects: ['s1c-harness-probe'], num_replicas: replicas });
          await jsm.streams.delete('S1C_HARNESS_PROBE');
        }
        return;
      } catch (error) {
        if (Date.now() > deadline) throw new Error(`JetStream did not answer on ${url} within ${timeoutMs} ms: ${error instanceof Error ? error.message : String(error)}`);
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    }
  } finally {
    await nc.close();
  }
}
