// Summarises V8 .cpuprofile files (node --cpu-prof) per process: where the samples fall, by
// package or area, and the hottest functions by self time.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

function area(url, fn) {
  if (!url) return fn.startsWith('(') ? fn : '(native/builtin)';
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (m) return m[1];
  const ours = /\/(libs|services)\/([^/]+)\//.exec(url);
  if (ours) return `${ours[1]}/${ours[2]}`;
  if (url.startsWith('node:')) return 'node:internals';
  return url.split('/').slice(-2).join('/');
}

export function summariseProfile(file) {
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map();
  const counts = new Map();
  for (const id of profile.samples) counts.set(id, (counts.get(id) ?? 0) + 1);
  let total = 0;
  let idle = 0;
  const areas = new Map();
  for (const [id, c] of counts) {
    const node = byId.get(id);
    const fn = node.callFrame.functionName || '(anonymous)';
    if (fn === '(idle)') {
      idle += c;
      continue;
    }
    total += c;
    const url = node.callFrame.url;
    const key = `${fn} ${url ? url.replace(/.*\/(node_modules|libs|services)\//, '$1/') : ''}:${node.callFrame.lineNumber + 1}`;
    self.set(key, (self.get(key) ?? 0) + c);
    const a = area(url, fn);
    areas.set(a, (areas.get(a) ?? 0) + c);
  }
  const pct = (c) => `${((100 * c) / total).toFixed(1)}%`;
  return {
    busySamples: total,
    idleShare: idle / (idle + total),
    areas: [...areas].sort((a, b) => b[1] - a[1]).slice(0, 8).map(([k, c]) => `${k} ${pct(c)}`),
    top: [...self].sort((a, b) => b[1] - a[1]).slice(0, 8).map(([k, c]) => `${pct(c)} ${k}`),
  };
}

export async function summariseProfiles(dir, processes) {
  const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
  for (const { name, pid } of processes) {
    const file = files.find((f) => f.split('.').includes(String(pid)));
    if (!file) {
      console.log(`profile of ${name}: none written`);
      continue;
    }
    const s = summariseProfile(join(dir, file));
    console.log(`profile of ${name} (busy ${(100 * (1 - s.idleShare)).toFixed(0)}% of its samples; shares of busy time):`);
    console.log(`  by area: ${s.areas.join(', ')}`);
    for (const line of s.top) console.log(`  ${line}`);
  }
  console.log(`(profiles kept in ${dir})`);
}
