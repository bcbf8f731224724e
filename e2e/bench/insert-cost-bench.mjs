#!/usr/bin/env node
// What an insert costs the store: FerretDB's CPU per insert command and per document, by documents
// per command, for the log's own documents (into `events`, with the store's indexes), the same
// documents into a collection with only `_id`, and the small markers the outbox and the enricher
// write. It says which of fewer commands (grouping appends) or fewer documents (fewer events per
// job) would cut the store's CPU at 2,000 sources. Not part of the test run.
//
//   npm run build && node e2e/bench/insert-cost-bench.mjs [--docs 1600] [--groups 1,4,16] [--rounds 2] [--prefill 30000]
//
// A real MongoEventStore creates the log's indexes; --prefill event documents are inserted first (a
// log that has grown). Then, round after round and kind after kind (interleaved), --docs documents
// go in commands of each group size. Prints FerretDB's CPU per command and per document (means over
// the rounds), and a fit of cost = a + b × documents per command for each kind.
//
// Starts its own FerretDB through libs/test-harness, or uses MONGO_URL (e.g. a mongo:7; its CPU is
// then not sampled, and the bench says so and stops).
import { dbName, load, MongoClient, parseArgs, printHeader, procStats, startServers } from './lib/kit.mjs';

const args = parseArgs({ docs: 1600, groups: '1,4,16', rounds: 2, prefill: 30_000 });
const groups = String(args.groups).split(',').map(Number);
if (groups.some((g) => !Number.isInteger(g) || g < 1 || g > 100) || !Number.isInteger(args.docs) || args.docs < 100 || !Number.isInteger(args.rounds) || args.rounds < 1 || !Number.isInteger(args.prefill) || args.prefill < 0) {
  console.error('--groups takes integers 1..100, --docs at least 100, --rounds a positive integer, --prefill 0 or more');
  process.exit(2);
}
if (process.env.MONGO_URL) {
  console.error('this bench measures the CPU of the FerretDB it starts; unset MONGO_URL');
  process.exit(2);
}
printHeader('store inserts: CPU per command and per document', { ...args, store: 'FerretDB 1.24 (SQLite), started here' });

const { MongoEventStore } = await load('libs/event-store/dist/index.js');
const servers = await startServers();
const ferretPid = servers.pids.ferretdb;
const client = await MongoClient.connect(servers.mongoUrl);
const db = client.db(dbName('insertcost'));

let n = 0;
// A JobDispatched as the scheduler appends it, with the fields the store adds.
function eventDoc() {
  n++;
  const streamId = `collection-source${n % 2000}-activities`;
  return {
    _id: `${streamId}@${n}`,
    streamId,
    version: n,
    position: Date.now() * 1000 + n,
    eventId: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`,
    type: 'JobDispatched',
    time: new Date(),
    data: {
      sourceId: `source${n % 2000}`,
      api: 'activities',
      jobId: `job-${n}-0000-4000-8000-000000000000`,
      lane: 'live',
      generation: 1,
      window: { from: '2026-12-06T10:00:00.000000Z', to: '2026-12-06T10:01:00.000000Z' },
      resume: { cursor: null, walkFrom: null, lastTimestamp: null, records: 0, pages: 0 },
    },
    metadata: { correlationId: `job-${n}`, actor: { type: 'system', id: 'scheduler' } },
  };
}
let m = 0;
const marker = () => ({ _id: `marker-${m++}`, at: new Date() });

const KINDS = {
  'event documents, the log (its indexes)': { collection: db.collection('events'), make: eventDoc },
  'event documents, `_id` only': { collection: db.collection('bare'), make: eventDoc },
  'markers (`_id`, a date)': { collection: db.collection('markers'), make: marker },
};
const totals = Object.fromEntries(Object.keys(KINDS).map((k) => [k, Object.fromEntries(groups.map((g) => [g, { cpuMs: 0, commands: 0, docs: 0 }]))]));

try {
  await new MongoEventStore(db).ensureIndexes();
  for (let i = 0; i < args.prefill; i += 100) {
    await KINDS['event documents, the log (its indexes)'].collection.insertMany(Array.from({ length: Math.min(100, args.prefill - i) }, eventDoc));
    await KINDS['event documents, `_id` only'].collection.insertMany(Array.from({ length: Math.min(100, args.prefill - i) }, eventDoc));
  }
  for (let round = 0; round < args.rounds; round++) {
    for (const group of groups) {
      for (const [kind, { collection, make }] of Object.entries(KINDS)) {
        const commands = Math.max(1, Math.round(args.docs / group));
        const before = procStats(ferretPid).cpu;
        for (let c = 0; c < commands; c++) await collection.insertMany(Array.from({ length: group }, make));
        const total = totals[kind][group];
        total.cpuMs += (procStats(ferretPid).cpu - before) * 1000;
        total.commands += commands;
        total.docs += commands * group;
      }
    }
  }
} finally {
  await db.dropDatabase().catch(() => undefined);
  await client.close();
  await servers.stop();
}

console.log(`FerretDB CPU (ms), means over ${args.rounds} round(s) of ${args.docs} documents per kind and group size, interleaved:`);
console.log('');
console.log(`| kind | ${groups.map((g) => `${g} per command: per command / per document`).join(' | ')} | fit: per command + per document |`);
console.log(`| --- | ${groups.map(() => '---:').join(' | ')} | ---: |`);
for (const [kind, byGroup] of Object.entries(totals)) {
  const points = groups.map((g) => ({ x: g, y: byGroup[g].cpuMs / byGroup[g].commands }));
  const cells = groups.map((g) => `${(byGroup[g].cpuMs / byGroup[g].commands).toFixed(3)} / ${(byGroup[g].cpuMs / byGroup[g].docs).toFixed(3)}`);
  console.log(`| ${kind} | ${cells.join(' | ')} | ${fit(points)} |`);
}

/** Least squares of cost per command = a + b × documents per command. */
function fit(points) {
  if (points.length < 2) return 'n/a (one group size)';
  const mx = points.reduce((s, p) => s + p.x, 0) / points.length;
  const my = points.reduce((s, p) => s + p.y, 0) / points.length;
  const b = points.reduce((s, p) => s + (p.x - mx) * (p.y - my), 0) / points.reduce((s, p) => s + (p.x - mx) ** 2, 0);
  return `${(my - b * mx).toFixed(3)} + ${b.toFixed(3)} × documents`;
}
