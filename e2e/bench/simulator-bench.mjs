#!/usr/bin/env node
// Serving-speed benchmark for @s1c/s1-simulator. Not part of the test run.
//
//   npm run build -w @s1c/s1-simulator && node e2e/bench/simulator-bench.mjs
//
// For each data-set size it starts the built simulator as its own process (pinned to one
// core with taskset when available), walks every activity with one sequential keep-alive
// client in 1,000-item pages (sortBy=createdAt asc, as collectors do), and reports
// activities per second and the server's RSS before and after the walk. Loopback only;
// bounded by size and by a per-walk time budget.
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const main = join(here, '../../services/s1-simulator/dist/main.js');
const sizes = (process.env.BENCH_SIZES ?? '10000,100000,1000000').split(',').map(Number);
const budgetMs = Number(process.env.BENCH_BUDGET_MS ?? 180_000);
const TOKEN = 'bench-token';
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

function rssMiB(pid) {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'));
  return Math.round(Number(line.replace(/\D+/g, '')) / 1024);
}

function getJson(url) {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent, headers: { Authorization: `ApiToken ${TOKEN}` } }, (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          if (res.statusCode !== 200) reject(new Error(`${res.statusCode} ${Buffer.concat(chunks).toString()}`));
          else resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
        });
      })
      .on('error', reject);
  });
}

async function start(count) {
  const hasTaskset = spawnSync('taskset', ['-c', '0', 'true']).status === 0;
  const args = [main, '--port', '0', '--seed', '1', '--activities', String(count), '--token', `bench:${TOKEN}`, '--request-log-limit', '0'];
  const child = hasTaskset ? spawn('taskset', ['-c', '0', process.execPath, ...args], { stdio: ['ignore', 'ignore', 'pipe'] }) : spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const url = await new Promise((resolve, reject) => {
    let err = '';
    child.stderr.on('data', (d) => {
      err += d;
      const m = /"url":"([^"]+)"/.exec(err);
      if (m) resolve(m[1]);
    });
    child.once('exit', (code) => reject(new Error(`simulator exited with ${code}: ${err}`)));
  });
  return { child, url };
}

async function walk(url, api, params) {
  let cursor = null;
  let items = 0;
  let pages = 0;
  const t0 = performance.now();
  do {
    const q = new URLSearchParams({ limit: '1000', ...params, ...(cursor ? { cursor } : {}) });
    const body = await getJson(`${url}/web/api/v2.1/${api}?${q}`);
    items += body.data.length;
    pages += 1;
    cursor = body.pagination.nextCursor;
  } while (cursor !== null && performance.now() - t0 < budgetMs);
  const seconds = (performance.now() - t0) / 1000;
  return { items, pages, seconds, perSecond: Math.round(items / seconds), complete: cursor === null };
}

const rows = [];
for (const size of sizes) {
  const { child, url } = await start(size);
  try {
    const pid = child.pid;
    // With taskset the child is taskset's exec'd node, same pid.
    const rssStart = rssMiB(pid);
    const result = await walk(url, 'activities', { sortBy: 'createdAt', sortOrder: 'asc' });
    const rssEnd = rssMiB(pid);
    rows.push({ api: 'activities', records: size, ...result, rssStartMiB: rssStart, rssEndMiB: rssEnd });
    if (size === sizes[sizes.length - 1]) {
      const window = await walk(url, 'activities', { sortBy: 'createdAt', sortOrder: 'asc', createdAt__gte: new Date(Date.now() - 3_600_000).toISOString() });
      rows.push({ api: 'activities (last hour, createdAt__gte)', records: size, ...window, rssStartMiB: rssEnd, rssEndMiB: rssMiB(pid) });
    }
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
}

console.log('| API | records | items walked | pages | seconds | items/s | RSS before (MiB) | RSS after (MiB) |');
console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
for (const r of rows) {
  console.log(`| ${r.api} | ${r.records.toLocaleString('en')} | ${r.items.toLocaleString('en')}${r.complete ? '' : ' (budget hit)'} | ${r.pages} | ${r.seconds.toFixed(1)} | ${r.perSecond.toLocaleString('en')} | ${r.rssStartMiB} | ${r.rssEndMiB} |`);
}
agent.destroy();
