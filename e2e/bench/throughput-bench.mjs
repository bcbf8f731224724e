#!/usr/bin/env node
// End-to-end throughput of one source's backfill (issues 8 and 13). Not part of the test run.
//
//   npm run build && node e2e/bench/throughput-bench.mjs [--records 1000000] [--agents 1000] [--threats 5000]
//       [--timeout 900] [--no-floor] [--profile] [--phases] [--store-probe] [--start-time <iso>] [--dump <file>] [--cluster]
//
// --cluster runs a three-node JetStream cluster (three nats-server processes on loopback) and the
// services with S1C_STREAM_REPLICAS=3 (issue 16): the cost of R3 against R1.
//
// --dump writes the source's output records (sorted by record id; source id, fetch and snapshot
// times replaced) to <file>; with the same --start-time (the simulator's history ends then; default 10
// minutes ago), two trees' dumps of the same console can be compared with diff, byte for byte.
// Starts nats-server and FerretDB (libs/test-harness; or uses NATS_URL / MONGO_URL), the simulator
// with --records activities (plus agents and threats) as a process, and every service as a process
// (registry, scheduler, three fetchers, enricher, health). Creates one source for all three APIs and
// times the backfill from the create command until every record is in S1C_DATA (messages counted on
// s1c.data.*.<sourceId>). Reports records/s, CPU seconds and peak RSS of each process (/proc), then
// runs the floor: one process that pages the same simulator with the S1 client (limit 1000) and
// parses each page, with no NATS and no MongoDB; prints our time divided by the floor's.
// Issue 13's targets: a 1M-record backfill at >= 5,000 records/s end to end, and the rate over the
// last tenth of the records >= 80% of the rate over the first tenth (no slowing down as the log
// grows). The tenths come from the count of the source's messages in S1C_DATA, polled every 250 ms
// (progress printed every 5 s), the crossing of each boundary interpolated between two polls. The
// first tenth is timed from the last poll that saw no record (the start-up before the first record,
// create command, plan, dispatch, first page, is left out; it is printed separately), the last tenth
// until the poll that saw every record. Prints a verdict line per target (met / not met, with the figure).
// Any S1C_* variable in the environment is passed to the services (overrides the bench's settings).
// --store-probe times two queries on the log from outside every 0.5 s (kit.mjs StoreProbe): a full
// scan of the log on FerretDB each time, so it loads the store it measures; off by default.
// --profile runs every service with --cpu-prof and prints the top functions of each.
// --phases runs the pipeline without the enricher until every record is in S1C_RAW (the collection
// alone), then starts the enricher and times the drain into S1C_DATA (the enrichment alone).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { summariseProfiles } from './lib/profile.mjs';
import {
  baseEnv, command, connect, dataCount, dbName, parseArgs, printHeader, printProcTable, Sampler, sleep,
  load, PIPELINE, sourceDocument, startPipeline, startProcess, startServers, startSimulatorProcess, StoreProbe, machineCpu, printMachineLoad,
} from './lib/kit.mjs';

const args = parseArgs({ records: 1_000_000, agents: 1000, threats: 5000, timeout: 900, 'no-floor': false, profile: false, phases: false, 'store-probe': false, 'start-time': '', dump: '', cluster: false });
const TOKEN = 'bench-throughput-token';
const SETTINGS = {
  // One job walks the whole backfill instead of handing over every 20 pages.
  S1C_MAX_PAGES_PER_JOB: '100000',
  // The simulator is one console: the default 10 requests/s would cap a fetcher at 10,000 records/s.
  S1C_S1_REQUESTS_PER_SECOND: '1000',
  S1C_FETCHER_CONCURRENCY: '4',
  S1C_SCHEDULER_TICK: '200ms',
  S1C_BACKFILL: '24h',
  LOG_LEVEL: 'info',
  ...Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('S1C_') || k === 'LOG_LEVEL')),
};
const expected = args.records + args.agents + args.threats;
printHeader('throughput: one source, backfill into S1C_DATA', { ...args, services: SETTINGS });

const sampler = new Sampler(500);
const servers = await startServers({ cluster: args.cluster });
for (const [name, pid] of Object.entries(servers.pids)) sampler.watch(name, pid);
// History ends 10 minutes ago, so the live lanes' first windows (now - 2 min overlap) find nothing:
// every record comes from the backfill (activities, threats) or the agent snapshot, exactly once.
const startTime = args['start-time'] || new Date(Date.now() - 10 * 60_000).toISOString();
const sim = await startSimulatorProcess([
  '--seed', '1', '--start-time', startTime, '--history-hours', '23',
  '--activities', String(args.records), '--agents', String(args.agents), '--threats', String(args.threats),
  '--token', `bench:${TOKEN}`,
]);
sampler.watch('s1-simulator', sim.pid);

const env = { ...(await baseEnv(servers.natsUrl, servers.mongoUrl, dbName('throughput'))), S1C_STREAM_REPLICAS: String(servers.streamReplicas), ...SETTINGS };
const profileDir = args.profile ? mkdtempSync(join(tmpdir(), 's1c-prof-')) : null;
const nodeArgs = profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [];
const services = await startPipeline(env, args.phases ? PIPELINE.filter((n) => n !== 'enricher') : PIPELINE, nodeArgs);
for (const s of services) sampler.watch(s.name, s.pid);

const probe = args['store-probe'] ? new StoreProbe(servers.mongoUrl, env.S1C_DB_NAME, 500) : null;
const nc = await connect({ servers: servers.natsServers, noAsyncTraces: true });
const { RAW_BATCH_HEADERS } = await load('libs/contracts/dist/index.js');
const jsm = await nc.jetstreamManager();
let failed = null;
let sourceId;
let wall;
let rawPhase = null;
let machine0 = machineCpu();
let enricherStart = null;
const samples = [];
const series = []; // every poll of the S1C_DATA count: { s: seconds since the create, n }
try {
  sampler.rebase();
  machine0 = machineCpu();
  const t0 = performance.now();
  const reply = await command(nc, 'create', sourceDocument('Throughput', sim.url, TOKEN));
  if (!reply.ok) throw new Error(`create refused: ${JSON.stringify(reply)}`);
  sourceId = reply.source.id;
  let last = { t: t0, n: 0 };
  let lastPrint = t0;
  if (args.phases) {
    // A raw batch holds a page of records: they are counted from each batch's record lengths
    // (a headers-only ordered consumer, so the bench does not read the bodies).
    const raw = await nc.jetstream().consumers.get('S1C_RAW', { headers_only: true });
    const batches = await raw.consume();
    let rawRecords = 0;
    const timer = setTimeout(() => batches.stop(), args.timeout * 1000);
    for await (const m of batches) {
      rawRecords += JSON.parse(m.headers?.get(RAW_BATCH_HEADERS.recordLengths) || '[]').length;
      if (rawRecords >= expected) break;
    }
    clearTimeout(timer);
    if (rawRecords < expected) throw new Error(`timed out with ${rawRecords} of ${expected} records in S1C_RAW`);
    rawPhase = { seconds: (performance.now() - t0) / 1000, rows: sampler.table() };
    console.log(`phase 1 (no enricher): every record in S1C_RAW after ${rawPhase.seconds.toFixed(1)} s -> ${Math.round(expected / rawPhase.seconds)} records/s`);
    sampler.rebase();
    const enricher = (await startPipeline(env, ['enricher'], nodeArgs))[0];
    services.push(enricher);
    sampler.watch('enricher', enricher.pid);
    enricherStart = (performance.now() - t0) / 1000;
  }
  for (;;) {
    await sleep(250);
    const n = await dataCount(jsm, sourceId);
    const now = performance.now();
    series.push({ s: (now - t0) / 1000, n });
    if (now - lastPrint >= 5000 || n >= expected) {
      const raw = await jsm.streams.info('S1C_RAW').then((i) => i.state.messages).catch(() => 0);
      const rate = Math.round(((n - last.n) * 1000) / (now - last.t));
      samples.push({ s: (now - t0) / 1000, n, raw, rate });
      console.log(`${((now - t0) / 1000).toFixed(0).padStart(5)} s  data ${String(n).padStart(8)} / ${expected}  raw ${String(raw).padStart(8)}  ${String(rate).padStart(6)} rec/s`);
      last = { t: now, n };
      lastPrint = now;
    }
    if (n >= expected) break;
    if (now - t0 > args.timeout * 1000) {
      failed = `timed out after ${args.timeout} s with ${n} of ${expected} records in S1C_DATA`;
      break;
    }
  }
  wall = (performance.now() - t0) / 1000;
  if (args.dump) await dumpOutput(args.dump);
} catch (error) {
  failed = String(error?.stack ?? error);
}
const machine1 = machineCpu();
const rows = sampler.table();
const runCpu = rows.reduce((a, r) => a + r.cpuSeconds, 0) + (rawPhase ? rawPhase.rows.reduce((a, r) => a + r.cpuSeconds, 0) : 0);
const loadLine = () => printMachineLoad(machine0, runCpu, machine1);
await probe?.close();
if (rawPhase && wall) {
  const drain = wall - enricherStart;
  console.log('');
  console.log(`phase 1, collection without the enricher: every record in S1C_RAW after ${rawPhase.seconds.toFixed(1)} s -> ${Math.round(expected / rawPhase.seconds)} records/s`);
  printProcTable(rawPhase.rows, rawPhase.seconds);
  console.log(`phase 2, the enricher alone draining S1C_RAW (its start-up included): ${drain.toFixed(1)} s -> ${Math.round(expected / drain)} records/s; CPU below is phase 2's`);
}
const finalCount = sourceId ? await dataCount(jsm, sourceId) : 0;
for (const s of services) await s.stop();

console.log('');
if (failed) console.log(`NOT COMPLETE: ${failed}`);
console.log(`records: ${expected} (${args.records} activities, ${args.threats} threats, ${args.agents} agents); in S1C_DATA at the end: ${finalCount}${finalCount === expected ? ' (each once)' : finalCount > expected ? ' (DUPLICATES)' : ' (MISSING)'}`);
const done = series.at(-1)?.n ?? samples.at(-1)?.n ?? 0;
const elapsed = wall ?? series.at(-1)?.s;
console.log(`end to end: ${elapsed?.toFixed(1)} s -> ${Math.round(done / elapsed)} records/s (issue 13's goal: >= 5,000; issue 8's: >= 20,000)`);
// The rate over the first and the last tenth of the records.
const timeAt = (target) => {
  const i = series.findIndex((p) => p.n >= target);
  if (i < 0) return undefined;
  if (i === 0) return series[0].s;
  const a = series[i - 1];
  const b = series[i];
  return a.s + ((b.s - a.s) * (target - a.n)) / (b.n - a.n);
};
const tenth = expected / 10;
const lastZero = series.findLast((p) => p.n === 0)?.s ?? 0;
const tFirst = timeAt(tenth);
const t9 = timeAt(expected - tenth);
const tAll = timeAt(expected);
const firstRate = tFirst !== undefined ? tenth / (tFirst - lastZero) : undefined;
const lastRate = t9 !== undefined && tAll !== undefined ? tenth / (tAll - t9) : undefined;
const fmtRate = (r) => (r === undefined ? 'not reached' : `${Math.round(r)} records/s`);
console.log('');
if (args.phases) console.log('(--phases: the tenths below are of the enricher draining S1C_RAW, not of the whole pipeline)');
console.log(`first tenth (records 1-${Math.round(tenth)}): ${fmtRate(firstRate)}${tFirst !== undefined ? `, ${(tFirst - lastZero).toFixed(1)} s from the last poll with no record (${lastZero.toFixed(1)} s after the create; from the create: ${Math.round(tenth / tFirst)} records/s)` : ''}`);
console.log(`last tenth (records ${Math.round(expected - tenth) + 1}-${expected}): ${fmtRate(lastRate)}${lastRate !== undefined ? `, ${(tAll - t9).toFixed(1)} s` : ''}`);
if (lastRate === undefined && series.length > 1) {
  // Not finished: the rate over the last tenth delivered before the end, for information.
  const end = series.at(-1);
  const from = timeAt(Math.max(0, end.n - tenth));
  if (from !== undefined && end.s > from) console.log(`  (the last ${Math.round(Math.min(tenth, end.n))} records delivered before the end came at ${Math.round(Math.min(tenth, end.n) / (end.s - from))} records/s)`);
}
const ratio = firstRate && lastRate ? lastRate / firstRate : undefined;
console.log(`last tenth / first tenth: ${ratio === undefined ? 'not measured' : `${(100 * ratio).toFixed(0)}%`} (goal: >= 80%)`);
const fullSize = args.records >= 1_000_000 && !args.phases;
const overall = done / elapsed;
const verdictLines = [
  `verdicts against issue 13's targets${fullSize ? '' : ` (this run is not the target's 1M-record backfill: ${expected} records${args.phases ? ', --phases' : ''}; "met" holds at this size only)`}:`,
  `VERDICT backfill rate >= 5,000 records/s: ${!failed && overall >= 5000 ? 'met' : 'NOT MET'} (${failed ? `not complete: ${done} of ${expected} records in ${elapsed?.toFixed(1)} s, ` : `${expected} records in ${elapsed?.toFixed(1)} s, `}${Math.round(overall)} records/s)`,
  `VERDICT last tenth >= 80% of the first tenth: ${ratio === undefined ? 'NOT MET (not measured: the last tenth was not reached)' : `${ratio >= 0.8 ? 'met' : 'NOT MET'} (${(100 * ratio).toFixed(0)}%: ${fmtRate(lastRate)} against ${fmtRate(firstRate)})`}`,
];
loadLine();
const firstAtRaw = samples.find((s) => s.raw >= expected);
if (firstAtRaw) console.log(`all records were in S1C_RAW (fetched) after ~${firstAtRaw.s.toFixed(0)} s (sampled every 5 s), in S1C_DATA after ${wall.toFixed(1)} s`);
console.log('');
const tableWall = rawPhase ? wall - enricherStart : wall;
console.log(`CPU seconds and peak RSS of each process over the ${tableWall?.toFixed(1)} s of the ${rawPhase ? 'second phase' : 'run'}:`);
printProcTable(rows, tableWall);
const ours = rows.filter((r) => !['nats-server', 'ferretdb', 's1-simulator'].includes(r.name.replace(/#\d+$/, ''))).reduce((a, r) => a + r.cpuSeconds, 0);
if (!rawPhase) console.log(`our services' CPU per 1,000 records: ${((1000 * ours) / done).toFixed(3)} s`);
if (probe) {
  console.log('');
  console.log('the store under this load, probed from outside every 0.5 s (the probe itself loads it):');
  probe.print();
}

if (!args['no-floor']) {
  console.log('');
  console.log('floor: one process paging the same simulator with the S1 client (limit 1000), parsing each page');
  sampler.rebase();
  const floor = startProcess('floor', 'e2e/bench/lib/floor-walk.mjs', [sim.url, TOKEN], {});
  sampler.watch('floor', floor.pid);
  const m = await floor.waitFor(/^\{.*\}$/m, 600_000);
  const result = JSON.parse(m[0]);
  const floorRows = sampler.table().filter((r) => ['floor', 's1-simulator'].includes(r.name));
  const total = Object.entries(result.counts).filter(([k]) => !k.endsWith('Bytes')).reduce((a, [, v]) => a + v, 0);
  console.log(`floor: ${total} records in ${result.seconds.toFixed(1)} s -> ${Math.round(total / result.seconds)} records/s; CPU: ${floorRows.map((r) => `${r.name} ${r.cpuSeconds.toFixed(1)} s`).join(', ')}`);
  if (wall) console.log(`our time / floor's time: ${(wall / result.seconds).toFixed(2)}x (goal: <= 2.5x)`);
  await floor.stop();
}

if (profileDir) {
  console.log('');
  await summariseProfiles(profileDir, services.map((s) => ({ name: s.name, pid: s.pid })));
}

console.log('');
for (const line of verdictLines) console.log(line);

sampler.stop();
await nc.close();
await sim.stop();
await servers.stop();
process.exit(failed ? 1 : 0);

/**
 * Writes every output record of the source, sorted by record id, one per line: subject, headers
 * and body, with the source id, the fetch time and an agent snapshot's time (what differs between
 * runs of the same console) replaced, so that two trees' outputs can be compared byte for byte.
 */
async function dumpOutput(file) {
  const { writeFileSync } = await import('node:fs');
  const js = nc.jetstream();
  const consumer = await js.consumers.get('S1C_DATA', { filterSubjects: `s1c.data.*.${sourceId}` });
  const lines = [];
  const normalise = (text) =>
    text
      .replaceAll(sourceId, '<source>')
      .replace(/"fetchedAt":"[^"]*"/, '"fetchedAt":"<time>"')
      // An agent snapshot's record ids carry the time the snapshot was taken.
      .replace(/snapshot-\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z/g, 'snapshot-<time>');
  while (lines.length < expected) {
    const batch = await consumer.fetch({ max_messages: Math.min(1000, expected - lines.length), expires: 5000 });
    let got = 0;
    for await (const m of batch) {
      const headers = [...(m.headers ?? [])].map(([k, v]) => `${k}=${v.join('|')}`).sort().join(' ');
      lines.push({ id: m.headers?.get('S1c-Record-Id') ?? '', line: normalise(`${m.subject}\t${headers}\t${new TextDecoder().decode(m.data)}`) });
      got += 1;
    }
    if (got === 0) throw new Error(`dump: read ${lines.length} of ${expected} output records`);
  }
  lines.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  writeFileSync(file, lines.map((l) => l.line).join('\n') + '\n');
  console.log(`dump: ${lines.length} output records written to ${file}`);
}
