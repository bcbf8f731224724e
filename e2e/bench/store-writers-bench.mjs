#!/usr/bin/env node
// How many inserts a second the store takes, by the number of writers at once and by batch size:
// whether the store's writes are one at a time (SQLite has one writer per database), and what
// appending several events in one insertMany would save. Not part of the test run.
//
//   npm run build && node e2e/bench/store-writers-bench.mjs [--docs 3000] [--writers 1,2,4,8,16] [--batches 1,10,100] [--doc-bytes 500]
//
// For each writer count W (batch 1) and each batch size B (4 writers), --docs documents of
// --doc-bytes are inserted into one collection by W concurrent loops, B documents per insert
// command. Prints documents per second, commands per second, and the ratio to one writer with
// batch 1: writes that scale with W are not serialised; a ratio near 1 means one at a time.
//
// Starts its own FerretDB through libs/test-harness, or uses MONGO_URL (e.g. a mongo:7).
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { parseArgs, printHeader, ROOT, startServers } from './lib/kit.mjs';

const args = parseArgs({ docs: 3000, writers: '1,2,4,8,16', batches: '1,10,100', 'doc-bytes': 500 });
const writerCounts = String(args.writers).split(',').map(Number);
const batchSizes = String(args.batches).split(',').map(Number);
if ([...writerCounts, ...batchSizes].some((n) => !Number.isInteger(n) || n < 1) || !Number.isInteger(args.docs) || args.docs < 100) {
  console.error('--writers and --batches take positive integers; --docs at least 100');
  process.exit(2);
}
printHeader('store writes: inserts per second by writers at once and batch size', { ...args, store: process.env.MONGO_URL ? 'MONGO_URL' : 'FerretDB 1.24 (SQLite), started here' });

const { MongoClient } = createRequire(join(ROOT, 'package.json'))('mongodb');
const servers = await startServers();
const client = await MongoClient.connect(servers.mongoUrl, { maxPoolSize: Math.max(...writerCounts) + 2 });
const db = client.db(`storewriters${randomBytes(4).toString('hex').replace(/\d/g, (d) => 'ghijklmnop'[d])}`);
const text = 'x'.repeat(args['doc-bytes']);

/** Inserts `args.docs` documents into a fresh collection with `writers` loops of `batch`-document commands. */
async function run(writers, batch) {
  const collection = db.collection(`w${writers}b${batch}`);
  await collection.insertOne({ _id: 'warm-up' });
  let next = 0;
  let commands = 0;
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: writers }, async () => {
      while (next < args.docs) {
        const from = next;
        next = Math.min(args.docs, next + batch);
        const docs = Array.from({ length: next - from }, (_, k) => ({ _id: `stream-${from + k}@1`, streamId: `stream-${from + k}`, version: 1, text }));
        await (docs.length === 1 ? collection.insertOne(docs[0]) : collection.insertMany(docs));
        commands++;
      }
    }),
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return { writers, batch, docsPerSecond: args.docs / seconds, commandsPerSecond: commands / seconds };
}

const rows = [];
try {
  for (const writers of writerCounts) rows.push(await run(writers, 1));
  for (const batch of batchSizes.filter((b) => b > 1)) rows.push(await run(4, batch));
} finally {
  await db.dropDatabase().catch(() => undefined);
  await client.close();
  await servers.stop();
}

const base = rows[0].docsPerSecond;
console.log('\n| writers at once | documents per insert | documents/s | insert commands/s | documents/s ÷ first row |');
console.log('| ---: | ---: | ---: | ---: | ---: |');
for (const r of rows) {
  console.log(`| ${r.writers} | ${r.batch} | ${r.docsPerSecond.toFixed(0)} | ${r.commandsPerSecond.toFixed(0)} | ${(r.docsPerSecond / base).toFixed(2)}× |`);
}
