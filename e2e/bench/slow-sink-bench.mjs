#!/usr/bin/env node
// Back-pressure from a slow collector (issue 14): memory held, not grown. Not part of the test run.
//
//   npm run build && node e2e/bench/slow-sink-bench.mjs [--records 200000] [--rate 4000] [--timeout 600] [--memory]
//
// Starts nats-server and FerretDB (libs/test-harness; or NATS_URL / MONGO_URL), the simulator with
// --records activities as a process, every service as a process, and an HTTP collector in this
// process that takes at most --rate records a second (it answers each POST only after the time
// its records take at that rate). The enricher's HTTP sink delivers to it. One source is created;
// its backfill fills S1C_DATA far faster than the collector takes it, so the sink runs with a
// backlog of up to the whole backfill the whole time. Samples every service's RSS every 2 s until
// the collector has every record, and prints the enricher's RSS over time, its peak and its growth
// after the first 20 s. Verdict: the enricher's peak RSS <= 300 MiB and flat (grows < 50 MiB after
// the first 20 s) while the backlog is drained: held messages are bounded by S1C_SINK_MAX_ACK_PENDING.
// --memory scrapes the enricher's own metrics (Node's heap, used and total, and its external memory:
// array buffers and native allocations V8 knows of) with every sample, to show where its RSS goes.
import { createServer } from 'node:http';
import { gunzipSync } from 'node:zlib';
import {
  baseEnv, command, connect, dataCount, dbName, load, parseArgs, PIPELINE, printHeader, printProcTable, Sampler, sleep, sourceDocument,
  startPipeline, startServers, startSimulatorProcess, procStats,
} from './lib/kit.mjs';

const args = parseArgs({ records: 200_000, rate: 4000, timeout: 600, memory: false });
const TOKEN = 'bench-slow-sink-token';

// The slow collector: counts records (NDJSON lines), answers after their share of the rate.
let received = 0;
let busyUntil = Date.now();
const server = createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    const text = (req.headers['content-encoding'] === 'gzip' ? gunzipSync(body) : body).toString('utf8');
    const lines = text.length === 0 ? 0 : text.split('\n').length;
    busyUntil = Math.max(busyUntil, Date.now()) + (lines * 1000) / args.rate;
    setTimeout(() => {
      received += lines;
      res.writeHead(200).end();
    }, busyUntil - Date.now());
  });
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const collectorUrl = `http://127.0.0.1:${server.address().port}/receiver`;

const SETTINGS = {
  S1C_SINK_HTTP_URL: collectorUrl,
  S1C_MAX_PAGES_PER_JOB: '100000',
  S1C_S1_REQUESTS_PER_SECOND: '1000',
  S1C_BACKFILL: '24h',
  LOG_LEVEL: 'info',
  ...Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('S1C_') || k === 'LOG_LEVEL')),
};
printHeader('slow sink: a backfill into a collector that takes --rate records/s', { ...args, services: { ...SETTINGS, S1C_SINK_HTTP_URL: '(this process)' } });

const sampler = new Sampler(1000);
const servers = await startServers();
for (const [name, pid] of Object.entries(servers.pids)) sampler.watch(name, pid);
const startTime = new Date(Date.now() - 10 * 60_000).toISOString();
const sim = await startSimulatorProcess(['--seed', '1', '--start-time', startTime, '--history-hours', '23', '--activities', String(args.records), '--agents', '0', '--threats', '0', '--token', `bench:${TOKEN}`]);
const env = { ...(await baseEnv(servers.natsUrl, servers.mongoUrl, dbName('slowsink'))), ...SETTINGS, S1C_ALLOW_INSECURE_BASE_URL: 'true' };
const { freePort } = await load('libs/test-harness/dist/index.js');
const metricsPort = await freePort();
const services = args.memory
  ? [...(await startPipeline(env, PIPELINE.filter((n) => n !== 'enricher'))), ...(await startPipeline({ ...env, S1C_METRICS_PORT: String(metricsPort) }, ['enricher']))]
  : await startPipeline(env);
/** The enricher's heap (used, total) and external memory in MiB, from its Prometheus metrics. */
async function heapOf() {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const value = (name) => Number(new RegExp(`^${name} (\\S+)`, 'm').exec(text)?.[1] ?? NaN) / 1048576;
  return { used: value('nodejs_heap_size_used_bytes'), total: value('nodejs_heap_size_total_bytes'), external: value('nodejs_external_memory_bytes') };
}
for (const s of services) sampler.watch(s.name, s.pid);
const enricherPid = services.find((s) => s.name === 'enricher').pid;

const nc = await connect({ servers: servers.natsUrl, noAsyncTraces: true });
const jsm = await nc.jetstreamManager();
let failed = null;
const timeline = [];
const t0 = performance.now();
try {
  sampler.rebase();
  const reply = await command(nc, 'create', sourceDocument('Slow sink', sim.url, TOKEN, ['activities']));
  if (!reply.ok) throw new Error(`create refused: ${JSON.stringify(reply)}`);
  const sourceId = reply.source.id;
  for (;;) {
    await sleep(2000);
    const s = (performance.now() - t0) / 1000;
    const rss = procStats(enricherPid)?.rssMiB ?? NaN;
    const data = await dataCount(jsm, sourceId);
    const heap = args.memory ? await heapOf().catch(() => undefined) : undefined;
    timeline.push({ s, rss, data, received });
    const memory = heap ? ` (heap used ${heap.used.toFixed(0)}, heap total ${heap.total.toFixed(0)}, external ${heap.external.toFixed(0)}, the rest ${(rss - heap.total - heap.external).toFixed(0)})` : '';
    if (args.memory || timeline.length % 5 === 0) console.log(`${s.toFixed(0).padStart(5)} s  S1C_DATA ${String(data).padStart(8)}  collector ${String(received).padStart(8)}  enricher RSS ${rss.toFixed(0)} MiB${memory}`);
    if (received >= args.records) break;
    if (s > args.timeout) throw new Error(`timed out after ${args.timeout} s with ${received} of ${args.records} records at the collector`);
  }
} catch (error) {
  failed = String(error?.stack ?? error);
}
const wall = (performance.now() - t0) / 1000;
console.log('');
printProcTable(sampler.table(), wall);
const after = timeline.filter((t) => t.s >= 20).map((t) => t.rss);
const peak = Math.max(...timeline.map((t) => t.rss));
const growth = after.length > 1 ? Math.max(...after) - after[0] : NaN;
const maxBacklog = Math.max(...timeline.map((t) => t.data - t.received));
console.log(`collector: ${received} records in ${wall.toFixed(0)} s; largest backlog (in S1C_DATA, not yet at the collector): ${maxBacklog} records`);
console.log(`enricher RSS: peak ${peak.toFixed(0)} MiB; from 20 s to the end ${after[0]?.toFixed(0)} → ${after.at(-1)?.toFixed(0)} MiB (largest growth over the first ${growth.toFixed(0)} MiB)`);
if (failed) console.log(`FAILED: ${failed}`);
console.log(`VERDICT enricher peak RSS <= 300 MiB and flat (< 50 MiB growth after 20 s) with a backlog: ${!failed && peak <= 300 && growth < 50 ? 'met' : 'not met'} (peak ${peak.toFixed(0)} MiB, growth ${growth.toFixed(0)} MiB, backlog up to ${maxBacklog})`);

sampler.stop();
await nc.close();
server.close();
await sim.stop();
for (const s of services) await s.stop?.();
await servers.stop();
process.exit(failed ? 1 : 0);
