import type { FetchJob } from '@s1c/contracts';
import { afterEach, describe, expect, it } from 'vitest';
import { defineApiSpec } from './api-spec';
import type { JobContext } from './job.runner';
import { startFetcherFixture, type FetcherFixture } from './testing';

const threats = defineApiSpec({ api: 'threats', timeField: 'updatedAt', timestampPath: ['threatInfo', 'updatedAt'], versioned: true });
const ctx: JobContext = { working: () => undefined };
const THREATS_PATH = '/web/api/v2.1/threats';

describe("a source's options in its jobs, against the simulator and real NATS and FerretDB", () => {
  let f: FetcherFixture;
  afterEach(async () => {
    await f?.close();
  });

  it('sends its scope (accountIds, siteIds, groupIds) with every list request, and collects only what the scope holds', async () => {
    f = await startFetcherFixture({ simulator: { accounts: 2, sitesPerAccount: 2 } });
    const [site] = f.sim.admin.tokens().find((t) => t.label === 'console')!.siteIds;
    const sourceId = await f.createSource(['threats'], { options: { scope: { siteIds: [site!], groupIds: ['42'] } } });
    await f.plan(sourceId, 'threats');
    const job: FetchJob = await f.dispatch(sourceId, 'threats', 'backfill');
    expect(await f.runner(threats, { settings: { pageLimit: 20 } }).run(job, ctx)).toMatchObject({ kind: 'completed', finished: true });

    const lists = f.sim.admin.requests().filter((r) => r.path === THREATS_PATH);
    expect(lists.length).toBeGreaterThan(1);
    for (const request of lists) expect(request.query).toMatchObject({ siteIds: site, groupIds: '42' });
    const inScope = await f.simulatorRecords('threats', { siteIds: site!, updatedAt__gte: job.window.from, updatedAt__lt: job.window.to, sortBy: 'updatedAt', sortOrder: 'asc' });
    const everything = await f.simulatorRecords('threats', { updatedAt__gte: job.window.from, updatedAt__lt: job.window.to, sortBy: 'updatedAt', sortOrder: 'asc' });
    expect(inScope.length).toBeGreaterThan(0);
    expect(inScope.length).toBeLessThan(everything.length);
    const raw = await f.rawRecords('threats', sourceId);
    expect(new Set(raw.map((m) => m.recordId)).size).toBe(inScope.length);
  });

  it('paces its console at its own requests_per_second', async () => {
    f = await startFetcherFixture({ simulator: { clock: 'real' } });
    const sourceId = await f.createSource(['threats'], { options: { requestsPerSecond: 4 } });
    await f.plan(sourceId, 'threats');
    const job = await f.dispatch(sourceId, 'threats', 'backfill');
    const started = Date.now();
    await f.runner(threats, { settings: { pageLimit: 25, requestsPerSecond: 1000 } }).run(job, ctx);
    const requests = f.sim.admin.requests().filter((r) => r.path.startsWith('/web/api/v2.1/'));
    expect(requests.length).toBeGreaterThanOrEqual(8);
    // 4 per second with a burst of 4: the requests beyond the burst take at least a quarter second each.
    expect(Date.now() - started).toBeGreaterThanOrEqual(((requests.length - 4) / 4) * 1000 - 100);
  });
});
