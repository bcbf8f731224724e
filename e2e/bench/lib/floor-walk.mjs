// The floor of the throughput benchmark: one process pages every record of a console with the
// S1 client (limit 1000, sorted ascending as the fetchers walk) and parses each page (the client
// parses the envelope and cuts each record's exact bytes, as a fetcher takes them); no NATS, no MongoDB.
//   node e2e/bench/lib/floor-walk.mjs <baseUrl> <token>   -> prints one JSON line
import { load } from './kit.mjs';

const [baseUrl, token] = process.argv.slice(2);
const { S1Client, ConsoleRateLimiter } = await load('libs/s1-client/dist/index.js');
const client = new S1Client({ baseUrl, token, allowInsecure: true, rateLimiter: new ConsoleRateLimiter({ requestsPerSecond: 1000 }) });
const counts = {};
const cpu0 = process.cpuUsage();
const t0 = performance.now();
for (const [api, sortBy] of [['activities', 'createdAt'], ['threats', 'updatedAt'], ['agents', 'updatedAt']]) {
  let cursor;
  let n = 0;
  let bytes = 0;
  do {
    const page = await client.listPage(api, { filters: {}, sortBy, sortOrder: 'asc', limit: 1000, ...(cursor ? { cursor } : {}) });
    for (const r of page.records) bytes += r.bytes.length;
    n += page.records.length;
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  counts[api] = n;
  counts[`${api}Bytes`] = bytes;
}
const seconds = (performance.now() - t0) / 1000;
const cpu = process.cpuUsage(cpu0);
client.close();
process.stdout.write(`${JSON.stringify({ counts, seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6 })}\n`);
