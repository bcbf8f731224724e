#!/usr/bin/env node
// Throughput and memory benchmark for @s1c/enricher. Not part of the test run.
//
//   npm run build && node e2e/bench/enricher-bench.mjs
//
// 1. Starts nats-server and FerretDB (libs/test-harness; or uses NATS_URL / MONGO_URL), creates a
//    source in the log (_siemForward: true, custom fields), and takes realistic records from an
//    in-process s1-simulator (pages of activities, threats and agents as collected: exact JSON).
// 2. Publishes BENCH_RECORDS raw records (default 1,000,000; 80% activities, 15% threats, 5%
//    agents) to S1C_RAW as the fetchers do (pages of 1000 in raw batches), each with a unique record id and S1 id.
// 3. Starts the enricher in this process and lets it drain the raw stream into S1C_DATA, sampling
//    records/s, the process's CPU time and RSS every second.
// Reports: wall-clock records/s, records per CPU-second of the enricher process (the "one core"
// figure: a Node process runs JavaScript on one thread), and RSS over the run.
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const load = (p) => import(pathToFileURL(join(here, '../..', p)).href);
const { startNatsServer, startFerretDb } = await load('libs/test-harness/dist/index.js');
const { startSimulator } = await load('libs/s1-simulator/dist/index.js');
const { startEnricher, loadEnricherConfig } = await load('services/enricher/dist/index.js');
const { MongoEventStore, AggregateRepository } = await load('libs/event-store/dist/index.js');
const { sourceDecider, isSourceEvent, sourceStreamId, siemEventId } = await load('libs/domain/dist/index.js');
const { createLogger } = await load('libs/logger/dist/index.js');
const { RAW_BATCH_HEADERS } = await load('libs/contracts/dist/index.js');
const { jetStreamRawPublisher } = await load('libs/fetcher-kit/dist/index.js');
const require = (await import('node:module')).createRequire(join(here, '../../services/enricher/package.json'));
const { connect } = require('nats');
const { MongoClient } = require('mongodb');

const TOTAL = Number(process.env.BENCH_RECORDS ?? 1_000_000);
const SOURCE_ID = 'bench';

const started = [];
const natsUrl = process.env.NATS_URL ?? (started.push(await startNatsServer()), started.at(-1).url);
const mongoUrl = process.env.MONGO_URL ?? (started.push(await startFerretDb()), started.at(-1).url);
const dbName = `bench${randomBytes(4).toString('hex').replace(/\d/g, (d) => 'abcdefghij'[d])}`;

// Realistic records, exactly as the simulator serves them.
const sim = await startSimulator({ activities: 20_000, threats: 2_000, agents: 1_000, startTime: '2024-06-01T12:00:00Z' });
async function page(api) {
  const res = await fetch(`${sim.apiUrl}/${api}?limit=1000`, { headers: { Authorization: 'ApiToken demo-token' } });
  const text = await res.text();
  // Split the data array into each record's exact JSON text (top-level objects of "data").
  const start = text.indexOf('[', text.indexOf('"data"'));
  const records = [];
  let depth = 0, from = -1, inString = false;
  for (let i = start + 1; i < text.length; i++) {
    const c = text[i];
    if (inString) { if (c === '\\') i++; else if (c === '"') inString = false; continue; }
    if (c === '"') inString = true;
    else if (c === '{') { if (depth++ === 0) from = i; }
    else if (c === '}') { if (--depth === 0) records.push(text.slice(from, i + 1)); }
    else if (c === ']' && depth === 0) break;
  }
  return records;
}
const templates = { activities: await page('activities'), threats: await page('threats'), agents: await page('agents') };
await sim.close();
const avgBytes = Math.round(
  [...templates.activities.slice(0, 200), ...templates.threats.slice(0, 40), ...templates.agents.slice(0, 10)].reduce((n, r) => n + Buffer.byteLength(r), 0) / 250,
);

const mongo = await MongoClient.connect(mongoUrl);
const store = new MongoEventStore(mongo.db(dbName));
await store.ensureIndexes();
const repo = new AggregateRepository(store, sourceDecider, isSourceEvent);
const { version } = await repo.execute(sourceStreamId(SOURCE_ID), () => ({
  type: 'CreateSource',
  data: {
    sourceId: SOURCE_ID,
    collectorId: 'default',
    secret: { alg: 'A256GCM', kid: 'k', iv: 'aQ==', ct: 'Yw==', tag: 'dA==' },
    config: {
      name: 'Bench console', description: null, category: 'sec/s1',
      fields: [{ key: '_siemForward', value: true }, { key: 'team', value: 'soc' }, { key: 'env', value: 'bench' }],
      baseUrl: 'https://bench.sentinelone.net/', supportedApis: ['activities', 'agents', 'threats'],
    },
  },
  metadata: { now: new Date() },
}));

// Raw records: unique ids (the S1 id is rewritten in the JSON text; everything else as served).
const nc = await connect({ servers: natsUrl, noAsyncTraces: true });
const jsm = await nc.jetstreamManager();
const js = nc.jetstream();
try { await jsm.streams.info('S1C_RAW'); await jsm.streams.purge('S1C_RAW'); await jsm.streams.purge('S1C_DATA'); } catch { /* created by the enricher */ }
try { await jsm.consumers.delete('S1C_RAW', 'enricher'); } catch { /* none yet */ }
const { declareStreams } = await load('libs/messaging/dist/index.js');
await declareStreams(jsm);
const encoder = new TextEncoder();
function raw(i) {
  const api = i % 20 < 16 ? 'activities' : i % 20 < 19 ? 'threats' : 'agents';
  const list = templates[api];
  const template = list[i % list.length];
  const s1Id = String(1_800_000_000_000_000_000n + BigInt(i));
  const body = template.replace(/^\{(.*?)"id":"\d+"/s, (m) => m.replace(/"id":"\d+"/, `"id":"${s1Id}"`));
  // The _siemEventID the fetcher sends with each record (JSON.parse is enough: it reads activityType and id).
  return { api, body: encoder.encode(body), recordId: `${SOURCE_ID}:${api}:${s1Id}`, eventId: siemEventId(api, JSON.parse(body)) };
}
const fetchedAt = '2024-06-01T12:00:00.000000Z';
let t0 = Date.now();
// Pages of 1000 records per API, published as the fetchers do (raw batches, several in flight).
const publisher = jetStreamRawPublisher(js);
const pages = { activities: [], threats: [], agents: [] };
let inflight = [];
const flush = (api) => {
  const headers = {
    [RAW_BATCH_HEADERS.sourceId]: SOURCE_ID,
    [RAW_BATCH_HEADERS.collectorId]: 'default',
    [RAW_BATCH_HEADERS.api]: api,
    [RAW_BATCH_HEADERS.lane]: 'backfill',
    [RAW_BATCH_HEADERS.jobId]: `${SOURCE_ID}:${api}:backfill:1`,
    [RAW_BATCH_HEADERS.generation]: '1',
    [RAW_BATCH_HEADERS.sourceVersion]: String(version),
    [RAW_BATCH_HEADERS.fetchedAt]: fetchedAt,
  };
  inflight.push(publisher.publish(`s1c.raw.${api}.${SOURCE_ID}`, pages[api], headers));
  pages[api] = [];
};
for (let i = 0; i < TOTAL; i++) {
  const r = raw(i);
  pages[r.api].push({ id: r.recordId, day: '2024-06-01', eventId: r.eventId, bytes: r.body });
  if (pages[r.api].length >= 1000) flush(r.api);
  if (inflight.length >= 8) { await Promise.all(inflight); inflight = []; }
}
for (const api of Object.keys(pages)) if (pages[api].length > 0) flush(api);
await Promise.all(inflight);
const publishMs = Date.now() - t0;
console.log(`published ${TOTAL} raw records (avg ${avgBytes} B, in raw batches) in ${(publishMs / 1000).toFixed(1)} s`);

// The enricher, in this process, alone now.
const logger = createLogger({ name: 'enricher', level: 'warn' });
const config = loadEnricherConfig({ ...process.env, NATS_URL: natsUrl, MONGO_URL: mongoUrl, S1C_DB_NAME: dbName, LOG_LEVEL: 'warn' });
global.gc?.();
const cpu0 = process.cpuUsage();
t0 = Date.now();
const runtime = await startEnricher(config, { logger });
const samples = [];
let last = { t: t0, n: 0 };
await new Promise((resolve) => {
  const timer = setInterval(() => {
    const n = runtime.enricher.stats.published;
    const now = Date.now();
    const rss = Math.round(process.memoryUsage().rss / 1048576);
    const heap = Math.round(process.memoryUsage().heapUsed / 1048576);
    samples.push({ s: Math.round((now - t0) / 1000), n, rate: Math.round(((n - last.n) * 1000) / (now - last.t)), rss, heap });
    console.log(`${String(samples.at(-1).s).padStart(4)} s  ${String(n).padStart(8)} records  ${String(samples.at(-1).rate).padStart(6)} rec/s  rss ${rss} MiB  heap ${heap} MiB`);
    last = { t: now, n };
    if (n >= TOTAL) { clearInterval(timer); resolve(); }
  }, 1000);
});
const wallMs = Date.now() - t0;
const cpu = process.cpuUsage(cpu0);
const cpuSeconds = (cpu.user + cpu.system) / 1e6;
await runtime.close();
const out = await jsm.streams.info('S1C_DATA');
console.log('');
console.log(`records: ${TOTAL}, average raw size ${avgBytes} B; output messages in S1C_DATA: ${out.state.messages}`);
console.log(`enricher wall clock: ${(wallMs / 1000).toFixed(1)} s -> ${Math.round(TOTAL / (wallMs / 1000))} records/s`);
console.log(`enricher CPU: ${cpuSeconds.toFixed(1)} s (user+system) -> ${Math.round(TOTAL / cpuSeconds)} records per CPU-second`);
const steady = samples.slice(Math.floor(samples.length / 10));
console.log(`RSS MiB: min ${Math.min(...steady.map((s) => s.rss))}, max ${Math.max(...steady.map((s) => s.rss))}, first 10% skipped; at 25/50/75/100%: ${[0.25, 0.5, 0.75, 1].map((f) => samples[Math.min(samples.length - 1, Math.floor(samples.length * f))].rss).join(' / ')}`);
await nc.close();
await mongo.close();
for (const s of started) await s.stop();
