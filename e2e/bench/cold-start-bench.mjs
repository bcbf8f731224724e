#!/usr/bin/env node
// What a scheduler start costs once the log is long: from its last snapshot, and replaying the
// whole log (the snapshot removed), alternately, on the same log, in one run.
//
//   npm run build && node e2e/bench/cold-start-bench.mjs [--sources 300] [--poll 10] [--minutes 4] [--restarts 2]
//
// Runs the whole pipeline against the simulator with --sources sources polled every --poll seconds
// for --minutes (the log grows by about 6 events per source and poll), then restarts the scheduler
// --restarts times each way: SIGTERM (it saves a snapshot at shutdown), then a new process, timed
// from its spawn to its "log replayed" line (ready to drive), with the CPU seconds of FerretDB and
// of the new scheduler process over that time. "replay" restarts delete the snapshot head first.
// Nothing else is stopped: the other services go on collecting meanwhile, as in a real restart.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  baseEnv, command, connect, dbName, manySourcesSimulator, MongoClient, parseArgs, printHeader, procStats, sleep, sourceDocument,
  startPipeline, startProcess, startServers, startSimulatorProcess,
} from './lib/kit.mjs';

const args = parseArgs({ sources: 300, poll: 10, minutes: 4, restarts: 2 });
const N = args.sources;
const SETTINGS = {
  S1C_POLL_INTERVAL: `${args.poll}s`,
  S1C_LIVE_OVERLAP: '2s',
  S1C_BACKFILL: '2h',
  S1C_S1_REQUESTS_PER_SECOND: '1000',
  S1C_FETCHER_CONCURRENCY: '8',
  // Snapshots only at shutdown (and after a replay), so that each restart's snapshot is the one
  // its predecessor left.
  S1C_SNAPSHOT_INTERVAL: '24h',
  LOG_LEVEL: 'info',
  ...Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('S1C_') || k === 'LOG_LEVEL')),
};
const simConfig = manySourcesSimulator(N, args.poll, 'cold-token-');
printHeader('scheduler start on a long log: from a snapshot vs replaying the log (issue 13)', { ...args, services: SETTINGS });

const servers = await startServers();
const cleanup = [];
const stopAll = async () => {
  for (const stop of cleanup.reverse()) await stop().catch(() => undefined);
  await servers.stop().catch(() => undefined);
};
process.on('uncaughtException', async (error) => {
  console.error(error);
  await stopAll();
  process.exit(1);
});
process.on('unhandledRejection', (error) => process.emit('uncaughtException', error));
const configFile = join(mkdtempSync(join(tmpdir(), 's1c-cold-')), 'simulator.json');
writeFileSync(configFile, JSON.stringify(simConfig));
const sim = await startSimulatorProcess(['--config', configFile]);
cleanup.push(() => sim.stop());
const env = { ...(await baseEnv(servers.natsUrl, servers.mongoUrl, dbName('cold'))), ...SETTINGS };
const services = await startPipeline(env);
for (const s of services) cleanup.push(() => s.stop());
let scheduler = services.find((s) => s.name === 'scheduler');
const nc = await connect({ servers: servers.natsUrl, noAsyncTraces: true });
cleanup.push(() => nc.close());
const mongo = await MongoClient.connect(servers.mongoUrl);
cleanup.push(() => mongo.close());
const db = mongo.db(env.S1C_DB_NAME);

const createdAt = Date.now();
for (let i = 0; i < N; i += 16) {
  await Promise.all(
    Array.from({ length: Math.min(16, N - i) }, async (_, k) => {
      const reply = await command(nc, 'create', sourceDocument(`Cold ${i + k}`, sim.url, `cold-token-${i + k}`), 60_000);
      if (!reply.ok) throw new Error(`create failed: ${JSON.stringify(reply)}`);
    }),
  );
}
console.log(`created ${N} sources in ${((Date.now() - createdAt) / 1000).toFixed(1)} s; collecting for ${args.minutes} min to grow the log`);
await sleep(args.minutes * 60_000);

const cpu = (pid) => procStats(pid)?.cpu ?? 0;
const ferretPid = servers.pids.ferretdb;
const results = { snapshot: [], replay: [] };
for (let round = 0; round < args.restarts; round++) {
  for (const kind of ['snapshot', 'replay']) {
    await scheduler.stop();
    if (kind === 'replay') await db.collection('snapshots').deleteMany({});
    const events = await db.collection('events').estimatedDocumentCount();
    const chunks = await db.collection('snapshot_chunks').find({}).toArray();
    const snapshotMiB = chunks.reduce((sum, c) => sum + Buffer.byteLength(c.text), 0) / 2 ** 20;
    const started = Date.now();
    const ferret0 = ferretPid ? cpu(ferretPid) : 0;
    scheduler = startProcess('scheduler', 'services/scheduler/dist/main.js', [], env);
    const proc = scheduler;
    cleanup.push(() => proc.stop());
    const line = await scheduler.waitFor(/"msg":"log replayed"[^\n]*|[^\n]*"log replayed"[^\n]*/, 30 * 60_000);
    const seconds = (Date.now() - started) / 1000;
    const schedulerCpu = cpu(scheduler.pid);
    const ferretCpu = ferretPid ? cpu(ferretPid) - ferret0 : NaN;
    const fromSnapshot = /"fromSnapshot":(\d+)/.test(line[0]);
    if ((kind === 'snapshot') !== fromSnapshot) throw new Error(`a ${kind} start did not ${kind === 'snapshot' ? 'use' : 'skip'} the snapshot: ${line[0]}`);
    results[kind].push({ seconds, schedulerCpu, ferretCpu, events });
    console.log(`${kind} start ${round + 1}: ${seconds.toFixed(2)} s to ready; scheduler ${schedulerCpu.toFixed(2)} CPU-s, FerretDB ${ferretCpu.toFixed(2)} CPU-s; log ${events} events; snapshots held before the start (scheduler's and health's) ${snapshotMiB.toFixed(1)} MiB`);
    await sleep(10_000);
  }
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
const summary = (kind, key) => median(results[kind].map((r) => r[key]));
console.log('');
console.log('| start | ready after (median) | scheduler CPU-s | FerretDB CPU-s | log events |');
console.log('| --- | ---: | ---: | ---: | ---: |');
for (const kind of ['snapshot', 'replay']) {
  console.log(`| ${kind} | ${summary(kind, 'seconds').toFixed(2)} s | ${summary(kind, 'schedulerCpu').toFixed(2)} | ${summary(kind, 'ferretCpu').toFixed(2)} | ${summary(kind, 'events')} |`);
}
console.log(`replay ÷ snapshot: ${(summary('replay', 'seconds') / summary('snapshot', 'seconds')).toFixed(1)}× the time, ${(summary('replay', 'ferretCpu') / summary('snapshot', 'ferretCpu')).toFixed(1)}× FerretDB's CPU`);
await stopAll();
process.exit(0);
