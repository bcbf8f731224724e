#!/usr/bin/env node
// What the outbox costs the store, by how an entry holds its events: packed into one BSON binary
// (the store today) or nested as documents (the store before). On FerretDB every read and delete of
// the outbox decodes every entry in Go, so the layout decides the relay's cost. Not part of the test run.
//
//   npm run build && node e2e/bench/outbox-layout-bench.mjs [--entries 100] [--rounds 30]
//
// Appends --entries single-event appends of a collection's job (the kind of event 2,000 sources
// write ~200 a second) to a real MongoEventStore, keeps the stored events, then, round after round
// and layout after layout (interleaved), writes --entries outbox entries of them with their commit
// markers, and measures what the relay does with them: one read (`outboxEntries`, as the relay's
// pass) and one clean-up (`removeOutboxEntries`). Prints FerretDB's CPU milliseconds and the wall
// milliseconds per phase and layout, and the ratio nested ÷ packed.
//
// Starts its own FerretDB through libs/test-harness, or uses MONGO_URL (e.g. a mongo:7; its CPU is
// then not sampled).
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { dbName, load, parseArgs, printHeader, procStats, ROOT, startServers } from './lib/kit.mjs';

const args = parseArgs({ entries: 100, rounds: 30 });
if (!Number.isInteger(args.entries) || args.entries < 1 || args.entries > 500 || !Number.isInteger(args.rounds) || args.rounds < 1) {
  console.error('--entries takes 1..500 (one relay pass), --rounds a positive integer');
  process.exit(2);
}
printHeader('outbox: the relay’s cost by entry layout', { ...args, store: process.env.MONGO_URL ? 'MONGO_URL' : 'FerretDB 1.24 (SQLite), started here' });

const { MongoClient, BSON, Binary } = createRequire(join(ROOT, 'package.json'))('mongodb');
const { MongoEventStore } = await load('libs/event-store/dist/index.js');
const servers = await startServers();
const ferretPid = process.env.MONGO_URL ? undefined : servers.pids.ferretdb;
const client = await MongoClient.connect(servers.mongoUrl);

const LAYOUTS = {
  packed: (events) => new Binary(BSON.serialize({ events })),
  nested: (events) => events,
};
const PHASES = ['write', 'read', 'clean-up'];
const totals = Object.fromEntries(Object.keys(LAYOUTS).map((l) => [l, Object.fromEntries(PHASES.map((p) => [p, { cpuMs: 0, wallMs: 0 }]))]));

async function measured(layout, phase, work) {
  const cpu = ferretPid ? procStats(ferretPid).cpu : 0;
  const started = process.hrtime.bigint();
  const result = await work();
  totals[layout][phase].wallMs += Number(process.hrtime.bigint() - started) / 1e6;
  if (ferretPid) totals[layout][phase].cpuMs += (procStats(ferretPid).cpu - cpu) * 1000;
  return result;
}

const databases = [];
try {
  const source = client.db(dbName('outboxsrc'));
  databases.push(source);
  const writer = new MongoEventStore(source);
  await Promise.all(
    Array.from({ length: args.entries }, (_, i) =>
      writer.appendToStream(
        `collection-source${i}-activities`,
        [
          {
            type: 'JobCompleted',
            data: { sourceId: `source${i}`, api: 'activities', at: new Date().toISOString(), jobId: `job-${i}`, lane: 'live', finished: true, progress: { pages: 1, records: 3, cursor: null } },
            metadata: { correlationId: `job-${i}`, actor: { type: 'service', id: 'fetcher-activities' } },
          },
        ],
        { expectedVersion: 'no_stream' },
      ),
    ),
  );
  const events = await source.collection('events').find({}).toArray();

  const stores = {};
  for (const layout of Object.keys(LAYOUTS)) {
    const db = client.db(dbName(`outbox${layout}`));
    databases.push(db);
    stores[layout] = { db, store: new MongoEventStore(db) };
  }
  for (let round = 0; round < args.rounds; round++) {
    for (const [layout, pack] of Object.entries(LAYOUTS)) {
      const { db, store } = stores[layout];
      const entries = events.map((e) => ({ _id: `${e._id}#${round}`, streamId: e.streamId, events: pack([e]), at: new Date() }));
      await measured(layout, 'write', () => db.collection('event_outbox').insertMany(entries));
      await db.collection('event_outbox_commits').insertMany(entries.map((e) => ({ _id: e._id, at: new Date() })));
      const read = await measured(layout, 'read', () => store.outboxEntries(500));
      if (read.length !== entries.length || !read.every((e) => e.committed && e.events.length === 1)) throw new Error(`${layout}: read ${read.length} entries back`);
      await measured(layout, 'clean-up', () => store.removeOutboxEntries(read.map((e) => e._id)));
    }
  }
} finally {
  for (const db of databases) await db.dropDatabase().catch(() => undefined);
  await client.close();
  await servers.stop();
}

const per = (value) => (value / args.rounds).toFixed(1);
console.log(`per round of ${args.entries} entries (means over ${args.rounds} rounds, layouts interleaved):`);
console.log('');
console.log('| phase | nested: FerretDB CPU | nested: wall | packed: FerretDB CPU | packed: wall | nested ÷ packed (CPU) |');
console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
for (const phase of PHASES) {
  const n = totals.nested[phase];
  const p = totals.packed[phase];
  const ratio = p.cpuMs > 0 ? `${(n.cpuMs / p.cpuMs).toFixed(1)}×` : 'n/a';
  console.log(`| ${phase} | ${per(n.cpuMs)} ms | ${per(n.wallMs)} ms | ${per(p.cpuMs)} ms | ${per(p.wallMs)} ms | ${ratio} |`);
}
