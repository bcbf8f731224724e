#!/usr/bin/env node
// What the first live polls after a restart of the enricher cost the store, late in a day of many
// claims (issue 13: a hot path that never scans the store). Not part of the test run.
//
//   npm run build && node e2e/bench/restart-bench.mjs [--claims 300000] [--tail 100000] [--collections 100] [--repeats 3]
//
// Fills today's claims of a delivered set (DeliveredSet, as the enricher writes them: batches of
// 1,000, each marked done) with --claims records, and publishes the last --tail of them to an output
// stream (`Nats-Msg-Id` = record id, 600-byte bodies). Then, twice, a new DeliveredSet (a process
// just started) takes the first live poll of --collections collections: one batch each of --repeats
// records of the last output (a live poll's overlap with the poll before) and one new record:
// - "lookups": as before this change: the repeats are unknown duplicates, looked up in the store;
// - "tail read": the enricher's start since: the output stream's last ids read first
//   (recentMsgIds, headers only), then the same batches.
// Prints, per phase, the wall time, the CPU seconds of FerretDB and of nats-server, and the store
// commands by kind (the driver's command monitoring). Starts its own nats-server and FerretDB
// (libs/test-harness) or uses NATS_URL / MONGO_URL.
import { connect, dbName, load, MongoClient, parseArgs, printHeader, printMachineLoad, machineCpu, procStats, startServers } from './lib/kit.mjs';

const args = parseArgs({ claims: 300_000, tail: 100_000, collections: 100, repeats: 3 });
if (args.tail > args.claims || args.collections * args.repeats > args.tail) {
  console.error('need --tail <= --claims and --collections x --repeats <= --tail');
  process.exit(2);
}
printHeader('the first live polls after a restart of the enricher: claim lookups or the output tail', { ...args, store: process.env.MONGO_URL ? 'MONGO_URL' : 'FerretDB 1.24 (SQLite), started here' });
const { DeliveredSet } = await load('libs/delivery/dist/index.js');
const { recentMsgIds } = await load('libs/messaging/dist/index.js');

const servers = await startServers();
const client = await MongoClient.connect(servers.mongoUrl, { monitorCommands: true });
const commands = new Map();
client.on('commandStarted', (e) => commands.set(e.commandName, (commands.get(e.commandName) ?? 0) + 1));
const db = client.db(dbName('restart'));
const nc = await connect({ servers: servers.natsServers });
const js = nc.jetstream();
const jsm = await nc.jetstreamManager();
const STREAM = `RESTART_BENCH_${process.pid}`;
await jsm.streams.add({ name: STREAM, subjects: [`${STREAM}.>`], storage: 'file', num_replicas: 1 });

const DAY = new Date().toISOString().slice(0, 10);
const SOURCE = '00000000-0000-4000-8000-000000000000';
const recordId = (i) => `${SOURCE}:activities:${1_800_000_000_000 + i}`;
const cpuOf = (name) => (servers.pids[name] ? procStats(servers.pids[name])?.cpu ?? 0 : 0);
const from = machineCpu();

// 1. A day of claims, as the enricher writes them.
let t = performance.now();
const filler = new DeliveredSet(db, 'bench');
for (let start = 0; start < args.claims; start += 1_000) {
  const batch = DeliveredSet.batchId(new Date());
  await filler.claim(DAY, Array.from({ length: Math.min(1_000, args.claims - start) }, (_, k) => recordId(start + k)), batch);
  await filler.markDone(batch);
}
console.log(`${args.claims} claims written in ${((performance.now() - t) / 1000).toFixed(1)} s`);

// 2. The output stream's tail: the last --tail records.
t = performance.now();
const body = new Uint8Array(600).fill(0x61);
for (let start = args.claims - args.tail; start < args.claims; start += 1_000) {
  const end = Math.min(args.claims, start + 1_000);
  await Promise.all(Array.from({ length: end - start }, (_, k) => js.publish(`${STREAM}.activities`, body, { msgID: recordId(start + k) })));
}
console.log(`${args.tail} output records published in ${((performance.now() - t) / 1000).toFixed(1)} s\n`);

// 3. The first live poll of each collection, by a process just started.
const rows = [];
async function phase(name, newBase, prepare) {
  commands.clear();
  const cpu0 = { ferretdb: cpuOf('ferretdb'), nats: cpuOf('nats-server'), own: process.cpuUsage() };
  const t0 = performance.now();
  const delivered = new DeliveredSet(db, 'bench');
  const note = await prepare(delivered);
  const t1 = performance.now();
  let skipped = 0;
  for (let c = 0; c < args.collections; c++) {
    const repeats = Array.from({ length: args.repeats }, (_, k) => recordId(args.claims - 1 - c * args.repeats - k));
    const batch = DeliveredSet.batchId(new Date());
    const results = await delivered.claim(DAY, [...repeats, recordId(newBase + c)], batch);
    const vouched = [...results].filter(([, r]) => r === 'unfinished' || r === 'output').map(([id]) => ({ id, day: DAY }));
    skipped += [...results.values()].filter((r) => r === 'delivered' || r === 'output').length;
    await delivered.markDone(batch, vouched);
  }
  const t2 = performance.now();
  const own = process.cpuUsage(cpu0.own);
  rows.push({
    name, note, skipped,
    prepareS: (t1 - t0) / 1000, pollsS: (t2 - t1) / 1000,
    ferretdb: cpuOf('ferretdb') - cpu0.ferretdb, nats: cpuOf('nats-server') - cpu0.nats, bench: (own.user + own.system) / 1e6,
    commands: [...commands].map(([k, v]) => `${k} ${v}`).join(', '),
  });
}

await phase('lookups (before)', args.claims, async () => 'none');
await phase('tail read (after)', args.claims + args.collections, async (delivered) => {
  const { ids, complete } = await recentMsgIds(js, jsm, STREAM, { filterSubject: `${STREAM}.>`, max: DeliveredSet.OUTPUT_KEPT, timeoutMs: 60_000 });
  delivered.rememberOutput(ids);
  return `${ids.length} ids read${complete ? '' : ' (time ran out)'}`;
});

console.log(`| phase | start (tail read) | ${args.collections} first polls | repeats skipped | FerretDB CPU-s | nats-server CPU-s | bench process CPU-s | store commands |`);
console.log('| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |');
for (const r of rows) {
  console.log(`| ${r.name} | ${r.prepareS.toFixed(2)} s, ${r.note} | ${r.pollsS.toFixed(2)} s | ${r.skipped} of ${args.collections * args.repeats} | ${r.ferretdb.toFixed(2)} | ${r.nats.toFixed(2)} | ${r.bench.toFixed(2)} | ${r.commands} |`);
}
const ownCpu = process.cpuUsage();
printMachineLoad(from, cpuOf('ferretdb') + cpuOf('nats-server') + (ownCpu.user + ownCpu.system) / 1e6);

await jsm.streams.delete(STREAM).catch(() => undefined);
await nc.close();
await db.dropDatabase().catch(() => undefined);
await client.close();
await servers.stop();
