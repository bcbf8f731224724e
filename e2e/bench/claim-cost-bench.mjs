#!/usr/bin/env node
// What a claim in the enricher's delivered set costs the store, by the claim's shape (issue 14:
// FerretDB's CPU on the backfill is almost all these inserts). Not part of the test run.
//
//   npm run build && node e2e/bench/claim-cost-bench.mjs [--rounds 40] [--repeat 2]
//
// Inserts --rounds batches of 1,000 claims (insertMany, unordered, as DeliveredSet.claim does) of
// record ids in the fetchers' form (`<source>:activities:<id>`, ids rising) into a fresh collection
// per shape, and prints the mean microseconds per claim: the record id alone; with the batch id the
// enricher writes (its day and a UUID, 45 characters); with a shorter one (day and 16 base64url
// characters, 25); and a hashed record id (random order) with the short batch id.
// Each shape --repeat times, interleaved. Starts its own FerretDB (libs/test-harness) or uses MONGO_URL.
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { parseArgs, printHeader, ROOT, startServers } from './lib/kit.mjs';

const args = parseArgs({ rounds: 40, repeat: 2 });
printHeader('claims: store cost per claim by its shape', { ...args, store: process.env.MONGO_URL ? 'MONGO_URL' : 'FerretDB 1.24 (SQLite), started here' });
const { MongoClient } = createRequire(join(ROOT, 'package.json'))('mongodb');
const servers = await startServers();
const client = await MongoClient.connect(servers.mongoUrl);
const db = client.db(`claimcost${Date.now()}`);

const SOURCE = '00000000-0000-4000-8000-000000000000';
const UUID_BATCH = '20261205-c0ffee00-1111-4222-8333-444455556666';
const SHORT_BATCH = '20261205-AbCdEfGhIjKlMnOp';
const hashed = (id) => createHash('sha256').update(id).digest('base64url').slice(0, 22);
const SHAPES = {
  'record id alone': (id) => ({ _id: id }),
  'record id + UUID batch id (the enricher\'s)': (id) => ({ _id: id, batch: UUID_BATCH }),
  'record id + short batch id': (id) => ({ _id: id, batch: SHORT_BATCH }),
  'hashed record id + short batch id': (id) => ({ _id: hashed(id), batch: SHORT_BATCH }),
};

const results = new Map(Object.keys(SHAPES).map((k) => [k, []]));
for (let k = 0; k < args.repeat; k++) {
  for (const [name, shape] of Object.entries(SHAPES)) {
    const collection = db.collection(`c${k}_${Object.keys(SHAPES).indexOf(name)}`);
    await collection.insertOne({ _id: 'warm-up' });
    const started = process.hrtime.bigint();
    for (let r = 0; r < args.rounds; r++) {
      const claims = Array.from({ length: 1000 }, (_, i) => shape(`${SOURCE}:activities:${1_800_000_000_000 + r * 1000 + i}`));
      await collection.insertMany(claims, { ordered: false });
    }
    results.get(name).push(Number(process.hrtime.bigint() - started) / 1000 / (args.rounds * 1000));
  }
}
console.log('| claim | µs per claim (each run) |\n| --- | ---: |');
for (const [name, runs] of results) console.log(`| ${name} | ${runs.map((r) => r.toFixed(1)).join(', ')} |`);

await db.dropDatabase();
await client.close();
await servers.stop();
