import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimulator, type RunningSimulator } from './simulator.server.js';
import { compareIds, getJson, keyOf, walk, type ErrorBody, type Item, type ListBody } from './testing/api.helper.js';
import { formatMicros, parseTimestampMicros } from './timestamp.util.js';

const TOKEN = 'full-access';
type Api = 'activities' | 'agents' | 'threats';
type Field = 'createdAt' | 'updatedAt';

let sim: RunningSimulator;
const all: Record<Api, Item[]> = { activities: [], agents: [], threats: [] };

beforeAll(async () => {
  sim = await startSimulator({
    seed: 7,
    startTime: '2024-06-01T12:00:00.123456Z',
    clock: 'manual',
    activities: 3_000,
    agents: 600,
    threats: 1_200,
    accounts: 2,
    sitesPerAccount: 2,
    tokens: [{ token: TOKEN, label: 'full' }],
  });
  for (const api of ['activities', 'agents', 'threats'] as const) {
    all[api] = (await walk(sim.apiUrl, api, TOKEN, { limit: '1000' })).items;
  }
});

afterAll(async () => {
  await sim.close();
});

function micros(iso: string, delta: number): string {
  const value = parseTimestampMicros(iso);
  if (value === undefined) throw new Error(`bad timestamp ${iso}`);
  return formatMicros(value + delta);
}

/** The n-th smallest key of an API (so filters land on real, tied timestamps). */
const sortedKeys = new Map<string, string[]>();
function keyAt(api: Api, field: Field, fraction: number): string {
  const cached = sortedKeys.get(`${api}.${field}`);
  const keys = cached ?? all[api].map((i) => keyOf(api, i, field)).sort();
  sortedKeys.set(`${api}.${field}`, keys);
  const key = keys[Math.floor(keys.length * fraction)];
  if (key === undefined) throw new Error('empty data set');
  return key;
}

interface Case {
  name: string;
  api: Api;
  params: () => Record<string, string>;
  keep: (item: Item) => boolean;
}

// ISO strings with six fraction digits and Z sort like the instants they name.
const range = (api: Api, field: Field, from?: [string, boolean], to?: [string, boolean]) => (item: Item) => {
  const key = keyOf(api, item, field);
  return (!from || (from[1] ? key >= from[0] : key > from[0])) && (!to || (to[1] ? key <= to[0] : key < to[0]));
};

function expected(c: Case, params: Record<string, string>): Item[] {
  const sortBy = (params.sortBy ?? 'createdAt') as Field | 'id';
  const desc = (params.sortOrder ?? 'desc') === 'desc';
  const sorted = all[c.api].filter(c.keep).sort((a, b) => {
    const byKey = sortBy === 'id' ? 0 : keyOf(c.api, a, sortBy).localeCompare(keyOf(c.api, b, sortBy));
    return byKey || compareIds(a.id, b.id);
  });
  return desc ? sorted.reverse() : sorted;
}

describe('given a static data set', () => {
  it('has every record exactly once in a full walk, with realistic ids and timestamps', () => {
    expect(all.activities).toHaveLength(3_000);
    expect(all.agents).toHaveLength(600);
    expect(all.threats).toHaveLength(1_200);
    for (const api of ['activities', 'agents', 'threats'] as const) {
      expect(new Set(all[api].map((i) => i.id)).size).toBe(all[api].length);
      for (const item of all[api]) expect(item.id).toMatch(/^\d{18,19}$/);
    }
    for (const item of all.activities) expect(item.createdAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    const threat = all.threats[0] as Record<string, Record<string, unknown>>;
    expect(threat.threatInfo).toMatchObject({ threatId: threat.id });
    expect(threat).not.toHaveProperty('createdAt');
    expect(threat.agentRealtimeInfo).toHaveProperty('agentId');
  });

  it('keeps history inside the window ending at start, with createdAt ≤ updatedAt', () => {
    for (const api of ['agents', 'threats'] as const) {
      for (const item of all[api]) {
        expect(keyOf(api, item, 'createdAt') <= keyOf(api, item, 'updatedAt')).toBe(true);
        expect(keyOf(api, item, 'updatedAt') <= '2024-06-01T12:00:00.123456Z').toBe(true);
        expect(keyOf(api, item, 'createdAt') >= '2024-05-31T12:00:00.123456Z').toBe(true);
      }
    }
  });

  it('orders agents and threats by updatedAt differently from createdAt', async () => {
    for (const api of ['agents', 'threats'] as const) {
      const byUpdated = (await walk(sim.apiUrl, api, TOKEN, { limit: '1000', sortBy: 'updatedAt', sortOrder: 'asc' })).items.map((i) => i.id);
      const byId = [...byUpdated].sort(compareIds);
      expect(byUpdated).not.toEqual(byId);
    }
  });

  const cases: Case[] = [
    {
      name: 'activities createdAt__gte + sortBy=createdAt asc (Elastic)',
      api: 'activities',
      params: () => ({ createdAt__gte: keyAt('activities', 'createdAt', 0.4), sortBy: 'createdAt', sortOrder: 'asc', limit: '100' }),
      keep: (i) => range('activities', 'createdAt', [keyAt('activities', 'createdAt', 0.4), true])(i),
    },
    {
      name: 'activities createdAt__gt + limit 1000 (SEKOIA, XSIAM)',
      api: 'activities',
      params: () => ({ createdAt__gt: keyAt('activities', 'createdAt', 0.3), sortBy: 'createdAt', sortOrder: 'asc', limit: '1000' }),
      keep: (i) => range('activities', 'createdAt', [keyAt('activities', 'createdAt', 0.3), false])(i),
    },
    {
      name: 'activities createdAt__gt/__lt window (Azure)',
      api: 'activities',
      params: () => ({ createdAt__gt: keyAt('activities', 'createdAt', 0.2), createdAt__lt: keyAt('activities', 'createdAt', 0.5), limit: '7' }),
      keep: (i) => range('activities', 'createdAt', [keyAt('activities', 'createdAt', 0.2), false], [keyAt('activities', 'createdAt', 0.5), false])(i),
    },
    {
      name: 'activities createdAt__gte/__lte window desc',
      api: 'activities',
      params: () => ({ createdAt__gte: keyAt('activities', 'createdAt', 0.6), createdAt__lte: keyAt('activities', 'createdAt', 0.7), sortOrder: 'desc', limit: '33' }),
      keep: (i) => range('activities', 'createdAt', [keyAt('activities', 'createdAt', 0.6), true], [keyAt('activities', 'createdAt', 0.7), true])(i),
    },
    {
      name: 'activities siteIds + activityTypes',
      api: 'activities',
      params: () => ({ siteIds: `${sim.accounts[0]?.sites[1]?.id},${sim.accounts[1]?.sites[0]?.id}`, activityTypes: '27,2001,19', sortBy: 'createdAt', sortOrder: 'asc', limit: '50' }),
      keep: (i) => [sim.accounts[0]?.sites[1]?.id, sim.accounts[1]?.sites[0]?.id].includes(i.siteId as string) && [27, 2001, 19].includes(i.activityType as number),
    },
    {
      name: 'activities ids + accountIds + createdAt__gte',
      api: 'activities',
      params: () => ({
        ids: all.activities.filter((_, n) => n % 37 === 0).map((i) => i.id).join(','),
        accountIds: sim.accounts[1]?.id ?? '',
        createdAt__gte: keyAt('activities', 'createdAt', 0.25),
        sortBy: 'id',
        sortOrder: 'asc',
        limit: '5',
      }),
      keep: (i) =>
        all.activities.indexOf(i) % 37 === 0 && i.accountId === sim.accounts[1]?.id && range('activities', 'createdAt', [keyAt('activities', 'createdAt', 0.25), true])(i),
    },
    ...(['agents', 'threats'] as const).flatMap((api): Case[] => [
      {
        name: `${api} updatedAt__gte + sortBy=updatedAt asc (Elastic)`,
        api,
        params: () => ({ updatedAt__gte: keyAt(api, 'updatedAt', 0.35), sortBy: 'updatedAt', sortOrder: 'asc', limit: '100' }),
        keep: (i) => range(api, 'updatedAt', [keyAt(api, 'updatedAt', 0.35), true])(i),
      },
      {
        name: `${api} updatedAt__gt/__lt window sortBy=updatedAt (Azure, Vulture)`,
        api,
        params: () => ({ updatedAt__gt: keyAt(api, 'updatedAt', 0.1), updatedAt__lt: keyAt(api, 'updatedAt', 0.8), sortBy: 'updatedAt', sortOrder: 'asc', limit: '13' }),
        keep: (i) => range(api, 'updatedAt', [keyAt(api, 'updatedAt', 0.1), false], [keyAt(api, 'updatedAt', 0.8), false])(i),
      },
      {
        name: `${api} createdAt__gt + sortBy=createdAt asc (SEKOIA, R7)`,
        api,
        params: () => ({ createdAt__gt: keyAt(api, 'createdAt', 0.5), createdAt__lte: keyAt(api, 'createdAt', 0.9), sortBy: 'createdAt', sortOrder: 'asc', limit: '100' }),
        keep: (i) => range(api, 'createdAt', [keyAt(api, 'createdAt', 0.5), false], [keyAt(api, 'createdAt', 0.9), true])(i),
      },
      {
        name: `${api} updatedAt filter while sorting by createdAt desc`,
        api,
        params: () => ({ updatedAt__gte: keyAt(api, 'updatedAt', 0.5), limit: '64' }),
        keep: (i) => range(api, 'updatedAt', [keyAt(api, 'updatedAt', 0.5), true])(i),
      },
      {
        name: `${api} createdAt filter while sorting by updatedAt desc`,
        api,
        params: () => ({ createdAt__lt: keyAt(api, 'createdAt', 0.5), sortBy: 'updatedAt', sortOrder: 'desc', limit: '64' }),
        keep: (i) => range(api, 'createdAt', undefined, [keyAt(api, 'createdAt', 0.5), false])(i),
      },
      {
        name: `${api} accountIds + updatedAt__gte sortBy=updatedAt`,
        api,
        params: () => ({ accountIds: sim.accounts[0]?.id ?? '', updatedAt__gte: keyAt(api, 'updatedAt', 0.2), sortBy: 'updatedAt', sortOrder: 'asc', limit: '100' }),
        keep: (i) =>
          (api === 'agents' ? i.accountId : (i.agentRealtimeInfo as Record<string, unknown>).accountId) === sim.accounts[0]?.id &&
          range(api, 'updatedAt', [keyAt(api, 'updatedAt', 0.2), true])(i),
      },
      {
        name: `${api} ids sortBy=updatedAt`,
        api,
        params: () => ({ ids: all[api].filter((_, n) => n % 11 === 3).map((i) => i.id).join(','), sortBy: 'updatedAt', sortOrder: 'asc', limit: '9' }),
        keep: (i) => all[api].indexOf(i) % 11 === 3,
      },
      {
        name: `${api} full walk sortBy=id asc (JupiterOne)`,
        api,
        params: () => ({ sortBy: 'id', sortOrder: 'asc', limit: '100' }),
        keep: () => true,
      },
    ]),
  ];

  describe.each(cases)('when walking $name', (c) => {
    it('returns every matching item exactly once, in order, and totalItems matches', async () => {
      const params = c.params();
      const want = expected(c, params);
      const got = await walk(sim.apiUrl, c.api, TOKEN, params);
      const ids = got.items.map((i) => i.id);
      expect(new Set(ids).size).toBe(ids.length);
      expect(ids).toEqual(want.map((i) => i.id));
      expect(want.length).toBeGreaterThan(0);
      expect(new Set(got.totals)).toEqual(new Set([want.length]));
      expect(got.pages).toBe(Math.max(1, Math.ceil(want.length / Number(params.limit))));
    });
  });

  it('puts records that share a timestamp on both sides of a page boundary', async () => {
    const pages: Item[][] = [];
    let cursor: string | null = null;
    do {
      const params: Record<string, string> = { sortBy: 'createdAt', sortOrder: 'asc', limit: '100', ...(cursor && { cursor }) };
      const { body } = await getJson<ListBody>(sim.apiUrl, '/activities', TOKEN, params);
      pages.push(body.data);
      cursor = body.pagination.nextCursor;
    } while (cursor !== null);
    const straddling = pages.slice(1).filter((page, n) => page[0]?.createdAt === pages[n]?.at(-1)?.createdAt);
    expect(straddling.length).toBeGreaterThan(3);
  });

  it('counts without data for countOnly=true and omits the count for skipCount=true', async () => {
    const from = keyAt('activities', 'createdAt', 0.5);
    const count = await getJson<ListBody>(sim.apiUrl, '/activities', TOKEN, { countOnly: 'true', createdAt__gte: from });
    expect(count.body).toEqual({ data: [], pagination: { nextCursor: null, totalItems: all.activities.filter(range('activities', 'createdAt', [from, true])).length } });
    const skipped = await getJson<ListBody>(sim.apiUrl, '/activities', TOKEN, { skipCount: 'true', limit: '3' });
    expect(skipped.body.pagination.totalItems).toBeNull();
    expect(skipped.body.data).toHaveLength(3);
  });

  it('answers 10 items when limit is omitted', async () => {
    const { body } = await getJson<ListBody>(sim.apiUrl, '/agents', TOKEN);
    expect(body.data).toHaveLength(10);
  });
});

describe('when filtering on timestamps', () => {
  it('compares at microsecond precision', async () => {
    const t = keyAt('activities', 'createdAt', 0.5);
    const atT = all.activities.filter((i) => i.createdAt === t).length;
    expect(atT).toBeGreaterThan(0);
    const count = async (params: Record<string, string>): Promise<number> =>
      Number((await getJson<ListBody>(sim.apiUrl, '/activities', TOKEN, { countOnly: 'true', ...params })).body.pagination.totalItems);
    const gteT = await count({ createdAt__gte: t });
    expect(await count({ createdAt__gt: t })).toBe(gteT - atT);
    expect(await count({ createdAt__gt: micros(t, -1) })).toBe(gteT);
    expect(await count({ createdAt__gte: micros(t, 1) })).toBe(gteT - atT);
    expect(await count({ createdAt__lte: t, createdAt__gte: t })).toBe(atT);
    expect(await count({ createdAt__lt: micros(t, 1), createdAt__gt: micros(t, -1) })).toBe(atT);
  });

  it.each([
    ['+00:00 offset', (t: string) => t.replace('Z', '+00:00')],
    ['space separator without zone', (t: string) => t.replace('T', ' ').replace('Z', '')],
    ['+02:00 offset', (t: string) => micros(t, 2 * 3_600_000_000).replace('Z', '+02:00')],
    ['unencoded + (arrives as a space)', (t: string) => t.replace('Z', ' 00:00')],
  ])('accepts the %s form', async (_name, form) => {
    const t = keyAt('activities', 'createdAt', 0.5);
    const reference = await getJson<ListBody>(sim.apiUrl, '/activities', TOKEN, { countOnly: 'true', createdAt__gte: t });
    const other = await getJson<ListBody>(sim.apiUrl, '/activities', TOKEN, { countOnly: 'true', createdAt__gte: form(t) });
    expect(other.status).toBe(200);
    expect(other.body.pagination.totalItems).toBe(reference.body.pagination.totalItems);
  });

  it('reads a millisecond or second value as that exact instant', async () => {
    const t = keyAt('activities', 'createdAt', 0.5);
    const ms = `${t.slice(0, 23)}Z`;
    const { body } = await getJson<ListBody>(sim.apiUrl, '/activities', TOKEN, { countOnly: 'true', createdAt__gte: ms });
    expect(body.pagination.totalItems).toBe(all.activities.filter((i) => (i.createdAt as string) >= `${t.slice(0, 23)}000Z`).length);
  });
});

describe('when the request is invalid', () => {
  it.each([
    ['limit=0', { limit: '0' }],
    ['limit=1001', { limit: '1001' }],
    ['limit=abc', { limit: 'abc' }],
    ['a bad date', { createdAt__gte: 'yesterday' }],
    ['an impossible date', { createdAt__gte: '2024-02-30T00:00:00Z' }],
    ['an unknown sortBy', { sortBy: 'name' }],
    ['sortOrder=up', { sortOrder: 'up' }],
    ['skip', { skip: '10' }],
    ['a garbage cursor', { cursor: 'bm90LWEtY3Vyc29y' }],
    ['non-numeric ids', { ids: 'abc' }],
  ])('answers 400 Validation Error for %s', async (_name, params) => {
    const { status, body } = await getJson<ErrorBody>(sim.apiUrl, '/activities', TOKEN, params);
    expect(status).toBe(400);
    expect(body.errors[0]).toMatchObject({ code: 4000010, title: 'Validation Error' });
    expect(body.errors[0]?.detail).toEqual(expect.any(String));
  });

  it('rejects updatedAt filters and sorting on activities', async () => {
    expect((await getJson(sim.apiUrl, '/activities', TOKEN, { updatedAt__gte: '2024-01-01T00:00:00Z' })).status).toBe(400);
    expect((await getJson(sim.apiUrl, '/activities', TOKEN, { sortBy: 'updatedAt' })).status).toBe(400);
  });

  it('rejects a cursor re-sent with changed filters, and a tampered cursor', async () => {
    const first = await getJson<ListBody>(sim.apiUrl, '/threats', TOKEN, { limit: '10', sortBy: 'updatedAt', sortOrder: 'asc' });
    const cursor = first.body.pagination.nextCursor ?? '';
    const changed = await getJson<ErrorBody>(sim.apiUrl, '/threats', TOKEN, { limit: '10', sortBy: 'updatedAt', sortOrder: 'desc', cursor });
    expect(changed.status).toBe(400);
    expect(changed.body.errors[0]?.detail).toMatch(/filters/);
    const decoded = Buffer.from(cursor, 'base64').toString('utf8').replace(/,(\d+),/, (_m, slot: string) => `,${Number(slot) + 1},`);
    const tampered = await getJson<ErrorBody>(sim.apiUrl, '/threats', TOKEN, { limit: '10', sortBy: 'updatedAt', sortOrder: 'asc', cursor: Buffer.from(decoded).toString('base64') });
    expect(tampered.status).toBe(400);
    const same = await getJson<ListBody>(sim.apiUrl, '/threats', TOKEN, { limit: '20', sortBy: 'updatedAt', sortOrder: 'asc', cursor });
    expect(same.status).toBe(200);
  });
});
