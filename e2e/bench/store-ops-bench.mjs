#!/usr/bin/env node
// What one store command costs, by kind and by the size of its collection: the rule behind every
// store access on a hot path ("insert-only; reads by _id"). Not part of the test run.
//
//   npm run build && node e2e/bench/store-ops-bench.mjs [--sizes 500,5000,20000] [--ops 40] [--doc-bytes 500]
//
// For each size N, a fresh collection of N documents (`_id` a string, `version`, a `doc-bytes` text
// and a small nested object), then --ops commands of each kind, one at a time, each on another
// document: insertOne, findOne by _id, updateOne by _id, updateOne by _id and version (a
// conditional update, as the read models write), replaceOne by _id, findOneAndUpdate by _id,
// deleteOne by _id, find by another field. Prints the mean milliseconds per command and the ratio
// to the smallest size: a ratio near 1 means the command does not grow with the collection.
//
// Starts its own FerretDB through libs/test-harness, or uses MONGO_URL (e.g. a mongo:7).
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { parseArgs, printHeader, ROOT, startServers } from './lib/kit.mjs';

const args = parseArgs({ sizes: '500,5000,20000', ops: 40, 'doc-bytes': 500 });
const sizes = String(args.sizes).split(',').map(Number);
if (sizes.some((n) => !Number.isInteger(n) || n < args.ops * 8)) {
  console.error(`--sizes must be integers of at least 8 x --ops (${args.ops * 8})`);
  process.exit(2);
}
printHeader('store commands: cost by kind and collection size', { ...args, store: process.env.MONGO_URL ? 'MONGO_URL' : 'FerretDB 1.24 (SQLite), started here' });

const { MongoClient } = createRequire(join(ROOT, 'package.json'))('mongodb');
const servers = await startServers();
const client = await MongoClient.connect(servers.mongoUrl);
const db = client.db(`storeops${randomBytes(4).toString('hex').replace(/\d/g, (d) => 'ghijklmnop'[d])}`);

const KINDS = [
  ['insertOne', (c, i) => c.insertOne({ _id: `new-${i}`, version: 1 })],
  ['findOne {_id}', (c, i) => c.findOne({ _id: id(i) })],
  ['updateOne {_id}', (c, i) => c.updateOne({ _id: id(args.ops + i) }, { $set: { state: 'a' } })],
  ['updateOne {_id, version}', (c, i) => c.updateOne({ _id: id(2 * args.ops + i), version: 1 }, { $set: { state: 'b', version: 2 } })],
  ['replaceOne {_id}', (c, i) => c.replaceOne({ _id: id(3 * args.ops + i) }, { version: 2, state: 'c' })],
  ['findOneAndUpdate {_id}', (c, i) => c.findOneAndUpdate({ _id: id(4 * args.ops + i) }, { $set: { state: 'd' } })],
  ['deleteOne {_id}', (c, i) => c.deleteOne({ _id: id(5 * args.ops + i) })],
  ['find {state} (another field)', (c, i) => c.find({ state: `none-${i}` }).toArray()],
];
function id(i) {
  return `collection-${String(i).padStart(8, '0')}-activities`;
}

const results = new Map();
try {
  for (const size of sizes) {
    const collection = db.collection(`docs${size}`);
    const text = 'x'.repeat(args['doc-bytes']);
    for (let from = 0; from < size; from += 1000) {
      await collection.insertMany(
        Array.from({ length: Math.min(1000, size - from) }, (_, k) => ({ _id: id(from + k), version: 1, state: 'Collecting', text, nested: { n: from + k, list: [1, 2, 3] } })),
      );
    }
    for (const [kind, run] of KINDS) {
      const started = process.hrtime.bigint();
      for (let i = 0; i < args.ops; i++) await run(collection, i);
      const ms = Number(process.hrtime.bigint() - started) / 1e6 / args.ops;
      results.set(`${kind}|${size}`, ms);
    }
    await collection.drop();
    console.log(`measured ${size} documents`);
  }
} finally {
  await db.dropDatabase().catch(() => undefined);
  await client.close();
  await servers.stop();
}

console.log('');
console.log(`| command | ${sizes.map((s) => `${s.toLocaleString('en')} docs`).join(' | ')} | largest ÷ smallest |`);
console.log(`| --- | ${sizes.map(() => '---:').join(' | ')} | ---: |`);
for (const [kind] of KINDS) {
  const row = sizes.map((s) => results.get(`${kind}|${s}`));
  console.log(`| ${kind} | ${row.map((ms) => `${ms.toFixed(2)} ms`).join(' | ')} | ${(row.at(-1) / row[0]).toFixed(1)}× |`);
}
