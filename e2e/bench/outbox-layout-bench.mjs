#!/usr/bin/env node
// What the outbox costs the store, by how an entry holds its events: packed into one BSON binary and
// deflated (the store today), packed without deflating (sessions 17-18) or nested as documents
// (before). On FerretDB every read and delete of the outbox decodes every entry in Go, so the layout
// decides the relay's cost. Not part of the test run.
//
//   npm run build && node e2e/bench/outbox-layout-bench.mjs [--entries 100] [--rounds 30]
//
// Appends --entries appends of a live poll (its JobDispatched, PageCollected and JobCompleted, as a
// fetcher appends them at 2,000 sources ~100 a second) to a real MongoEventStore, keeps the stored
// events, then, round after round
// and layout after layout (interleaved), writes --entries outbox entries of them with their commit
// markers, and measures what the relay does with them: one read (`outboxEntries`, as the relay's
// pass) and one clean-up (`removeOutboxEntries`). Prints FerretDB's CPU milliseconds and the wall
// milliseconds per phase and layout, and each layout's CPU ÷ the deflated one's.
//
// Starts its own FerretDB through libs/test-harness, or uses MONGO_URL (e.g. a mongo:7; its CPU is
// then not sampled).
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { deflateRawSync } from 'node:zlib';
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

// As the store writes them (DEFLATED_EVENTS_SUBTYPE) and as it wrote them before; it reads all three.
const LAYOUTS = {
  deflated: (events) => new Binary(deflateRawSync(BSON.serialize({ events })), 0x80),
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
  const cursor = 'eyJpZF9jb2x1bW4iOiAiaWQiLCAiaWRfdmFsdWUiOiAiMjA0MjE3MDc3ODQ4MzI4NjU0NSIsICJzb3J0X2J5X2NvbHVtbiI6ICJjcmVhdGVkQXQifQ==';
  await Promise.all(
    Array.from({ length: args.entries }, (_, i) => {
      const sourceId = `5b0c1d2e-aaaa-bbbb-cccc-${String(i).padStart(12, '0')}`;
      const jobId = `${sourceId}:activities:live:${i + 1}`;
      const base = { sourceId, api: 'activities', at: '2026-12-06T20:00:00.000000Z', jobId, lane: 'live' };
      const progress = { cursor, walkFrom: '2026-12-06T19:58:00.000000Z', lastTimestamp: '2026-12-06T19:59:58.123456Z', records: 3, pages: 1 };
      const metadata = { correlationId: jobId, actor: { kind: 'system', component: 'fetcher-activities' } };
      return writer.appendToStream(
        `collection-${sourceId}-activities`,
        [
          { type: 'JobDispatched', data: { ...base, generation: 1, window: { from: '2026-12-06T19:58:00.000000Z', to: '2026-12-06T20:00:00.000000Z' }, resume: { cursor: null, walkFrom: null, lastTimestamp: null, records: 0, pages: 0 } }, metadata },
          { type: 'PageCollected', data: { ...base, progress, pageRecords: 3, rateLimited: false }, metadata },
          { type: 'JobCompleted', data: { ...base, finished: true, progress }, metadata },
        ],
        { expectedVersion: 'no_stream' },
      );
    }),
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
      const byStream = new Map();
      for (const e of events) byStream.set(e.streamId, [...(byStream.get(e.streamId) ?? []), e]);
      const entries = [...byStream.values()].map((of) => ({ _id: `${of[0]._id}#${round}`, streamId: of[0].streamId, events: pack(of), at: new Date() }));
      await measured(layout, 'write', () => db.collection('event_outbox').insertMany(entries));
      await db.collection('event_outbox_commits').insertMany(entries.map((e) => ({ _id: e._id, at: new Date() })));
      const read = await measured(layout, 'read', () => store.outboxEntries(500));
      if (read.length !== entries.length || !read.every((e) => e.committed && e.events.length === 3)) throw new Error(`${layout}: read ${read.length} entries back`);
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
console.log('| phase | ' + Object.keys(LAYOUTS).map((l) => `${l}: FerretDB CPU | ${l}: wall`).join(' | ') + ' | packed ÷ deflated (CPU) | nested ÷ deflated (CPU) |');
console.log('| --- |' + ' ---: | ---: |'.repeat(Object.keys(LAYOUTS).length) + ' ---: | ---: |');
const ratio = (a, b) => (b > 0 ? `${(a / b).toFixed(1)}×` : 'n/a');
for (const phase of PHASES) {
  const cells = Object.keys(LAYOUTS).map((l) => `${per(totals[l][phase].cpuMs)} ms | ${per(totals[l][phase].wallMs)} ms`);
  const d = totals.deflated[phase].cpuMs;
  console.log(`| ${phase} | ${cells.join(' | ')} | ${ratio(totals.packed[phase].cpuMs, d)} | ${ratio(totals.nested[phase].cpuMs, d)} |`);
}
