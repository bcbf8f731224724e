#!/usr/bin/env node
// Live latency: activities created in the console reach S1C_DATA within the poll interval + 5 s
// (issue 8). Not part of the test run.
//
//   npm run build && node e2e/bench/latency-bench.mjs [--poll 10] [--duration 120] [--sources 1]
//
// Starts nats-server and FerretDB (libs/test-harness; or NATS_URL / MONGO_URL), the simulator as a
// process (small history, no generated live data) and every service as a process, with the poll
// interval shortened to --poll seconds (S1C_POLL_INTERVAL; S1C_LIVE_OVERLAP 2s). Creates --sources
// sources (all three APIs) on one full-access token, waits until their backfills are in S1C_DATA,
// then for --duration seconds creates 1-3 activities at random moments (every 0.5-2.5 s) through the
// simulator's admin API and timestamps them; a NATS subscription on s1c.data.activities.<sourceId>
// timestamps each record's arrival (by S1c-Record-Id). Reports p50, p95 and max of creation ->
// arrival, against the goal of poll interval + 5 s. Any S1C_* or LOG_LEVEL variable in the
// environment overrides the settings. Bounded: waits at most poll + 60 s for the last records.
import {
  baseEnv, command, connect, dataCount, dbName, machineCpu, parseArgs, percentile, printHeader, printMachineLoad, printProcTable,
  Sampler, sleep, sourceDocument, startPipeline, startServers, startSimulatorProcess,
} from './lib/kit.mjs';

const args = parseArgs({ poll: 10, duration: 120, sources: 1 });
const TOKEN = 'bench-latency-token';
const HISTORY = { activities: 2000, agents: 50, threats: 100 };
const SETTINGS = {
  S1C_POLL_INTERVAL: `${args.poll}s`,
  S1C_LIVE_OVERLAP: '2s',
  S1C_BACKFILL: '2h',
  S1C_S1_REQUESTS_PER_SECOND: '100',
  LOG_LEVEL: 'info',
  ...Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('S1C_') || k === 'LOG_LEVEL')),
};
printHeader('latency: live activities from creation in the console to S1C_DATA', { ...args, history: HISTORY, services: SETTINGS });

const sampler = new Sampler(1000);
const servers = await startServers();
for (const [name, pid] of Object.entries(servers.pids)) sampler.watch(name, pid);
const sim = await startSimulatorProcess([
  '--seed', '1', '--history-hours', '1',
  '--activities', String(HISTORY.activities), '--agents', String(HISTORY.agents), '--threats', String(HISTORY.threats),
  '--token', `bench:${TOKEN}`,
]);
sampler.watch('s1-simulator', sim.pid);
const env = { ...(await baseEnv(servers.natsUrl, servers.mongoUrl, dbName('latency'))), ...SETTINGS };
const services = await startPipeline(env);
for (const s of services) sampler.watch(s.name, s.pid);
const nc = await connect({ servers: servers.natsUrl, noAsyncTraces: true });
const jsm = await nc.jetstreamManager();

const sourceIds = [];
for (let i = 0; i < args.sources; i++) {
  const reply = await command(nc, 'create', sourceDocument(`Latency ${i}`, sim.url, TOKEN));
  if (!reply.ok) throw new Error(`create refused: ${JSON.stringify(reply)}`);
  sourceIds.push(reply.source.id);
}
const arrivals = new Map(); // record id -> ms (performance.now)
const subs = sourceIds.map((id) => nc.subscribe(`s1c.data.activities.${id}`));
for (const sub of subs) {
  void (async () => {
    for await (const m of sub) {
      const id = m.headers?.get('S1c-Record-Id');
      if (id && !arrivals.has(id)) arrivals.set(id, performance.now());
    }
  })();
}

// The backfills first: every history record of every source in S1C_DATA.
const backfillStart = performance.now();
const historyTotal = (HISTORY.activities + HISTORY.agents + HISTORY.threats) * args.sources;
for (;;) {
  const n = await dataCount(jsm);
  if (n >= historyTotal) break;
  if (performance.now() - backfillStart > 300_000) throw new Error(`backfill did not finish in 300 s (${n} of ${historyTotal})`);
  await sleep(500);
}
console.log(`backfills in S1C_DATA after ${((performance.now() - backfillStart) / 1000).toFixed(1)} s; creating live activities for ${args.duration} s`);

sampler.rebase();
const machine0 = machineCpu();
const created = []; // { s1Id, at }
const runStart = performance.now();
while (performance.now() - runStart < args.duration * 1000) {
  await sleep(500 + Math.random() * 2000);
  const count = 1 + Math.floor(Math.random() * 3);
  const before = performance.now();
  const res = await fetch(`${sim.url}/_sim/records`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ api: 'activities', count }) });
  const after = performance.now();
  const body = await res.json();
  // The simulator stamps createdAt while answering: take the middle of the round trip.
  for (const s1Id of body.data.ids) created.push({ s1Id, at: (before + after) / 2 });
}
const goalMs = (args.poll + 5) * 1000;
const waitUntil = performance.now() + args.poll * 1000 + 60_000;
const keyOf = (sourceId, s1Id) => `${sourceId}:activities:${s1Id}`;
const allArrived = () => created.every((c) => sourceIds.every((sid) => arrivals.has(keyOf(sid, c.s1Id))));
while (!allArrived() && performance.now() < waitUntil) await sleep(250);
const machine1 = machineCpu();
const rows = sampler.table();
for (const s of subs) s.unsubscribe();
for (const s of services) await s.stop();

const latencies = [];
let missing = 0;
for (const c of created) {
  for (const sid of sourceIds) {
    const at = arrivals.get(keyOf(sid, c.s1Id));
    if (at === undefined) missing++;
    else latencies.push(at - c.at);
  }
}
latencies.sort((a, b) => a - b);
const within = latencies.filter((l) => l <= goalMs).length;
console.log('');
console.log(`live activities created: ${created.length} (x ${args.sources} source${args.sources > 1 ? 's' : ''}); arrived in S1C_DATA: ${latencies.length}; missing after the wait: ${missing}`);
console.log(`creation -> S1C_DATA: p50 ${(percentile(latencies, 50) / 1000).toFixed(1)} s, p95 ${(percentile(latencies, 95) / 1000).toFixed(1)} s, max ${(latencies.at(-1) / 1000).toFixed(1)} s, min ${(latencies[0] / 1000).toFixed(1)} s`);
console.log(`within poll interval + 5 s (${goalMs / 1000} s): ${within} of ${latencies.length + missing} (${((100 * within) / (latencies.length + missing)).toFixed(1)}%) -> ${within === latencies.length + missing ? 'MET' : 'NOT MET'}`);
console.log('');
const wall = (machine1.at - machine0.at) / 1000;
console.log(`CPU seconds and peak RSS over the ${wall.toFixed(0)} s of live creation:`);
printProcTable(rows, wall);
printMachineLoad(machine0, rows.reduce((a, r) => a + r.cpuSeconds, 0), machine1);

await nc.close();
await sim.stop();
await servers.stop();
sampler.stop();
process.exit(0);
