// Shared pieces of the whole-system benchmarks (throughput, scale, latency). Not part of the test run.
// Servers come from the built test-harness (or NATS_URL / MONGO_URL); services and the simulator
// run as processes, started as e2e/src/service.process.ts does; /proc gives CPU time and RSS.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const require = createRequire(join(ROOT, 'e2e', 'package.json'));
export const { connect, headers: natsHeaders } = require('nats');
export const { MongoClient } = require('mongodb');
export const load = (p) => import(pathToFileURL(join(ROOT, p)).href);

export const PIPELINE = ['registry', 'scheduler', 'fetcher-activities', 'fetcher-agents', 'fetcher-threats', 'enricher', 'health'];

/** `--name value` / `--flag` arguments, with defaults. */
export function parseArgs(defaults) {
  const out = { ...defaults };
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    const key = argv[i].replace(/^--/, '');
    if (!(key in defaults)) {
      console.error(`unknown flag --${key}; flags: ${Object.keys(defaults).map((k) => `--${k}`).join(' ')}`);
      process.exit(2);
    }
    if (typeof defaults[key] === 'boolean') out[key] = true;
    else out[key] = typeof defaults[key] === 'number' ? Number(argv[++i]) : argv[++i];
  }
  return out;
}

export function machine() {
  const cpus = os.cpus();
  return {
    cores: cpus.length,
    cpu: cpus[0]?.model ?? 'unknown',
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    platform: `${os.type()} ${os.release()}`,
  };
}

export function printHeader(title, settings) {
  console.log(`# ${title}`);
  console.log(`command: node ${process.argv.slice(1).map((a) => a.replace(`${ROOT}/`, '')).join(' ')}`);
  const m = machine();
  console.log(`machine: ${m.cores} cores (${m.cpu}), ${m.memoryGiB} GiB, Node ${m.node}, ${m.platform}`);
  console.log(`settings: ${JSON.stringify(settings)}`);
  console.log('');
}

const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK']).stdout?.toString().trim()) || 100;

/** utime+stime in seconds, RSS and peak RSS (VmHWM) in MiB, or null once the process is gone. */
export function procStats(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const cpu = (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = (key) => Number((new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(status) ?? [0, 0])[1]);
    return { cpu, rssMiB: kib('VmRSS') / 1024, hwmMiB: kib('VmHWM') / 1024 };
  } catch {
    return null;
  }
}

/** Our own child processes whose command name is one of `names` (nats-server, ferretdb). */
export function childPidsNamed(names) {
  const found = {};
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid !== process.pid || !names.includes(comm)) continue;
      // A cluster's nodes: nats-server, nats-server#2, nats-server#3.
      let name = comm;
      for (let n = 2; found[name] !== undefined; n++) name = `${comm}#${n}`;
      found[name] = Number(entry);
    } catch {
      /* gone */
    }
  }
  return found;
}

/**
 * Samples CPU seconds and RSS of named processes every `everyMs`: the last CPU seen, peak RSS
 * (max of VmHWM and samples), and marks to read the CPU used between two moments.
 */
export class Sampler {
  constructor(everyMs = 500) {
    this.procs = new Map();
    this.timer = setInterval(() => this.sample(), everyMs);
    this.timer.unref();
  }
  watch(name, pid) {
    const s = procStats(pid);
    this.procs.set(name, { pid, cpu0: s?.cpu ?? 0, cpu: s?.cpu ?? 0, peak: s?.hwmMiB ?? 0, rss: s?.rssMiB ?? 0 });
  }
  sample() {
    for (const p of this.procs.values()) {
      const s = procStats(p.pid);
      if (!s) continue;
      p.cpu = s.cpu;
      p.rss = s.rssMiB;
      p.peak = Math.max(p.peak, s.hwmMiB, s.rssMiB);
    }
  }
  /** CPU seconds of each process since it was watched (or since `since`, a previous `cpuNow()`). */
  cpuNow() {
    this.sample();
    return Object.fromEntries([...this.procs].map(([n, p]) => [n, p.cpu]));
  }
  /** Resets the CPU baselines to now (after start-up, before the measured part). */
  rebase() {
    this.sample();
    for (const p of this.procs.values()) p.cpu0 = p.cpu;
  }
  table() {
    this.sample();
    return [...this.procs].map(([name, p]) => ({ name, pid: p.pid, cpuSeconds: p.cpu - p.cpu0, peakRssMiB: Math.round(p.peak), rssMiB: Math.round(p.rss) }));
  }
  stop() {
    clearInterval(this.timer);
  }
}

export function printProcTable(rows, wallSeconds) {
  console.log('| process | CPU s | CPU % of one core | peak RSS MiB | RSS at end MiB |');
  console.log('| --- | ---: | ---: | ---: | ---: |');
  let total = 0;
  for (const r of rows) {
    total += r.cpuSeconds;
    console.log(`| ${r.name} | ${r.cpuSeconds.toFixed(1)} | ${Math.round((100 * r.cpuSeconds) / wallSeconds)} | ${r.peakRssMiB} | ${r.rssMiB} |`);
  }
  console.log(`| all | ${total.toFixed(1)} | ${Math.round((100 * total) / wallSeconds)} (of ${os.cpus().length * 100}) | | |`);
}

/** Processes a bench started and that still run: a bench that fails half-way must not leave them behind. */
const leftBehind = new Set();
process.once('exit', () => {
  for (const pid of leftBehind) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
});

/**
 * nats-server and FerretDB: the harness's (our children, sampled) or the ones NATS_URL / MONGO_URL
 * name. With `cluster`, three nats-server processes routed to each other (a JetStream cluster), and
 * `streamReplicas` 3 for the services' S1C_STREAM_REPLICAS.
 */
export async function startServers({ cluster = false } = {}) {
  const { startNatsServer, startNatsCluster, startFerretDb } = await load('libs/test-harness/dist/index.js');
  const started = [];
  const natsUrl = process.env.NATS_URL ?? (started.push(cluster ? await startNatsCluster() : await startNatsServer()), started.at(-1).url);
  const mongoUrl = process.env.MONGO_URL ?? (started.push(await startFerretDb()), started.at(-1).url);
  const pids = childPidsNamed(['nats-server', 'ferretdb']);
  for (const pid of Object.values(pids)) leftBehind.add(pid);
  return {
    natsUrl,
    /** For a client: the servers of `natsUrl`. */
    natsServers: natsUrl.split(','),
    streamReplicas: cluster ? 3 : 1,
    mongoUrl,
    pids,
    async stop() {
      for (const s of started.reverse()) await s.stop();
    },
  };
}

/** A database name FerretDB accepts (latin letters only). */
export function dbName(prefix) {
  return `${prefix}${randomBytes(4).toString('hex').replace(/\d/g, (d) => 'ghijklmnop'[d])}`;
}

/** `NODE_OPTIONS` and glibc's allocator settings (`MALLOC_*`) of the bench's environment, for every process it starts. */
const runtimeEnv = () => Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('MALLOC_') || k === 'NODE_OPTIONS'));

/** Starts a built `node <script>` process, keeping the tail of its output. */
export function startProcess(name, script, args, env, nodeArgs = []) {
  const child = spawn(process.execPath, [...nodeArgs, join(ROOT, script), ...args], { env: { PATH: process.env.PATH ?? '', ...runtimeEnv(), ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  let head = '';
  const keep = (chunk) => {
    if (head.length < 400_000) head += chunk.toString();
    output = (output + chunk.toString()).slice(-200_000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve(signal ?? code)));
  leftBehind.add(child.pid);
  child.once('exit', () => leftBehind.delete(child.pid));
  return {
    name,
    child,
    pid: child.pid,
    output: () => output,
    exited: () => exited,
    async waitFor(pattern, timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const m = pattern.exec(output) ?? pattern.exec(head);
        if (m) return m;
        if (child.exitCode !== null) throw new Error(`${name} exited early:\n${output.slice(-4000)}`);
        if (Date.now() > deadline) throw new Error(`${name} did not print ${pattern} within ${timeoutMs} ms:\n${output.slice(-4000)}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
        await exited;
        clearTimeout(timer);
      }
      // BENCH_LOG_DIR keeps each process's output (its last 200 kB) for reading afterwards.
      if (process.env.BENCH_LOG_DIR) {
        mkdirSync(process.env.BENCH_LOG_DIR, { recursive: true });
        writeFileSync(join(process.env.BENCH_LOG_DIR, `${name}.log`), output);
      }
    },
  };
}

/**
 * The simulator's configuration for `n` sources (a token each, scoped to its own site) polled every
 * `pollSeconds`, each poll finding a few new records: 3 activities, 0.3 threat updates and 0.5
 * agent updates per source, over a history of one hour.
 */
export function manySourcesSimulator(n, pollSeconds, tokenPrefix) {
  return {
    seed: 1,
    historyHours: 1,
    accounts: Math.ceil(n / 2),
    sitesPerAccount: 2,
    activities: 5 * n,
    agents: 2 * n,
    threats: n,
    live: { activitiesPerSecond: (3 * n) / pollSeconds, threatUpdatesPerSecond: (0.3 * n) / pollSeconds, agentUpdatesPerSecond: (0.5 * n) / pollSeconds },
    tokens: Array.from({ length: n }, (_, i) => ({ label: `s${i}`, token: `${tokenPrefix}${i}`, sites: [i] })),
  };
}

/** The simulator as its own process; resolves with its url once it listens. */
export async function startSimulatorProcess(args) {
  const sim = startProcess('s1-simulator', 'services/s1-simulator/dist/main.js', ['--port', '0', '--request-log-limit', '0', ...args], {});
  const m = await sim.waitFor(/"url":"([^"]+)"/, 120_000);
  sim.url = m[1];
  return sim;
}

/** Every pipeline service as its own process on one shared environment; waits until each started. */
export async function startPipeline(env, names = PIPELINE, nodeArgs = []) {
  const services = (names ?? PIPELINE).map((name) => startProcess(name, `services/${name}/dist/main.js`, [], env, nodeArgs));
  await Promise.all(services.map((s) => s.waitFor(/started/, 120_000)));
  return services;
}

export async function baseEnv(natsUrl, mongoUrl, db) {
  const { freePort } = await load('libs/test-harness/dist/index.js');
  return {
    S1C_HEALTH_PORT: String(await freePort()),
    NATS_URL: natsUrl,
    MONGO_URL: mongoUrl,
    S1C_DB_NAME: db,
    S1C_SECRET_KEY: randomBytes(32).toString('base64'),
    S1C_ALLOW_INSECURE_BASE_URL: 'true',
    LOG_LEVEL: 'info',
  };
}

/** A command over NATS request/reply; returns the parsed reply. */
export async function command(nc, op, payload, timeout = 30_000) {
  const reply = await nc.request(`s1c.cmd.source.${op}`, JSON.stringify(payload), { timeout });
  return JSON.parse(new TextDecoder().decode(reply.data));
}

export function sourceDocument(name, baseUrl, token, apis = ['activities', 'agents', 'threats']) {
  return {
    'api.version': 'v1',
    source: {
      config: { name, category: 'bench/s1', fields: { _siemForward: true, team: 'bench' }, base_url: baseUrl, api_secret: token, supported_apis: apis },
      schemaRef: { type: 'SentinelOne Mgmt API' },
      sourceType: 'Universal',
    },
  };
}

/** Messages in S1C_DATA, all or those of one source (subjects s1c.data.<api>.<sourceId>). */
export async function dataCount(jsm, sourceId) {
  try {
    if (!sourceId) return (await jsm.streams.info('S1C_DATA')).state.messages;
    const info = await jsm.streams.info('S1C_DATA', { subjects_filter: `s1c.data.*.${sourceId}` });
    return Object.values(info.state.subjects ?? {}).reduce((a, b) => a + b, 0);
  } catch {
    return 0;
  }
}

export function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Times two queries on the event log every `everyMs` while a benchmark runs: an `_id` lookup
 * (indexed on FerretDB's SQLite backend) and a `streamId` lookup (a full scan there), with the
 * log's size at the time. Shows how long a service waits on the store, and how that grows.
 */
export class StoreProbe {
  constructor(mongoUrl, db, everyMs = 1000) {
    this.samples = [];
    this.ready = MongoClient.connect(mongoUrl).then((client) => {
      this.client = client;
      this.events = client.db(db).collection('events');
    });
    this.timer = setInterval(() => void this.probe(), everyMs);
    this.timer.unref();
  }
  async probe() {
    if (!this.events || this.busy) return;
    this.busy = true;
    try {
      const t0 = performance.now();
      await this.events.findOne({ _id: 'bench-probe-none' });
      const t1 = performance.now();
      await this.events.find({ streamId: 'bench-probe-none' }).toArray();
      const t2 = performance.now();
      const size = await this.events.estimatedDocumentCount();
      this.samples.push({ at: Date.now(), idMs: t1 - t0, scanMs: t2 - t1, events: size });
    } catch {
      /* the store may be busy or gone at the end */
    } finally {
      this.busy = false;
    }
  }
  /** Median and p95 of both probes, per band of log size. */
  summary(bands = 4) {
    const s = this.samples;
    if (s.length === 0) return [];
    const out = [];
    const per = Math.ceil(s.length / bands);
    for (let i = 0; i < s.length; i += per) {
      const part = s.slice(i, i + per);
      const ids = part.map((x) => x.idMs).sort((a, b) => a - b);
      const scans = part.map((x) => x.scanMs).sort((a, b) => a - b);
      out.push({
        events: `${part[0].events}-${part.at(-1).events}`,
        idP50: percentile(ids, 50), idP95: percentile(ids, 95), scanP50: percentile(scans, 50), scanP95: percentile(scans, 95),
      });
    }
    return out;
  }
  print() {
    console.log('| events in the log | _id lookup p50 / p95 ms | streamId lookup (full scan) p50 / p95 ms |');
    console.log('| --- | ---: | ---: |');
    for (const r of this.summary()) console.log(`| ${r.events} | ${r.idP50.toFixed(1)} / ${r.idP95.toFixed(1)} | ${r.scanP50.toFixed(1)} / ${r.scanP95.toFixed(1)} |`);
  }
  async close() {
    clearInterval(this.timer);
    await this.ready.catch(() => undefined);
    await this.client?.close();
  }
}

/** The whole machine's CPU time from /proc/stat (all processes, ours and anyone else's), in seconds. */
export function machineCpu() {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const idle = line[3] + line[4];
  const total = line.slice(0, 8).reduce((a, b) => a + b, 0);
  return { busy: (total - idle) / CLK_TCK, total: total / CLK_TCK, at: performance.now() };
}

/**
 * Prints how busy the machine was between `from` (a machineCpu()) and now, and how much of that
 * was the benchmark's own processes: other work on a shared machine slows every figure.
 */
export function printMachineLoad(from, ownCpuSeconds, to = machineCpu()) {
  const wall = (to.at - from.at) / 1000;
  const busyCores = (to.busy - from.busy) / wall;
  const own = ownCpuSeconds / wall;
  const [l1, l5] = os.loadavg();
  console.log(
    `machine during the run: ${busyCores.toFixed(2)} of ${os.cpus().length} cores busy on average, ${own.toFixed(2)} of them this benchmark's processes, ` +
      `${Math.max(0, busyCores - own).toFixed(2)} other work on the machine; load average at the end ${l1.toFixed(1)} (1 min), ${l5.toFixed(1)} (5 min)`,
  );
}
