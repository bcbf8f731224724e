#!/usr/bin/env node
// The floor of the output path (issue 14): what publishing our output records to JetStream costs
// nats.js and nats-server alone, with nothing of ours around it. Not part of the test run.
//
//   npm run build && node e2e/bench/nats-floor-bench.mjs [--records 1000000] [--window 4096]
//
// Starts nats-server (libs/test-harness; or uses NATS_URL) and a stream FLOOR with S1C_DATA's
// settings (file storage, limits, 10-minute duplicate window). Builds output records exactly as the
// enricher does (buildDataRecord over the simulator's activity records, SIEM metadata) and publishes
// --records of them, each with a unique Nats-Msg-Id and the six output headers, two ways, each into
// a purged stream:
//   pipelined: @s1c/messaging's PipelinedPublisher (the enricher's path), at most --window in flight;
//   js.publish: nats.js's own JetStream publish, the same window of promises awaited as they settle.
// Reports per way: wall seconds, records/s, the bench process's CPU and nats-server's CPU per 1,000
// records, and peak RSS. Compare with the enricher's CPU per 1,000 records in throughput-bench.
import { performance } from 'node:perf_hooks';
import { connect, load, machine, natsHeaders, parseArgs, printHeader, Sampler, childPidsNamed } from './lib/kit.mjs';

const args = parseArgs({ records: 1_000_000, window: 4096 });
printHeader('NATS floor: output records published to a stream with S1C_DATA settings', args);

const { startNatsServer } = await load('libs/test-harness/dist/index.js');
const { ByteSlab, STREAMS, HeaderBlock, PipelinedPublisher } = await load('libs/messaging/dist/index.js');
const { buildDataRecord } = await load('libs/delivery/dist/index.js');
const { startSimulator } = await load('libs/s1-simulator/dist/index.js');
const { DATA_RECORD_HEADERS } = await load('libs/contracts/dist/index.js');

const started = process.env.NATS_URL ? null : await startNatsServer();
const natsUrl = process.env.NATS_URL ?? started.url;
const sampler = new Sampler(500);
const natsPid = childPidsNamed(['nats-server'])['nats-server'];
if (natsPid) sampler.watch('nats-server', natsPid);
sampler.watch('bench (nats.js)', process.pid);

// Realistic events: the simulator's activity records as served, spliced into output records.
const sim = await startSimulator({ activities: 2000, agents: 10, threats: 10, startTime: '2024-06-01T12:00:00Z' });
const res = await fetch(`${sim.apiUrl}/activities?limit=1000`, { headers: { Authorization: 'ApiToken demo-token' } });
const page = await res.json();
await sim.close();
const events = page.data.map((r) => new TextEncoder().encode(JSON.stringify(r)));
const metadataJson = JSON.stringify({ team: 'bench', _source: 'Bench console', _sourceCategory: 'sec/s1', _collector: 'default', _siemVendor: 'SentinelOne', _siemProduct: 'MGMT API', _siemFormat: 'JSON', _siemEventID: 'activities - 27' });
const SOURCE = '00000000-0000-4000-8000-000000000000';
// Each way its own ids: a purge does not empty the stream's duplicate window.
let idBase = 1_800_000_000_000_000_000n;
const slab = new ByteSlab();
const record = (i) => {
  const id = `${SOURCE}:activities:${idBase + BigInt(i)}`;
  const { body, eventOffset } = buildDataRecord({ id, sourceId: SOURCE, collectorId: 'default', api: 'activities', fetchedAt: '2026-12-05T00:00:00.000000Z' }, metadataJson, events[i % events.length], slab);
  return { id, body, eventOffset };
};
const meanBytes = Math.round(Array.from({ length: 1000 }, (_, i) => record(i).body.length).reduce((a, b) => a + b, 0) / 1000);
console.log(`output record: ${meanBytes} bytes on average, 6 headers + Nats-Msg-Id`);

const nc = await connect({ servers: natsUrl, noAsyncTraces: true });
const jsm = await nc.jetstreamManager();
const js = nc.jetstream();
const config = { ...STREAMS.data, name: 'FLOOR', subjects: ['floor.>'] };
await jsm.streams.add(config).catch(() => jsm.streams.update('FLOOR', config));
const subject = `floor.activities.${SOURCE}`;

const headersOf = (r, h) => {
  h.append(DATA_RECORD_HEADERS.recordId, r.id);
  h.append(DATA_RECORD_HEADERS.sourceId, SOURCE);
  h.append(DATA_RECORD_HEADERS.collectorId, 'default');
  h.append(DATA_RECORD_HEADERS.api, 'activities');
  h.append(DATA_RECORD_HEADERS.sourceVersion, '3');
  h.append(DATA_RECORD_HEADERS.eventOffset, String(r.eventOffset));
  return h;
};

const ways = {
  pipelined: () => {
    const publisher = new PipelinedPublisher(nc, { maxInFlight: args.window });
    return { publish: (r) => publisher.publish(subject, r.body, r.id, headersOf(r, new HeaderBlock())), close: () => publisher.close() };
  },
  'js.publish': () => ({ publish: (r) => js.publish(subject, r.body, { msgID: r.id, headers: headersOf(r, natsHeaders()), timeout: 10_000 }), close: () => undefined }),
};

const results = [];
for (const [name, make] of Object.entries(ways)) {
  await jsm.streams.purge('FLOOR');
  idBase += 100_000_000n;
  const way = make();
  sampler.rebase();
  const t0 = performance.now();
  const inflight = new Set();
  for (let i = 0; i < args.records; i++) {
    // Built inside the loop, as the enricher builds each record: the floor includes building it.
    const p = way.publish(record(i)).then(() => inflight.delete(p));
    inflight.add(p);
    if (inflight.size >= args.window) await Promise.race(inflight);
  }
  await Promise.all(inflight);
  const seconds = (performance.now() - t0) / 1000;
  way.close();
  const stored = (await jsm.streams.info('FLOOR')).state.messages;
  if (stored !== args.records) throw new Error(`${name}: ${stored} of ${args.records} records stored`);
  const rows = Object.fromEntries(sampler.table().map((r) => [r.name, r]));
  const per1000 = (row) => (row ? ((row.cpuSeconds * 1000) / args.records) * 1000 : NaN);
  const result = {
    name,
    seconds,
    rate: Math.round(args.records / seconds),
    clientMs: per1000(rows['bench (nats.js)']),
    serverMs: per1000(rows['nats-server']),
    clientPeak: rows['bench (nats.js)']?.peakRssMiB,
    serverPeak: rows['nats-server']?.peakRssMiB,
  };
  results.push(result);
  console.log(
    `floor ${name}: ${args.records} records in ${seconds.toFixed(1)} s (${result.rate} rec/s); client ${result.clientMs.toFixed(1)} ms CPU/1000 records, ` +
      `nats-server ${result.serverMs.toFixed(1)} ms CPU/1000 records; peak RSS client ${result.clientPeak} MiB, nats-server ${result.serverPeak} MiB`,
  );
}
console.log(JSON.stringify({ machine: machine(), records: args.records, window: args.window, meanBytes, results }));

sampler.stop();
await jsm.streams.delete('FLOOR').catch(() => undefined);
await nc.close();
await started?.stop();
