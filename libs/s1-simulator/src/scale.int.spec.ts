import { describe, expect, it } from 'vitest';
import { startSimulator } from './simulator.server.js';
import { getJson, type ListBody } from './testing/api.helper.js';

describe('given millions of records', () => {
  it('starts without materialising them and serves any page by index', async () => {
    global.gc?.();
    const heapBefore = process.memoryUsage().heapUsed;
    const sim = await startSimulator({
      startTime: '2024-01-01T00:00:00Z',
      clock: 'manual',
      activities: 5_000_000,
      agents: 1_000_000,
      threats: 2_000_000,
      tokens: [{ token: 'big' }, { token: 'small', accounts: [1] }],
    });
    try {
      const heapGrowthMiB = (process.memoryUsage().heapUsed - heapBefore) / 1_048_576;
      expect(heapGrowthMiB).toBeLessThan(32);
      const count = await getJson<ListBody>(sim.apiUrl, '/activities', 'big', { countOnly: 'true' });
      expect(count.body.pagination.totalItems).toBe(5_000_000);
      const tail = await getJson<ListBody>(sim.apiUrl, '/activities', 'big', { createdAt__gte: '2023-12-31T23:59:59Z', sortBy: 'createdAt', sortOrder: 'asc', limit: '1000' });
      expect(tail.body.data.length).toBeGreaterThan(0);
      expect(tail.body.data.every((a) => (a.createdAt as string) >= '2023-12-31T23:59:59.000000Z')).toBe(true);
      const threats = await getJson<ListBody>(sim.apiUrl, '/threats', 'small', { sortBy: 'updatedAt', sortOrder: 'desc', limit: '1000' });
      expect(threats.body.data).toHaveLength(1_000);
      expect(threats.body.pagination.totalItems).toBeGreaterThan(500_000);
      expect(threats.body.pagination.totalItems).toBeLessThan(1_500_000);
    } finally {
      await sim.close();
    }
  });
});
