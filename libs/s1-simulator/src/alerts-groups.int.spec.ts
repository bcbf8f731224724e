import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimulator, type RunningSimulator } from './simulator.server.js';
import { getJson, walk, type ErrorBody, type Item, type ListBody } from './testing/api.helper.js';

const TOKEN = 'full-access';
const LIMITED = 'no-alerts';
let sim: RunningSimulator;

beforeAll(async () => {
  sim = await startSimulator({
    seed: 11,
    startTime: '2024-06-01T12:00:00.000000Z',
    clock: 'manual',
    alerts: 700,
    accounts: 2,
    sitesPerAccount: 3,
    tokens: [
      { token: TOKEN, label: 'full' },
      { token: LIMITED, label: 'limited', apis: ['activities', 'groups'], accounts: [1] },
    ],
  });
});
afterAll(async () => {
  await sim.close();
});

const alertInfo = (item: Item) => item.alertInfo as Record<string, string>;

describe('cloud-detection alerts (/cloud-detection/alerts)', () => {
  it('serves every alert once in a walk by alertInfoCreatedAt, ids and dates inside alertInfo, with the rule that fired', async () => {
    const { items, pages } = await walk(sim.apiUrl, 'cloud-detection/alerts', TOKEN, { limit: '100', sortBy: 'alertInfoCreatedAt', sortOrder: 'asc' });
    expect(items).toHaveLength(700);
    expect(pages).toBe(7);
    const ids = items.map((i) => alertInfo(i).alertId);
    expect(new Set(ids).size).toBe(700);
    expect(ids.every((id) => /^\d{19}$/.test(id!))).toBe(true);
    const created = items.map((i) => alertInfo(i).createdAt!);
    expect([...created].sort()).toEqual(created);
    // Ties: several alerts share one createdAt, so a walk must dedupe at its boundary.
    expect(new Set(created).size).toBeLessThan(created.length);
    expect(items[0]).not.toHaveProperty('id');
    expect(items[0]!.ruleInfo).toMatchObject({ id: expect.stringMatching(/^\d{19}$/), name: expect.any(String), severity: expect.any(String) });
  });

  it('filters by createdAt (alertInfo.createdAt) and by site, and refuses updatedAt and a createdAt sort', async () => {
    const all = (await walk(sim.apiUrl, 'cloud-detection/alerts', TOKEN, { limit: '1000', sortBy: 'alertInfoCreatedAt', sortOrder: 'asc' })).items;
    const middle = alertInfo(all[350]!).createdAt!;
    const later = await walk(sim.apiUrl, 'cloud-detection/alerts', TOKEN, { limit: '1000', sortBy: 'alertInfoCreatedAt', sortOrder: 'asc', createdAt__gte: middle });
    expect(later.items.map((i) => alertInfo(i).alertId)).toEqual(all.filter((i) => alertInfo(i).createdAt! >= middle).map((i) => alertInfo(i).alertId));
    const site = (all[0]!.agentDetectionInfo as Record<string, string>).siteId!;
    const inSite = await walk(sim.apiUrl, 'cloud-detection/alerts', TOKEN, { limit: '1000', siteIds: site });
    expect(inSite.items.length).toBeGreaterThan(0);
    expect(inSite.items.every((i) => (i.agentDetectionInfo as Record<string, string>).siteId === site)).toBe(true);
    for (const params of [{ updatedAt__gte: middle }, { sortBy: 'createdAt' }, { sortBy: 'updatedAt' }] as Array<Record<string, string>>) {
      const refused = await getJson<ErrorBody>(sim.apiUrl, '/cloud-detection/alerts', TOKEN, params);
      expect(refused.status, JSON.stringify(params)).toBe(400);
    }
  });

  it('answers 403 to a token without the alerts grant', async () => {
    expect((await getJson<ErrorBody>(sim.apiUrl, '/cloud-detection/alerts', LIMITED)).status).toBe(403);
  });
});

describe('groups (/groups)', () => {
  it('serves the layout: two groups per site, each with its site, and only the token\'s sites', async () => {
    const { items } = await walk(sim.apiUrl, 'groups', TOKEN, { limit: '1000', sortBy: 'updatedAt', sortOrder: 'asc' });
    expect(items).toHaveLength(12);
    expect(new Set(items.map((i) => i.id)).size).toBe(12);
    expect(items.filter((i) => i.isDefault === true)).toHaveLength(6);
    const scoped = await walk(sim.apiUrl, 'groups', LIMITED, { limit: '1000' });
    expect(scoped.items).toHaveLength(6);
  });

  it('moves a group to the end of an updatedAt walk when it changes, with a new updatedAt', async () => {
    const before = (await walk(sim.apiUrl, 'groups', TOKEN, { limit: '1000', sortBy: 'updatedAt', sortOrder: 'asc' })).items;
    sim.admin.advanceClock(60_000);
    const [updated] = sim.admin.updateRecords('groups', { ids: [before[0]!.id] });
    const after = (await walk(sim.apiUrl, 'groups', TOKEN, { limit: '1000', sortBy: 'updatedAt', sortOrder: 'asc' })).items;
    expect(after.at(-1)!.id).toBe(updated);
    expect(after.at(-1)!.updatedAt).not.toBe(before[0]!.updatedAt);
    expect(() => sim.admin.createRecords('groups', 1)).toThrow(/layout/);
  });
});

it('still lists the hosted three as before', async () => {
  const page = await getJson<ListBody>(sim.apiUrl, '/activities', TOKEN, { limit: '5' });
  expect(page.status).toBe(200);
});
