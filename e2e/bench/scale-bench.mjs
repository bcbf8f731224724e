#!/usr/bin/env node
// Scale: issue 13's targets for many sources polled every minute. Not part of the test run.
//
//   npm run build && node e2e/bench/scale-bench.mjs [--sources 2000] [--poll 60] [--cycles-minutes 10]
//       [--max-minutes 20] [--create-rate 25] [--create-concurrency 32] [--store-probe] [--cluster]
//
// --cluster: a three-node JetStream cluster and S1C_STREAM_REPLICAS=3 (issue 16).
//
// The targets (issue 13), at 2,000 sources (3 APIs each, a few records per poll) and a 60 s poll:
//   1. all sources created at >= 20 sources/s, create reply p95 <= 500 ms;
//   2. every source Collecting within 5 minutes of the last create;
//   3. then, for 10 minutes, every one of the 6,000 collections completes a live poll within one
//      poll interval, cycle after cycle;
//   4. between polls the store (the FerretDB process) uses <= 10% of a core;
//   5. no service above 300 MB RSS (300,000,000 bytes; services = registry, scheduler, fetchers,
//      enricher, health; not nats-server, FerretDB or the simulator).
// Prints a verdict line per target (met / not met, with the figure). A run smaller than the
// target's (--sources, --poll, --cycles-minutes) says so: "met" there is met at that size only.
//
// Starts nats-server and FerretDB (libs/test-harness; or NATS_URL / MONGO_URL, then the store's CPU
// is not measured), the simulator as a process with one site per source and one token per source
// scoped to that site (each source sees only its own records), and every service as a process.
//
// Measurement:
// - creation: --create-rate creates per second are *offered* (open loop, at most
//   --create-concurrency in flight; --create-rate 0 = closed loop, --create-concurrency in flight).
//   The creation rate is sources created / (last reply - first request); the default offers 25/s,
//   a little above the 20/s goal, so a system that keeps up shows >= 20/s.
// - Collecting: each source's state from the relayed source events on S1C_EVENTS
//   (s1c.evt.source.<id>.<Type>; CollectionBegan = Collecting, stamped with the event's store time),
//   checked once against `s1c.cmd.source.list`. Waits at most until 5 minutes after the last create
//   reply (the goal), then goes on to the live phase anyway (a later Collecting is still reported).
// - live cycles: from the moment T the live phase starts, --cycles-minutes are cut into windows of
//   one poll interval P: [T + kP, T + (k+1)P). A collection is "polled within the interval" of
//   window k when a live job dispatched in that window (JobDispatched's `at`) completed
//   (JobCompleted, finished). A live job is due at its live checkpoint + P (the scheduler's rule;
//   the checkpoint is window.from + S1C_LIVE_OVERLAP); its lag is completion - due, and the target
//   needs lag <= P. After the last window the bench waits up to one more P for the jobs
//   dispatched in it to complete. Collection events come from S1C_EVENTS (s1c.evt.collection.>).
// - the store between polls: FerretDB's CPU (/proc) sampled every 250 ms during the live phase;
//   "quiet" = no job of any lane in flight, with 1 s before each dispatch and 2 s after each end
//   (the enricher's share of a poll) counted as busy. The verdict uses the quiet parts when there
//   are >= 10 s of them, otherwise the whole live phase (which includes the polls), and says which.
// - peak RSS: max of VmHWM and 1 s samples of each process.
// --store-probe also times two queries on the log every 2 s (see kit.mjs StoreProbe); it loads
// FerretDB itself, so it is off by default and the output says when it was on.
// Stops by itself after --max-minutes (from the start of the script), printing what it measured.
// Settings: S1C_POLL_INTERVAL=--poll, S1C_LIVE_OVERLAP=5s, S1C_BACKFILL=2h (history 1 h),
// S1C_S1_REQUESTS_PER_SECOND=1000 (every simulated console is the same host here, so the per-console
// limit would otherwise be shared by all sources), S1C_FETCHER_CONCURRENCY=8; any S1C_* or
// LOG_LEVEL variable in the environment overrides them.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  baseEnv, command, connect, dbName, machineCpu, manySourcesSimulator, parseArgs, printHeader, printMachineLoad, printProcTable, procStats, Sampler,
  sleep, sourceDocument, startPipeline, startServers, startSimulatorProcess, StoreProbe, percentile,
} from './lib/kit.mjs';

const args = parseArgs({ sources: 2000, poll: 60, 'cycles-minutes': 10, 'max-minutes': 20, 'create-rate': 25, 'create-concurrency': 32, 'store-probe': false, cluster: false });
const N = args.sources;
const startedAt = Date.now();
const deadline = startedAt + args['max-minutes'] * 60_000;
const GOAL = { sources: 2000, pollMs: 60_000, cyclesMinutes: 10, createRate: 20, createP95Ms: 500, collectingMs: 5 * 60_000, storeShare: 0.1, rssBytes: 300e6 };
const SERVERS = ['nats-server', 'ferretdb', 's1-simulator'];
const APIS = ['activities', 'agents', 'threats'];
const SETTINGS = {
  S1C_POLL_INTERVAL: `${args.poll}s`,
  S1C_LIVE_OVERLAP: '5s',
  S1C_BACKFILL: '2h',
  S1C_S1_REQUESTS_PER_SECOND: '1000',
  S1C_FETCHER_CONCURRENCY: '8',
  LOG_LEVEL: 'info',
  ...Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('S1C_') || k === 'LOG_LEVEL')),
};
const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };
function durationMs(name, fallback) {
  const text = SETTINGS[name] ?? fallback;
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)$/.exec(String(text).trim());
  if (!m) throw new Error(`${name}=${text} is not a duration such as 1500ms, 90s or 5m`);
  return Number(m[1]) * UNIT_MS[m[2]];
}
// The interval and overlap the scheduler really runs with (an S1C_* variable may override --poll).
const P = durationMs('S1C_POLL_INTERVAL');
const OVERLAP = durationMs('S1C_LIVE_OVERLAP', '2m');
const TICK = durationMs('S1C_SCHEDULER_TICK', '1s');
const CYCLES = Math.max(1, Math.floor((args['cycles-minutes'] * 60_000) / P));
// A collection's live polls are due one interval after the previous dispatch, so its cadence is P
// plus the scheduler's delay (up to a tick and its work): polls this close are "on time".
const SLACK = Math.max(2_000, 2 * TICK);
// A few records per source and poll (see manySourcesSimulator).
const simConfig = manySourcesSimulator(N, P / 1000, 'scale-token-');
printHeader('scale: many sources, one poll a minute (issue 13)', {
  ...args, liveCycles: `${CYCLES} of ${P / 1000} s`, simulator: { ...simConfig, tokens: `${N} tokens, each scoped to one site` }, services: SETTINGS,
});

const sampler = new Sampler(1000);
const servers = await startServers({ cluster: args.cluster });
const cleanup = [];
process.on('uncaughtException', async (error) => {
  console.error(error);
  for (const stop of cleanup.reverse()) await stop().catch(() => undefined);
  await servers.stop().catch(() => undefined);
  process.exit(1);
});
process.on('unhandledRejection', (error) => process.emit('uncaughtException', error));
for (const [name, pid] of Object.entries(servers.pids)) sampler.watch(name, pid);
const configFile = join(mkdtempSync(join(tmpdir(), 's1c-scale-')), 'simulator.json');
writeFileSync(configFile, JSON.stringify(simConfig));
const sim = await startSimulatorProcess(['--config', configFile]);
sampler.watch('s1-simulator', sim.pid);
cleanup.push(() => sim.stop());
const env = { ...(await baseEnv(servers.natsUrl, servers.mongoUrl, dbName('scale'))), S1C_STREAM_REPLICAS: String(servers.streamReplicas), ...SETTINGS };
const services = await startPipeline(env);
for (const s of services) sampler.watch(s.name, s.pid);
for (const s of services) cleanup.push(() => s.stop());
const probe = args['store-probe'] ? new StoreProbe(servers.mongoUrl, env.S1C_DB_NAME, 2000) : null;
const nc = await connect({ servers: servers.natsServers, noAsyncTraces: true });

// Every event the registry's relay publishes on S1C_EVENTS: source states and collection jobs.
const STATE_AFTER = {
  SourceCreated: 'Pending', SourceUpdated: 'Pending', SourceRestarted: 'Pending', CollectionStarted: 'Started',
  CollectionInitialized: 'Initialized', SourceAuthenticated: 'Authenticated', CollectionBegan: 'Collecting',
  SourceFailed: 'Error', SourceDeletionRequested: 'Stopping', SourceDeleted: 'Deleted',
};
const sourceStates = new Map(); // sourceId -> { state, version, collectingAt }
const jobs = new Map(); // jobId -> { collection, lane, dispatchedAt, window, completedAt, finished, endedAt, failed }
const decoder = new TextDecoder();
let relayLagMs = [];
const sub = nc.subscribe('s1c.evt.>');
void (async () => {
  for await (const m of sub) {
    const parts = m.subject.split('.');
    const kind = parts[2];
    const id = parts.slice(3, -1).join('.');
    const type = parts.at(-1);
    let e;
    try {
      e = JSON.parse(decoder.decode(m.data));
    } catch {
      continue;
    }
    const at = Date.parse(e.time);
    if (kind === 'source') {
      const to = STATE_AFTER[type];
      if (!to) continue;
      const s = sourceStates.get(id) ?? { version: 0 };
      if (e.version <= s.version) continue;
      s.version = e.version;
      s.state = to;
      if (to === 'Collecting') s.collectingAt = at;
      sourceStates.set(id, s);
      continue;
    }
    if (kind !== 'collection' || !['JobDispatched', 'JobCompleted', 'JobRan', 'JobFailed', 'JobAbandoned'].includes(type)) continue;
    relayLagMs.push(Date.now() - at);
    const job = jobs.get(e.data.jobId) ?? { collection: id };
    // When the scheduler dispatched it (its `at`): the fetcher appends it with the job's first record.
    if (type === 'JobDispatched') Object.assign(job, { lane: e.data.lane, dispatchedAt: Date.parse(e.data.at), window: e.data.window });
    // A job of one page (a live poll), dispatched, collected and completed in one event.
    else if (type === 'JobRan') {
      Object.assign(job, { lane: e.data.lane, dispatchedAt: Date.parse(e.data.dispatchedAt), window: e.data.window, completedAt: at, endedAt: at, finished: e.data.finished });
    } else if (type === 'JobCompleted') Object.assign(job, { completedAt: at, endedAt: at, finished: e.data.finished, lane: e.data.lane ?? job.lane });
    else Object.assign(job, { endedAt: at, failed: type, lane: e.data.lane ?? job.lane });
    jobs.set(e.data.jobId, job);
  }
})();

const phases = [];
let phaseStart = { at: Date.now(), cpu: sampler.cpuNow() };
function endPhase(name, note = '') {
  const now = { at: Date.now(), cpu: sampler.cpuNow() };
  const seconds = (now.at - phaseStart.at) / 1000;
  const cpu = Object.fromEntries(Object.entries(now.cpu).map(([k, v]) => [k, v - (phaseStart.cpu[k] ?? 0)]));
  const events = probe?.samples.at(-1)?.events;
  phases.push({ name, seconds, cpu, note, events });
  console.log(`[${new Date().toISOString().slice(11, 19)}] ${name}: ${seconds.toFixed(1)} s${note ? `; ${note}` : ''}${events !== undefined ? ` (log: ${events} events)` : ''}`);
  phaseStart = { at: now.at, cpu: now.cpu };
}
const timeLeft = () => deadline - Date.now();
const stops = [];
const machine0 = machineCpu();
sampler.rebase();
phaseStart = { at: Date.now(), cpu: sampler.cpuNow() };

// 1. Create the sources: --create-rate per second offered, at most --create-concurrency in flight.
const sourceIds = [];
const createLatencies = [];
let refused = 0;
let firstSend = null;
let lastReply = null;
{
  let inFlight = 0;
  const pending = [];
  const t0 = performance.now();
  const rate = args['create-rate'];
  const cap = Math.max(1, args['create-concurrency']);
  const createOne = async (i) => {
    inFlight++;
    const t = performance.now();
    firstSend ??= Date.now();
    const reply = await command(nc, 'create', sourceDocument(`Scale ${i}`, sim.url, `scale-token-${i}`), 60_000).catch((e) => ({ ok: false, error: String(e) }));
    createLatencies.push(performance.now() - t);
    lastReply = Date.now();
    inFlight--;
    if (reply.ok) {
      sourceIds.push(reply.source.id);
      if (sourceIds.length % 250 === 0) console.log(`  ${sourceIds.length} sources created`);
    } else {
      refused++;
      if (refused <= 10) console.log(`create ${i} refused: ${JSON.stringify(reply.error)}`);
    }
  };
  for (let i = 0; i < N; i++) {
    if (rate > 0) {
      const wait = t0 + (i * 1000) / rate - performance.now();
      if (wait > 0) await sleep(wait);
    }
    while (inFlight >= cap) await sleep(2);
    if (timeLeft() <= 0) break;
    pending.push(createOne(i));
  }
  await Promise.all(pending);
}
const created = sourceIds.length;
const createSeconds = firstSend && lastReply ? (lastReply - firstSend) / 1000 : NaN;
const createRate = created / createSeconds;
createLatencies.sort((a, b) => a - b);
const createP50 = percentile(createLatencies, 50);
const createP95 = percentile(createLatencies, 95);
endPhase(`created ${created} of ${N} sources`, `${createRate.toFixed(2)}/s (first request to last reply ${createSeconds.toFixed(1)} s); create reply p50 ${createP50.toFixed(0)} ms, p95 ${createP95.toFixed(0)} ms, max ${createLatencies.at(-1)?.toFixed(0)} ms${refused ? `; ${refused} refused or failed` : ''}`);
if (created + refused < N) stops.push(`the time budget ran out while creating sources (${created} of ${N} created)`);
const expectedCollections = sourceIds.flatMap((id) => APIS.map((api) => `${id}-${api}`));
const M = expectedCollections.length;

function stateCounts() {
  const counts = {};
  for (const id of sourceIds) {
    const state = sourceStates.get(id)?.state ?? 'unseen';
    counts[state] = (counts[state] ?? 0) + 1;
  }
  return counts;
}
const fmtCounts = (c) => Object.entries(c).map(([k, v]) => `${k} ${v}`).join(', ');
async function listStates() {
  const counts = {};
  let cursor;
  try {
    do {
      const r = await command(nc, 'list', { limit: 1000, ...(cursor ? { cursor } : {}) }, 60_000);
      if (!r.ok) return `list refused: ${JSON.stringify(r.error)}`;
      for (const s of r.sources) counts[s.source.state.state] = (counts[s.source.state.state] ?? 0) + 1;
      cursor = r.nextCursor;
    } while (cursor);
  } catch (error) {
    return `list failed: ${error}`;
  }
  return fmtCounts(counts);
}
// The first backfill (activities, threats) and agent snapshot of a collection, for information.
const firstLanes = new Set(['backfill', 'snapshot']);
const firstDone = () => {
  const done = new Map();
  for (const j of jobs.values()) if (firstLanes.has(j.lane) && j.finished) done.set(j.collection, Math.min(done.get(j.collection) ?? Infinity, j.completedAt));
  return done;
};

// 2. Every source Collecting, waited for until 5 minutes after the last create reply.
let collecting = null; // { allAt, lastAfterCreateMs } once every created source is Collecting
const collectingDeadline = (lastReply ?? Date.now()) + GOAL.collectingMs;
const allCollecting = () => {
  let last = 0;
  for (const id of sourceIds) {
    const s = sourceStates.get(id);
    if (s?.state !== 'Collecting') return null;
    last = Math.max(last, s.collectingAt);
  }
  return { allAt: last, lastAfterCreateMs: last - lastReply };
};
let collectingListCheck = null;
if (created > 0 && timeLeft() > 0) {
  let lastReport = Date.now();
  for (;;) {
    collecting = allCollecting();
    if (collecting) break;
    if (Date.now() >= collectingDeadline) break;
    if (timeLeft() <= 0) {
      stops.push(`the time budget ran out waiting for every source to be Collecting (${fmtCounts(stateCounts())})`);
      break;
    }
    if (Date.now() - lastReport > 15_000) {
      console.log(`  ${((Date.now() - lastReply) / 1000).toFixed(0)} s after the last create: ${fmtCounts(stateCounts())}`);
      lastReport = Date.now();
    }
    await sleep(250);
  }
  endPhase(
    collecting ? `every source Collecting` : `Collecting wait ended`,
    collecting
      ? `the last became Collecting ${(collecting.lastAfterCreateMs / 1000).toFixed(1)} s after the last create reply`
      : `${fmtCounts(stateCounts())} at ${((Date.now() - lastReply) / 1000).toFixed(0)} s after the last create reply`,
  );
  collectingListCheck = await listStates();
  console.log(`  s1c.cmd.source.list says: ${collectingListCheck}; the relayed events say: ${fmtCounts(stateCounts())}`);
}

// 3. Consecutive live cycles: windows of one poll interval from T.
let T = null;
let measuredEnd = null;
let windowsClosed = 0;
const storeSamples = [];
const ferretPid = servers.pids.ferretdb;
if (created > 0 && timeLeft() > 0) {
  T = Date.now();
  const sampleStore = () => {
    const s = ferretPid ? procStats(ferretPid) : null;
    if (s) storeSamples.push({ at: Date.now(), cpu: s.cpu });
  };
  sampleStore();
  const storeTimer = setInterval(sampleStore, 250);
  const liveEnd = T + CYCLES * P;
  console.log(`live phase: ${CYCLES} windows of ${P / 1000} s from ${new Date(T).toISOString().slice(11, 19)}`);
  while (windowsClosed < CYCLES) {
    const windowEnd = T + (windowsClosed + 1) * P;
    if (Date.now() >= windowEnd) {
      const dispatched = new Set([...jobs.values()].filter((j) => j.lane === 'live' && j.dispatchedAt >= windowEnd - P && j.dispatchedAt < windowEnd).map((j) => j.collection)).size;
      windowsClosed++;
      endPhase(`live cycle ${windowsClosed}`, `${dispatched} of ${M} collections had a live job dispatched in the window`);
      continue;
    }
    if (timeLeft() <= 0) {
      stops.push(`the time budget ran out in live cycle ${windowsClosed + 1} of ${CYCLES} (${((Date.now() - (windowEnd - P)) / 1000).toFixed(0)} s into it)`);
      break;
    }
    await sleep(Math.max(1, Math.min(500, windowEnd - Date.now(), timeLeft())));
  }
  measuredEnd = Math.min(Date.now(), liveEnd);
  clearInterval(storeTimer);
  sampleStore();
  if (windowsClosed < CYCLES) endPhase(`live cycle ${windowsClosed + 1} (cut short)`);
  // Let the jobs dispatched in the last window complete (up to one more interval), and see the next
  // dispatch of every collection that had none in the last window (up to P + SLACK: to tell a poll
  // that fell just after the window from one that is late).
  const lastStart = T + Math.max(0, Math.ceil((measuredEnd - T) / P) - 1) * P;
  const open = () => [...jobs.values()].filter((j) => j.lane === 'live' && j.dispatchedAt >= T && j.dispatchedAt < measuredEnd && !j.endedAt).length;
  const unseenNext = () => {
    const seen = new Set([...jobs.values()].filter((j) => j.lane === 'live' && j.dispatchedAt >= lastStart).map((j) => j.collection));
    return expectedCollections.filter((c) => !seen.has(c)).length;
  };
  while (Date.now() < deadline && ((open() > 0 && Date.now() < measuredEnd + P) || (unseenNext() > 0 && Date.now() < measuredEnd + P + SLACK))) await sleep(250);
  if (open() > 0) console.log(`  ${open()} live jobs dispatched in the measured windows had not ended ${((Date.now() - measuredEnd) / 1000).toFixed(0)} s after the last window`);
  endPhase('after the last window (its jobs completing, the next dispatches)');
}
const machine1 = machineCpu();
const rows = sampler.table();
const finalList = await listStates();
sub.unsubscribe();
await probe?.close();
for (const s of services) await s.stop();

// ---- Analysis ----
const secs = (ms) => (ms / 1000).toFixed(1);
const stats = (values) => {
  const v = [...values].sort((a, b) => a - b);
  return { n: v.length, p50: percentile(v, 50), p95: percentile(v, 95), max: v.at(-1) };
};
const fmtStats = (s) => (s.n ? `p50 ${secs(s.p50)} s, p95 ${secs(s.p95)} s, max ${secs(s.max)} s` : 'none');
const liveJobs = [...jobs.values()].filter((j) => j.lane === 'live' && j.dispatchedAt && j.window);
for (const j of liveJobs) {
  j.dueAt = Date.parse(j.window.from) + OVERLAP + P;
  if (j.completedAt && j.finished !== false) j.lag = j.completedAt - j.dueAt;
}
// Every live dispatch per collection, in time order (for the cadence and the misses between polls).
const dispatchesOf = new Map();
for (const j of liveJobs) (dispatchesOf.get(j.collection) ?? dispatchesOf.set(j.collection, []).get(j.collection)).push(j.dispatchedAt);
for (const list of dispatchesOf.values()) list.sort((a, b) => a - b);
const cycleRows = [];
if (T !== null) {
  const windows = windowsClosed + (measuredEnd < T + CYCLES * P && measuredEnd > T + windowsClosed * P ? 1 : 0);
  const expected = new Set(expectedCollections);
  for (let k = 0; k < windows; k++) {
    const start = T + k * P;
    const end = Math.min(start + P, measuredEnd);
    const inWindow = liveJobs.filter((j) => j.dispatchedAt >= start && j.dispatchedAt < end && expected.has(j.collection));
    const dispatched = new Set(inWindow.map((j) => j.collection));
    const polled = new Set(inWindow.filter((j) => j.lag !== undefined).map((j) => j.collection));
    const lags = inWindow.filter((j) => j.lag !== undefined).map((j) => j.lag);
    const late = lags.filter((l) => l > P).length;
    // Collections with no live dispatch in the window whose polls around it were <= P + SLACK apart:
    // the live cadence is P plus the scheduler's delay (due = the previous dispatch + P), so a
    // window fixed in time can fall between two polls of a collection that is polled on time.
    let drift = 0;
    for (const c of expected) {
      if (dispatched.has(c)) continue;
      const list = dispatchesOf.get(c) ?? [];
      const next = list.find((t) => t >= end);
      const prev = list.findLast((t) => t < start);
      if (next !== undefined && prev !== undefined && next - prev <= P + SLACK) drift++;
    }
    cycleRows.push({
      k: k + 1, seconds: (end - start) / 1000, cut: end - start < P, polled: polled.size, dispatched: dispatched.size,
      notCompleted: dispatched.size - polled.size, none: M - dispatched.size, drift, lag: stats(lags), late,
      delay: stats(inWindow.map((j) => j.dispatchedAt - j.dueAt)), run: stats(inWindow.filter((j) => j.completedAt).map((j) => j.completedAt - j.dispatchedAt)),
      failed: inWindow.filter((j) => j.failed).length,
    });
  }
}
// The store's CPU over the live phase: whole, and over the parts with no job in flight.
const store = { whole: null, quiet: null, perCycle: [] };
if (T !== null && storeSamples.length > 1) {
  const spans = [...jobs.values()]
    .filter((j) => j.dispatchedAt)
    .map((j) => [j.dispatchedAt - 1_000, (j.endedAt ?? Infinity) + 2_000])
    .sort((a, b) => a[0] - b[0]);
  const merged = [];
  for (const s of spans) {
    if (merged.length && s[0] <= merged.at(-1)[1]) merged.at(-1)[1] = Math.max(merged.at(-1)[1], s[1]);
    else merged.push([...s]);
  }
  const acc = (from, to) => {
    const out = { seconds: 0, cpu: 0, quietSeconds: 0, quietCpu: 0 };
    let p = 0;
    for (let i = 0; i + 1 < storeSamples.length; i++) {
      const a = storeSamples[i];
      const b = storeSamples[i + 1];
      if (a.at < from || b.at > to) continue;
      out.seconds += (b.at - a.at) / 1000;
      out.cpu += b.cpu - a.cpu;
      while (p < merged.length && merged[p][1] < a.at) p++;
      if (p >= merged.length || merged[p][0] > b.at) {
        out.quietSeconds += (b.at - a.at) / 1000;
        out.quietCpu += b.cpu - a.cpu;
      }
    }
    return out;
  };
  const all = acc(T, measuredEnd + 1);
  store.whole = { seconds: all.seconds, share: all.cpu / all.seconds };
  store.quiet = { seconds: all.quietSeconds, share: all.quietSeconds > 0 ? all.quietCpu / all.quietSeconds : NaN };
  for (const row of cycleRows) {
    const start = T + (row.k - 1) * P;
    const c = acc(start, start + row.seconds * 1000 + 1);
    store.perCycle.push({ k: row.k, share: c.cpu / c.seconds, quietSeconds: c.quietSeconds, quietShare: c.quietSeconds > 0 ? c.quietCpu / c.quietSeconds : NaN });
  }
}

// ---- Report ----
console.log('');
for (const s of stops) console.log(`STOPPED: ${s}`);
const lastCollectingAt = Math.max(0, ...sourceIds.map((id) => sourceStates.get(id)?.collectingAt ?? 0));
const everyCollectingNow = allCollecting();
console.log(`sources: ${created} of ${N} created; collections: ${M}; poll interval ${P / 1000} s, live overlap ${OVERLAP / 1000} s, scheduler tick ${TICK / 1000} s`);
console.log(`creation: ${created} in ${secs(createSeconds * 1000)} s (first request to last reply; ${args['create-rate'] > 0 ? `${args['create-rate']}/s offered` : 'closed loop'}, <= ${args['create-concurrency']} in flight) -> ${createRate.toFixed(2)}/s; create reply p50 ${createP50.toFixed(0)} ms, p95 ${createP95.toFixed(0)} ms, max ${createLatencies.at(-1)?.toFixed(0)} ms`);
console.log(`source states at the end (relayed events): ${fmtCounts(stateCounts())}; s1c.cmd.source.list: ${finalList}`);
if (collecting) console.log(`every source Collecting ${secs(collecting.lastAfterCreateMs)} s after the last create reply (${secs(collecting.allAt - firstSend)} s after the first request)`);
else if (everyCollectingNow) console.log(`every source Collecting only ${secs(everyCollectingNow.lastAfterCreateMs)} s after the last create reply (after the 5-minute wait)`);
else if (created) console.log(`not every source Collecting by the end; the last Collecting seen ${lastCollectingAt ? `${secs(lastCollectingAt - lastReply)} s after the last create reply` : 'never'}`);
const first = firstDone();
const firstDoneCount = expectedCollections.filter((c) => first.has(c)).length;
const firstLanesExpected = sourceIds.length * 3; // activities and threats backfill, agents snapshot
if (created) {
  const lastFirst = Math.max(0, ...expectedCollections.map((c) => first.get(c) ?? 0));
  console.log(`first backfill/snapshot finished: ${firstDoneCount} of ${firstLanesExpected} collections${firstDoneCount === firstLanesExpected ? `, the last ${secs(lastFirst - lastReply)} s after the last create reply` : ''}`);
}

if (cycleRows.length) {
  console.log('');
  console.log(`live cycles from T = ${new Date(T).toISOString().slice(11, 19)}: windows of ${P / 1000} s; "polled" = a live job dispatched in the window completed; lag = completion - due (due = live checkpoint + ${P / 1000} s)`);
  for (const r of cycleRows) {
    const st = store.perCycle.find((s) => s.k === r.k);
    console.log(
      `cycle ${r.k}${r.cut ? ` (cut short at ${r.seconds.toFixed(0)} s)` : ''}: ${r.polled} of ${M} collections polled within the interval; ` +
        `lag ${fmtStats(r.lag)}${r.late ? `, ${r.late} completed more than ${P / 1000} s after due` : ''}` +
        (r.polled < M ? `; missing: ${r.none} with no live job dispatched in the window (${r.drift} of them only by cadence drift: their polls just before and just after the window were <= ${secs(P + SLACK)} s apart), ${r.notCompleted} dispatched but not completed${r.failed ? ` (${r.failed} failed or abandoned)` : ''}` : '') +
        (st ? `; FerretDB ${(100 * st.share).toFixed(1)}% of a core (${st.quietSeconds.toFixed(0)} s quiet${st.quietSeconds > 0 ? `: ${(100 * st.quietShare).toFixed(1)}%` : ''})` : ''),
    );
  }
  const all = cycleRows.flatMap((r) => liveJobs.filter((j) => j.dispatchedAt >= T + (r.k - 1) * P && j.dispatchedAt < T + (r.k - 1) * P + r.seconds * 1000));
  console.log(`all measured windows: lag ${fmtStats(stats(all.filter((j) => j.lag !== undefined).map((j) => j.lag)))}; dispatch after due ${fmtStats(stats(all.map((j) => j.dispatchedAt - j.dueAt)))}; dispatch to completion ${fmtStats(stats(all.filter((j) => j.completedAt).map((j) => j.completedAt - j.dispatchedAt)))}`);
  const gaps = [];
  for (const list of dispatchesOf.values()) for (let i = 1; i < list.length; i++) if (list[i] >= T && list[i] < measuredEnd) gaps.push(list[i] - list[i - 1]);
  console.log(`live cadence (one collection's dispatch to its next, in the live phase): ${fmtStats(stats(gaps))} (poll interval ${P / 1000} s)`);
}
const liveDone = [...jobs.values()].filter((j) => j.lane === 'live' && j.completedAt);
const failedJobs = [...jobs.values()].filter((j) => j.failed);
console.log(`jobs seen: ${jobs.size} (${liveDone.length} live completed; ${failedJobs.length} failed or abandoned${failedJobs.length ? `: ${fmtCounts(failedJobs.reduce((c, j) => ((c[`${j.lane} ${j.failed}`] = (c[`${j.lane} ${j.failed}`] ?? 0) + 1), c), {}))}` : ''})`);
relayLagMs = relayLagMs.sort((a, b) => a - b);
console.log(`relay lag (job event stored -> on S1C_EVENTS): p50 ${percentile(relayLagMs, 50)} ms, p95 ${percentile(relayLagMs, 95)} ms`);
if (store.whole) {
  console.log(
    `FerretDB over the live phase (${store.whole.seconds.toFixed(0)} s, /proc every 250 ms): ${(100 * store.whole.share).toFixed(1)}% of a core on the whole; ` +
      `${store.quiet.seconds.toFixed(0)} s with no job in flight (1 s before a dispatch to 2 s after its end counted busy)${store.quiet.seconds > 0 ? `: ${(100 * store.quiet.share).toFixed(1)}% of a core there` : ''}`,
  );
} else if (T !== null) console.log(`FerretDB CPU: not measured (${ferretPid ? 'no samples' : 'MONGO_URL given: not our process'})`);
console.log('');
console.log('phases (CPU seconds per process in each):');
const names = rows.map((r) => r.name);
const withEvents = phases.some((p) => p.events !== undefined);
console.log(`| phase | s |${withEvents ? ' events in log at end |' : ''} ${names.join(' | ')} |`);
console.log(`| --- | ---: |${withEvents ? ' ---: |' : ''} ${names.map(() => '---:').join(' | ')} |`);
for (const p of phases) console.log(`| ${p.name} | ${p.seconds.toFixed(1)} |${withEvents ? ` ${p.events ?? ''} |` : ''} ${names.map((n) => (p.cpu[n] ?? 0).toFixed(1)).join(' | ')} |`);
console.log('');
const wall = (machine1.at - machine0.at) / 1000;
console.log(`whole run from the first create, ${wall.toFixed(0)} s (CPU seconds; peak RSS from start-up on):`);
printProcTable(rows, wall);
printMachineLoad(machine0, rows.reduce((a, r) => a + r.cpuSeconds, 0), machine1);
if (probe) {
  console.log('');
  console.log('the store as the log grows (probed from outside every 2 s; this probe itself loads FerretDB):');
  probe.print();
}

// ---- Verdicts ----
const fullSize = N === GOAL.sources && P === GOAL.pollMs && CYCLES * P >= GOAL.cyclesMinutes * 60_000;
const verdict = (ok) => (ok === null ? 'NOT MEASURED' : ok ? 'met' : 'NOT MET');
const lines = [];
{
  const ok = created === 0 ? null : created === N && createRate >= GOAL.createRate && createP95 <= GOAL.createP95Ms;
  lines.push(`creation, all at >= 20 sources/s with create reply p95 <= 500 ms: ${verdict(ok)} (${created} of ${N} created at ${createRate.toFixed(2)}/s, first request to last reply, ${args['create-rate'] > 0 ? `${args['create-rate']}/s offered` : 'closed loop'}; p95 ${createP95.toFixed(0)} ms)`);
}
{
  const all = collecting ?? everyCollectingNow;
  const ok = created === 0 ? null : !!all && all.lastAfterCreateMs <= GOAL.collectingMs;
  const figure = all ? `the last ${secs(all.lastAfterCreateMs)} s after the last create reply` : `${fmtCounts(stateCounts())} at the end`;
  lines.push(`every source Collecting within 5 min of the last create: ${verdict(ok)} (${figure})`);
}
{
  const complete = cycleRows.filter((r) => !r.cut);
  const ok = !cycleRows.length ? null : complete.length === CYCLES && cycleRows.every((r) => r.polled === M && r.late === 0);
  const worst = cycleRows.length ? cycleRows.reduce((a, r) => (r.polled < a.polled ? r : a)) : null;
  const maxLag = Math.max(...cycleRows.map((r) => r.lag.max ?? 0));
  const worstDrift = cycleRows.length ? Math.min(...cycleRows.map((r) => r.polled + r.drift)) : 0;
  lines.push(
    `every collection polled within each interval for ${GOAL.cyclesMinutes} min: ${verdict(ok)} (` +
      (worst
        ? `${complete.length} of ${CYCLES} windows of ${P / 1000} s measured; worst window ${worst.polled} of ${M} collections` +
          (cycleRows.some((r) => r.drift) ? ` (${worstDrift} of ${M} if the misses only by cadence drift counted)` : '') +
          `; ${cycleRows.reduce((a, r) => a + r.late, 0)} polls completed more than one interval after due, max lag ${secs(maxLag)} s`
        : 'no live window measured') +
      `${CYCLES * P < GOAL.cyclesMinutes * 60_000 ? `; this run measures ${secs(CYCLES * P)} s, not 10 min` : ''})`,
  );
}
{
  let ok = null;
  let figure = ferretPid ? 'no live phase' : 'MONGO_URL given: FerretDB is not our process';
  if (store.whole) {
    const useQuiet = store.quiet.seconds >= 10;
    const share = useQuiet ? store.quiet.share : store.whole.share;
    ok = share <= GOAL.storeShare;
    figure = useQuiet
      ? `${(100 * share).toFixed(1)}% of a core over the ${store.quiet.seconds.toFixed(0)} s of the live phase with no job in flight`
      : `${(100 * share).toFixed(1)}% of a core over the whole live phase, polls included: only ${store.quiet.seconds.toFixed(0)} s without a job in flight`;
    if (probe) figure += '; the store probe was running';
  }
  lines.push(`store (FerretDB) <= 10% of a core between polls: ${verdict(ok)} (${figure})`);
}
{
  const svc = rows.filter((r) => !SERVERS.includes(r.name.replace(/#\d+$/, '')));
  const top = svc.reduce((a, r) => (r.peakRssMiB > (a?.peakRssMiB ?? -1) ? r : a), null);
  const mb = (mib) => (mib * 2 ** 20) / 1e6;
  const ok = top ? mb(top.peakRssMiB) <= GOAL.rssBytes / 1e6 : null;
  lines.push(`no service above 300 MB RSS: ${verdict(ok)} (highest ${top?.name} ${mb(top?.peakRssMiB ?? 0).toFixed(0)} MB = ${top?.peakRssMiB} MiB; ${svc.map((r) => `${r.name} ${r.peakRssMiB}`).join(', ')} MiB)`);
}
console.log('');
console.log(`verdicts against issue 13's targets${fullSize ? '' : ` (this run is smaller than the target's 2,000 sources, 60 s poll, 10 min of cycles: ${N} sources, ${P / 1000} s poll, ${secs(CYCLES * P)} s of cycles; "met" holds at this size only)`}:`);
for (const l of lines) console.log(`VERDICT ${l}`);

await nc.close();
await sim.stop();
await servers.stop();
sampler.stop();
process.exit(0);
