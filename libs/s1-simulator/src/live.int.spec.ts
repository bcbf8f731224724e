import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimulator, type RunningSimulator } from './simulator.server.js';
import type { SimulatorOptions } from './simulator.options.js';
import { getJson, keyOf, walk, type Item, type ListBody } from './testing/api.helper.js';

const START = '2024-05-05T05:05:05.505050Z';
const TOKEN = 'live-token';
const options: SimulatorOptions = {
  seed: 11,
  clock: 'manual',
  startTime: START,
  activities: 1_000,
  agents: 100,
  threats: 300,
  live: { activitiesPerSecond: 10, threatsPerSecond: 1, threatUpdatesPerSecond: 2, agentUpdatesPerSecond: 1 },
  tokens: [{ token: TOKEN }],
};

let sim: RunningSimulator;

beforeAll(async () => {
  sim = await startSimulator(options);
});

afterAll(async () => {
  await sim.close();
});

const threatStatus = (t: Item): unknown => (t.threatInfo as Record<string, unknown>).incidentStatus;

describe('given live mode on a manual clock', () => {
  it('creates activities at the configured rate, after the start, in createdAt order', async () => {
    const before = await walk(sim.apiUrl, 'activities', TOKEN, { createdAt__gt: START, sortBy: 'createdAt', sortOrder: 'asc', limit: '1000' });
    expect(before.items).toHaveLength(0);
    sim.admin.advanceClock(10_000);
    const after = await walk(sim.apiUrl, 'activities', TOKEN, { createdAt__gt: START, sortBy: 'createdAt', sortOrder: 'asc', limit: '30' });
    expect(after.items).toHaveLength(100);
    const times = after.items.map((i) => i.createdAt as string);
    expect(times).toEqual([...times].sort());
    expect(times.at(-1)! <= sim.admin.now()).toBe(true);
    expect(new Set(after.items.map((i) => i.id)).size).toBe(100);
  });

  it('lets an updatedAt poller see new and updated threats, each at its latest version', async () => {
    const checkpoint = sim.admin.now();
    const all0 = await walk(sim.apiUrl, 'threats', TOKEN, { limit: '1000' });
    sim.admin.advanceClock(5_000);
    const poll = await walk(sim.apiUrl, 'threats', TOKEN, { updatedAt__gte: checkpoint, sortBy: 'updatedAt', sortOrder: 'asc', limit: '4' });
    // [10 s, 15 s] at 1 new/s and 2 updates/s: 6 new threats and up to 11 updates (some may hit
    // the same threat); __gte includes the events at exactly the checkpoint.
    expect(poll.items.length).toBeGreaterThanOrEqual(7);
    expect(poll.items.length).toBeLessThanOrEqual(17);
    for (const t of poll.items) expect(keyOf('threats', t, 'updatedAt') >= checkpoint).toBe(true);
    const known = new Map(all0.items.map((t) => [t.id, t]));
    const updated = poll.items.filter((t) => known.has(t.id) && keyOf('threats', t, 'updatedAt') > checkpoint);
    expect(updated.length).toBeGreaterThan(0);
    for (const t of updated) {
      const old = known.get(t.id)!;
      expect(keyOf('threats', t, 'updatedAt') > keyOf('threats', old, 'updatedAt')).toBe(true);
      expect(keyOf('threats', t, 'createdAt')).toBe(keyOf('threats', old, 'createdAt'));
    }
    const created = poll.items.filter((t) => keyOf('threats', t, 'createdAt') > checkpoint);
    expect(created).toHaveLength(5);
    for (const t of created) expect(known.has(t.id)).toBe(false);
    const full = await walk(sim.apiUrl, 'threats', TOKEN, { sortBy: 'updatedAt', sortOrder: 'asc', limit: '1000' });
    // 300 historical + 1 per second for 15 s.
    expect(full.items).toHaveLength(315);
    expect(new Set(full.items.map((t) => t.id)).size).toBe(315);
    expect(full.totals[0]).toBe(315);
  });

  it('moves agents updatedAt forward when they change', async () => {
    const checkpoint = sim.admin.now();
    sim.admin.advanceClock(3_000);
    const { items } = await walk(sim.apiUrl, 'agents', TOKEN, { updatedAt__gt: checkpoint, sortBy: 'updatedAt', sortOrder: 'asc', limit: '100' });
    expect(items.length).toBeGreaterThanOrEqual(1);
    expect(items.length).toBeLessThanOrEqual(3);
    for (const a of items) expect(a.lastActiveDate).toBe(a.updatedAt);
  });

  it('keeps a cursor walk complete when a record is updated in the middle of it', async () => {
    const first = await getJson<ListBody>(sim.apiUrl, '/threats', TOKEN, { sortBy: 'updatedAt', sortOrder: 'asc', limit: '100' });
    const seen = first.body.data.map((t) => t.id);
    const notYetSeen = await getJson<ListBody>(sim.apiUrl, '/threats', TOKEN, { sortBy: 'updatedAt', sortOrder: 'desc', limit: '1' });
    const moved = [seen[0]!, notYetSeen.body.data[0]!.id];
    sim.admin.updateRecords('threats', { ids: moved });
    let cursor = first.body.pagination.nextCursor;
    while (cursor !== null) {
      const page = await getJson<ListBody>(sim.apiUrl, '/threats', TOKEN, { sortBy: 'updatedAt', sortOrder: 'asc', limit: '100', cursor });
      seen.push(...page.body.data.map((t) => t.id));
      cursor = page.body.pagination.nextCursor;
    }
    const total = sim.admin.state().counts.threats.records;
    expect(new Set(seen).size).toBe(total);
    // The one already seen comes again at its new version; the other only once, at the end.
    expect(seen.filter((id) => id === moved[0])).toHaveLength(2);
    expect(seen.filter((id) => id === moved[1])).toHaveLength(1);
    expect(seen.slice(-2).sort()).toEqual([...moved].sort());
  });

  it('creates and updates records on demand through the admin API', async () => {
    // Off the whole second, where generated events would share the instant (and push ours
    // a microsecond later to keep ties in id order).
    sim.admin.advanceClock(1);
    const created = await fetch(`${sim.url}/_sim/records`, { method: 'POST', body: JSON.stringify({ api: 'threats', count: 3 }) });
    const ids = ((await created.json()) as { data: { ids: string[] } }).data.ids;
    expect(ids).toHaveLength(3);
    const now = sim.admin.now();
    const fetched = await getJson<ListBody>(sim.apiUrl, '/threats', TOKEN, { ids: ids.join(','), sortBy: 'id', sortOrder: 'asc' });
    expect(fetched.body.data.map((t) => t.id)).toEqual(ids);
    for (const t of fetched.body.data) expect(keyOf('threats', t, 'createdAt')).toBe(now);

    sim.admin.advanceClock(1);
    const target = ids[0]!;
    const before = threatStatus(fetched.body.data[0]!);
    const res = await fetch(`${sim.url}/_sim/updates`, { method: 'POST', body: JSON.stringify({ api: 'threats', ids: [target] }) });
    expect(res.status).toBe(200);
    const after = (await getJson<ListBody>(sim.apiUrl, '/threats', TOKEN, { ids: target })).body.data[0]!;
    expect(keyOf('threats', after, 'updatedAt')).toBe(sim.admin.now());
    expect(threatStatus(after)).not.toBe(before);
  });
});

describe('given two simulators with the same seed', () => {
  it('produces the same data after the same elapsed time', async () => {
    const a = await startSimulator(options);
    const b = await startSimulator(options);
    try {
      a.admin.advanceClock(7_000);
      b.admin.advanceClock(3_000);
      b.admin.advanceClock(4_000);
      for (const api of ['activities', 'agents', 'threats'] as const) {
        const params = { sortBy: api === 'activities' ? 'createdAt' : 'updatedAt', sortOrder: 'asc', limit: '1000' };
        const fromA = await walk(a.apiUrl, api, TOKEN, params);
        const fromB = await walk(b.apiUrl, api, TOKEN, params);
        expect(fromA.items).toEqual(fromB.items);
      }
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });
});

describe('given live mode on the real clock', () => {
  it('adds activities as time passes', async () => {
    const real = await startSimulator({ activities: 10, live: { activitiesPerSecond: 200 }, tokens: [{ token: TOKEN }] });
    try {
      const start = real.admin.state().start;
      await new Promise((r) => setTimeout(r, 150));
      const { body } = await getJson<ListBody>(real.apiUrl, '/activities', TOKEN, { createdAt__gt: start, countOnly: 'true' });
      expect(body.pagination.totalItems).toBeGreaterThanOrEqual(10);
    } finally {
      await real.close();
    }
  });
});
