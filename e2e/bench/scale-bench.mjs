#!/usr/bin/env node
// Scale: many sources polled at a short interval (issue 8). Not part of the test run.
//
//   npm run build && node e2e/bench/scale-bench.mjs [--sources 2000] [--poll 30] [--max-minutes 10]
//       [--create-concurrency 8]
//
// Starts nats-server and FerretDB (libs/test-harness; or NATS_URL / MONGO_URL), the simulator as a
// process with one site per source and one token per source scoped to that site (so each source
// sees only its own records: a few new activities, threat updates and agent updates per poll), and
// every service as a process. Creates --sources sources (all three APIs: 3 collections each),
// waits for the first cycle (backfill of activities and threats, agent snapshot: 3 jobs per
// source), then measures one full live cycle: from a moment T, how long until every collection has
// completed a live job dispatched after T (goal: within 60 s for 6,000 jobs). Reports per-process
// CPU (the scheduler's per cycle) and peak RSS (goal: no service above 300 MB), the store's
// query times as the log grows, and where the time goes. Stops by itself after --max-minutes,
// reporting how far it got.
// Settings: S1C_POLL_INTERVAL=--poll, S1C_LIVE_OVERLAP=5s, S1C_BACKFILL=2h (history 1 h),
// S1C_S1_REQUESTS_PER_SECOND=1000 (every simulated console is the same host here, so the per-console
// limit would otherwise be shared by all sources), S1C_FETCHER_CONCURRENCY=8; any S1C_* or
// LOG_LEVEL variable in the environment overrides them.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  baseEnv, command, connect, dbName, machineCpu, parseArgs, printHeader, printMachineLoad, printProcTable, Sampler,
  sleep, sourceDocument, startPipeline, startServers, startSimulatorProcess, StoreProbe, percentile,
} from './lib/kit.mjs';

const args = parseArgs({ sources: 2000, poll: 30, 'max-minutes': 10, 'create-concurrency': 8 });
const N = args.sources;
const deadline = Date.now() + args['max-minutes'] * 60_000;
const SETTINGS = {
  S1C_POLL_INTERVAL: `${args.poll}s`,
  S1C_LIVE_OVERLAP: '5s',
  S1C_BACKFILL: '2h',
  S1C_S1_REQUESTS_PER_SECOND: '1000',
  S1C_FETCHER_CONCURRENCY: '8',
  LOG_LEVEL: 'info',
  ...Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('S1C_') || k === 'LOG_LEVEL')),
};
// A few records per source and poll: 3 new activities, 0.3 threat updates, 0.5 agent updates.
const live = {
  activitiesPerSecond: (3 * N) / args.poll,
  threatUpdatesPerSecond: (0.3 * N) / args.poll,
  agentUpdatesPerSecond: (0.5 * N) / args.poll,
};
const simConfig = {
  seed: 1,
  historyHours: 1,
  accounts: Math.ceil(N / 2),
  sitesPerAccount: 2,
  activities: 5 * N,
  agents: 2 * N,
  threats: N,
  live,
  tokens: Array.from({ length: N }, (_, i) => ({ label: `s${i}`, token: `scale-token-${i}`, sites: [i] })),
};
printHeader('scale: many sources, short poll interval', { ...args, simulator: { ...simConfig, tokens: `${N} tokens, each scoped to one site` }, services: SETTINGS });

const sampler = new Sampler(1000);
const servers = await startServers();
const cleanup = [];
process.on('uncaughtException', async (error) => {
  console.error(error);
  for (const stop of cleanup.reverse()) await stop().catch(() => undefined);
  await servers.stop().catch(() => undefined);
  process.exit(1);
});
process.on('unhandledRejection', (error) => process.emit('uncaughtException', error));
for (const [name, pid] of Object.entries(servers.pids)) sampler.watch(name, pid);
const configFile = join(mkdtempSync(join(tmpdir(), 's1c-scale-')), 'simulator.json');
writeFileSync(configFile, JSON.stringify(simConfig));
const sim = await startSimulatorProcess(['--config', configFile]);
sampler.watch('s1-simulator', sim.pid);
cleanup.push(() => sim.stop());
const env = { ...(await baseEnv(servers.natsUrl, servers.mongoUrl, dbName('scale'))), ...SETTINGS };
const services = await startPipeline(env);
for (const s of services) sampler.watch(s.name, s.pid);
for (const s of services) cleanup.push(() => s.stop());
const probe = new StoreProbe(servers.mongoUrl, env.S1C_DB_NAME, 2000);
const nc = await connect({ servers: servers.natsUrl, noAsyncTraces: true });

// Every collection event as the registry's relay publishes it (S1C_EVENTS subjects).
const jobs = new Map(); // jobId -> { lane, collection, dispatchedAt, completedAt, seenAt }
const decoder = new TextDecoder();
let relayLagMs = [];
const sub = nc.subscribe('s1c.evt.collection.>');
void (async () => {
  for await (const m of sub) {
    const type = m.subject.slice(m.subject.lastIndexOf('.') + 1);
    if (type !== 'JobDispatched' && type !== 'JobCompleted' && type !== 'JobFailed') continue;
    const e = JSON.parse(decoder.decode(m.data));
    const at = Date.parse(e.time);
    relayLagMs.push(Date.now() - at);
    const job = jobs.get(e.data.jobId) ?? { collection: e.streamId };
    if (type === 'JobDispatched') Object.assign(job, { lane: e.data.lane, dispatchedAt: at });
    else if (type === 'JobCompleted') Object.assign(job, { completedAt: at, finished: e.data.finished, lane: e.data.lane ?? job.lane });
    else job.failed = (job.failed ?? 0) + 1;
    jobs.set(e.data.jobId, job);
  }
})();

const phases = [];
let phaseStart = { at: Date.now(), cpu: sampler.cpuNow(), events: 0 };
function endPhase(name, note = '') {
  const now = { at: Date.now(), cpu: sampler.cpuNow() };
  const seconds = (now.at - phaseStart.at) / 1000;
  const cpu = Object.fromEntries(Object.entries(now.cpu).map(([k, v]) => [k, v - (phaseStart.cpu[k] ?? 0)]));
  const events = probe.samples.at(-1)?.events ?? 0;
  phases.push({ name, seconds, cpu, note, events });
  console.log(`[${new Date().toISOString().slice(11, 19)}] ${name}: ${seconds.toFixed(1)} s${note ? `; ${note}` : ''} (log: ${events} events)`);
  phaseStart = { at: now.at, cpu: now.cpu };
}
const timeLeft = () => deadline - Date.now();
let stopped = null;
const machine0 = machineCpu();

// 1. Create the sources.
const sourceIds = [];
let next = 0;
const createLatencies = [];
await Promise.all(
  Array.from({ length: args['create-concurrency'] }, async () => {
    while (next < N && timeLeft() > 0) {
      const i = next++;
      const t = performance.now();
      const reply = await command(nc, 'create', sourceDocument(`Scale ${i}`, sim.url, `scale-token-${i}`), 60_000).catch((e) => ({ ok: false, error: String(e) }));
      createLatencies.push(performance.now() - t);
      if (reply.ok) sourceIds.push(reply.source.id);
      else console.log(`create ${i} refused: ${JSON.stringify(reply.error)}`);
      if (sourceIds.length % 250 === 0 && reply.ok) console.log(`  ${sourceIds.length} sources created`);
    }
  }),
);
const created = sourceIds.length;
createLatencies.sort((a, b) => a - b);
endPhase(`created ${created} of ${N} sources`, `${(created / ((Date.now() - phaseStart.at) / 1000)).toFixed(2)}/s; create reply p50 ${percentile(createLatencies, 50).toFixed(0)} ms, p95 ${percentile(createLatencies, 95).toFixed(0)} ms`);
if (created < N) stopped = `the time budget ran out while creating sources (${created} of ${N})`;
const collections = 3 * created;

// 2. The first cycle: backfills (activities, threats) and the agent snapshot finished for every collection.
const firstLanes = new Set(['backfill', 'snapshot']);
const finishedFirst = () => new Set([...jobs.values()].filter((j) => firstLanes.has(j.lane) && j.finished).map((j) => j.collection)).size;
let lastReport = Date.now();
while (!stopped) {
  const done = finishedFirst();
  if (done >= collections) break;
  if (timeLeft() <= 0) stopped = `the time budget ran out in the first cycle: ${done} of ${collections} backfills/snapshots finished`;
  if (Date.now() - lastReport > 15_000) {
    const live = [...jobs.values()].filter((j) => j.lane === 'live' && j.completedAt).length;
    console.log(`  first cycle: ${done} / ${collections} collections backfilled or snapshotted; ${live} live jobs completed so far`);
    lastReport = Date.now();
  }
  await sleep(500);
}
if (!stopped || phases.length === 1) endPhase('first cycle (backfill + snapshot of every collection)', `${finishedFirst()} of ${collections} collections`);

// 3. One full live cycle: every collection completes a live job dispatched after T.
let cycle = null;
if (!stopped) {
  const T = Date.now();
  const firstAfterT = () => {
    const byCollection = new Map();
    for (const j of jobs.values()) {
      if (j.lane !== 'live' || !(j.dispatchedAt >= T) || !j.completedAt) continue;
      const prev = byCollection.get(j.collection);
      if (!prev || j.dispatchedAt < prev.dispatchedAt) byCollection.set(j.collection, j);
    }
    return byCollection;
  };
  for (;;) {
    const got = firstAfterT();
    if (got.size >= collections) {
      const list = [...got.values()];
      const lastDone = Math.max(...list.map((j) => j.completedAt));
      const durations = list.map((j) => j.completedAt - j.dispatchedAt).sort((a, b) => a - b);
      const lastDispatch = Math.max(...list.map((j) => j.dispatchedAt));
      cycle = { seconds: (lastDone - T) / 1000, jobs: list.length, jobP50: percentile(durations, 50), jobP95: percentile(durations, 95), dispatchSpread: (lastDispatch - T) / 1000 };
      break;
    }
    if (timeLeft() <= 0) {
      stopped = `the time budget ran out in the live cycle: ${got.size} of ${collections} collections completed a live job dispatched after T (T + ${((Date.now() - T) / 1000).toFixed(0)} s)`;
      break;
    }
    if (Date.now() - lastReport > 15_000) {
      console.log(`  live cycle: ${got.size} / ${collections} collections done, T + ${((Date.now() - T) / 1000).toFixed(0)} s`);
      lastReport = Date.now();
    }
    await sleep(500);
  }
  endPhase('live cycle', cycle ? `${cycle.jobs} jobs` : 'incomplete');
}
const machine1 = machineCpu();
const rows = sampler.table();
sub.unsubscribe();
await probe.close();
for (const s of services) await s.stop();

console.log('');
if (stopped) console.log(`STOPPED: ${stopped}`);
console.log(`sources: ${created} of ${N} created; collections: ${collections}; poll interval ${args.poll} s`);
if (cycle) {
  console.log(`full live cycle: ${cycle.jobs} jobs, every collection done ${cycle.seconds.toFixed(1)} s after T (goal: 6,000 jobs within 60 s${N === 2000 ? '' : `; this run has ${cycle.jobs}`}) -> ${cycle.seconds <= 60 && cycle.jobs >= 6000 ? 'MET' : 'NOT MET'}`);
  console.log(`  the last of them was dispatched at T + ${cycle.dispatchSpread.toFixed(1)} s (a collection's next live job is due up to one poll interval after T); one live job, dispatch to completion: p50 ${(cycle.jobP50 / 1000).toFixed(2)} s, p95 ${(cycle.jobP95 / 1000).toFixed(2)} s`);
}
const liveDone = [...jobs.values()].filter((j) => j.lane === 'live' && j.completedAt && j.dispatchedAt);
const failedJobs = [...jobs.values()].filter((j) => j.failed).length;
console.log(`jobs seen: ${jobs.size} (${liveDone.length} live completed; ${failedJobs} with a failure)`);
relayLagMs = relayLagMs.sort((a, b) => a - b);
console.log(`relay lag (event stored -> on S1C_EVENTS): p50 ${percentile(relayLagMs, 50)} ms, p95 ${percentile(relayLagMs, 95)} ms`);
console.log('');
console.log('phases (CPU seconds per process in each):');
const names = rows.map((r) => r.name);
console.log(`| phase | s | events in log at end | ${names.join(' | ')} |`);
console.log(`| --- | ---: | ---: | ${names.map(() => '---:').join(' | ')} |`);
for (const p of phases) console.log(`| ${p.name} | ${p.seconds.toFixed(1)} | ${p.events} | ${names.map((n) => (p.cpu[n] ?? 0).toFixed(1)).join(' | ')} |`);
const livePhase = phases.find((p) => p.name === 'live cycle');
if (livePhase && cycle) console.log(`scheduler CPU per live cycle: ${livePhase.cpu.scheduler.toFixed(1)} s (${((1000 * livePhase.cpu.scheduler) / cycle.jobs).toFixed(1)} ms per job)`);
console.log('');
const wall = (machine1.at - machine0.at) / 1000;
console.log(`whole run, ${wall.toFixed(0)} s (CPU seconds from start-up on):`);
printProcTable(rows, wall);
const over = rows.filter((r) => !['nats-server', 'ferretdb', 's1-simulator'].includes(r.name) && r.peakRssMiB > 300);
console.log(`services above 300 MB peak RSS: ${over.length ? over.map((r) => `${r.name} ${r.peakRssMiB} MiB`).join(', ') : 'none'} (goal: none)`);
printMachineLoad(machine0, rows.reduce((a, r) => a + r.cpuSeconds, 0), machine1);
console.log('');
console.log('the store as the log grows (probed from outside every 2 s):');
probe.print();

await nc.close();
await sim.stop();
await servers.stop();
sampler.stop();
process.exit(0);
