import { tokenStreamId } from '@s1c/domain';
import { afterEach, describe, expect, it } from 'vitest';
import { defineApiSpec } from './api-spec';
import type { JobContext } from './job.runner';
import { SIM_START, startFetcherFixture, type FetcherFixture } from './testing';

const activities = defineApiSpec({ api: 'activities', timeField: 'createdAt', timestampPath: ['createdAt'], versioned: false });
const ctx: JobContext = { working: () => undefined };
const DAY = 86_400_000;
const inDays = (days: number) => new Date(Date.parse(SIM_START) + days * DAY).toISOString();

describe('the daily token expiry check of a job, against the simulator and real NATS and FerretDB', () => {
  let f: FetcherFixture;
  afterEach(async () => {
    await f?.close();
  });

  async function start(token: { expiresAt?: string; apis?: Array<'activities' | 'api-token-details'> }) {
    const secret = 'tok-expiring-0123456789abcdef';
    f = await startFetcherFixture({ token: secret, simulator: { tokens: [{ token: secret, label: 'console', ...token }] } });
    const sourceId = await f.createSource(['activities']);
    await f.plan(sourceId, 'activities', { backfillMs: 0 });
    return sourceId;
  }
  const runnerWith = (warningDays = 14) => f.runner(activities, { settings: { tokenExpiryWarningDays: warningDays } });
  /** One live job, as the scheduler would dispatch it after a poll interval, on `runner` (a fetcher process) or a new one. */
  async function liveJob(sourceId: string, runner = runnerWith()) {
    f.sim.admin.advanceClock(61_000);
    const job = await f.dispatch(sourceId, 'activities', 'live');
    return runner.run(job, ctx);
  }
  const detailsAsked = () => f.sim.admin.requests().filter((r) => r.path.endsWith('/users/api-token-details')).length;
  const tokenEvents = (sourceId: string) => f.store.readStream(tokenStreamId(sourceId));

  it('raises a TokenExpiring warning when the token expires within the warning days, and asks once a day', async () => {
    const sourceId = await start({ expiresAt: inDays(5) });
    const fetcher = runnerWith();
    expect(await liveJob(sourceId, fetcher)).toMatchObject({ kind: 'completed' });
    const [raised] = await tokenEvents(sourceId);
    expect(raised).toMatchObject({
      type: 'HealthEventRaised',
      data: { sourceId, severity: 'Warning', errorType: 'TokenExpiring', eventName: 'TokenExpiringWarning', expiresAt: expect.stringMatching(/^2024-06-06T12:00:00/) },
    });
    expect((raised!.data as { description: string }).description).toMatch(/will expire at 2024-06-06T12:00:00\.000000Z \(in [45] days\)/);
    expect(f.logText()).not.toContain('tok-expiring-0123456789abcdef');

    // The same day: the same fetcher does not ask again; another one asks, and records nothing new.
    await liveJob(sourceId, fetcher);
    expect(detailsAsked()).toBe(1);
    await liveJob(sourceId);
    expect(detailsAsked()).toBe(2);
    expect(await tokenEvents(sourceId)).toHaveLength(1);

    // A day later: asked again, and the same event occurs again with the days left.
    f.sim.admin.advanceClock(DAY);
    await liveJob(sourceId, fetcher);
    const events = await tokenEvents(sourceId);
    expect(events.map((e) => e.type)).toEqual(['HealthEventRaised', 'HealthEventRaised']);
    expect((events[1]!.data as { healthEventId: string }).healthEventId).toBe((events[0]!.data as { healthEventId: string }).healthEventId);
  });

  it('resolves the warning once SentinelOne reports a later expiry (the token was replaced or extended)', async () => {
    const sourceId = await start({ expiresAt: inDays(5) });
    await liveJob(sourceId);
    f.sim.admin.removeToken('console');
    f.sim.admin.addToken({ token: 'tok-expiring-0123456789abcdef', label: 'console', expiresAt: inDays(200) });
    f.sim.admin.advanceClock(DAY);
    await liveJob(sourceId);
    expect((await tokenEvents(sourceId)).map((e) => e.type)).toEqual(['HealthEventRaised', 'HealthEventResolved']);
  });

  it('records nothing for a token far from its expiry, or one that may not read its details, and never fails the job', async () => {
    const far = await start({ expiresAt: inDays(100) });
    expect(await liveJob(far)).toMatchObject({ kind: 'completed' });
    expect(detailsAsked()).toBe(1);
    expect(await tokenEvents(far)).toEqual([]);
    await f.close();

    const forbidden = await start({ expiresAt: inDays(2), apis: ['activities'] });
    expect(await liveJob(forbidden)).toMatchObject({ kind: 'completed' });
    expect(f.sim.admin.requests().find((r) => r.path.endsWith('/users/api-token-details'))?.status).toBe(403);
    expect(await tokenEvents(forbidden)).toEqual([]);
  });

  it('does not ask at all with S1C_TOKEN_EXPIRY_WARNING_DAYS=0', async () => {
    const sourceId = await start({ expiresAt: inDays(2) });
    await liveJob(sourceId, runnerWith(0));
    expect(detailsAsked()).toBe(0);
    expect(await tokenEvents(sourceId)).toEqual([]);
  });

  it('tries again an hour later when the check fails, and the job still completes', async () => {
    const sourceId = await start({ expiresAt: inDays(2) });
    f.sim.admin.addFault({ kind: 'status', status: 500, path: '/web/api/v2.1/users/api-token-details', count: 1 });
    const fetcher = runnerWith();
    expect(await liveJob(sourceId, fetcher)).toMatchObject({ kind: 'completed' });
    expect(await tokenEvents(sourceId)).toEqual([]);
    expect(f.logText()).toContain("the check of the API token's expiry failed");
    await liveJob(sourceId, fetcher);
    expect(detailsAsked()).toBe(1);
    f.sim.admin.advanceClock(3_600_000);
    await liveJob(sourceId, fetcher);
    expect((await tokenEvents(sourceId)).map((e) => e.type)).toEqual(['HealthEventRaised']);
  });
});
