import { S1Client } from '@s1c/s1-client';
import { startSimulator, type RunningSimulator } from '@s1c/s1-simulator';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { eventually, SystemUnderTest, type Json } from './system.harness';

/**
 * Issue 4's acceptance: the whole system (registry, scheduler, three fetchers as processes) against
 * the simulator, with the poll interval and the retry window shortened by configuration.
 */
// FerretDB's SQLite backend scans the whole events collection for every query but an _id lookup,
// so these tests keep the log small: short-lived sources, few pages per job, unhurried polling.
const SETTINGS = {
  S1C_POLL_INTERVAL: '3s',
  S1C_LIVE_OVERLAP: '1s',
  S1C_BACKFILL: '24h',
  S1C_SCHEDULER_TICK: '200ms',
  S1C_JOB_STALL_TIMEOUT: '8s',
  S1C_MAX_PAGES_PER_JOB: '2',
  S1C_RETRY_WINDOW: '6s',
  S1C_RETRY_INITIAL_DELAY: '300ms',
  S1C_RETRY_MAX_DELAY: '1s',
  S1C_JOB_ACK_WAIT: '10s',
  S1C_EVENT_POLL_INTERVAL: '250ms',
  S1C_EVENT_GAP_TIMEOUT: '500ms',
};

const APIS = ['activities', 'agents', 'threats'] as const;
type Api = (typeof APIS)[number] | 'alerts' | 'groups';

let simulator: RunningSimulator;
let system: SystemUnderTest;
let nextAccount = 0;
/** Sources of the running test, deleted after it so their live polling stops. */
const created: string[] = [];

/** A console of its own: a token scoped to one simulator account, so each test has its own data. */
function newConsole(label: string, apis?: string[]): { token: string; label: string } {
  const token = `tok-${label}-${Math.random().toString(36).slice(2, 12)}`;
  simulator.admin.addToken({ token, label, accounts: [nextAccount++], ...(apis ? { apis: apis as never } : {}) });
  return { token, label };
}

async function createSource(name: string, token: string, apis: readonly Api[] = APIS, options?: Json): Promise<string> {
  const id = await system.createSource({ name, category: 'e2e', base_url: simulator.url, api_secret: token, supported_apis: apis, ...(options ? { options } : {}) });
  created.push(id);
  return id;
}

async function state(sourceId: string): Promise<Json> {
  return (await system.command('get', { id: sourceId })).source?.state ?? { state: 'Deleted' };
}

async function waitForState(sourceId: string, wanted: string, timeoutMs = 60_000): Promise<Json> {
  return eventually(`source ${sourceId} to be ${wanted}`, async () => {
    const current = await state(sourceId);
    return current.state === wanted ? current : undefined;
  }, timeoutMs);
}

async function collectionEvents(sourceId: string, api: Api): Promise<Json[]> {
  return system.stream(`collection-${sourceId}-${api}`);
}

const laneFinished = (sourceId: string, api: Api, lane: string, atLeast = 1, after = 0): Promise<boolean> =>
  system.laneFinished(sourceId, api, lane, atLeast, after);

/** Every record the console holds for a token, walked directly: the oracle. */
async function consoleRecords(token: string, api: Api, filters: Record<string, string> = {}): Promise<Json[]> {
  const client = new S1Client({ baseUrl: simulator.url, token, allowInsecure: true });
  const records: Json[] = [];
  let cursor: string | undefined;
  do {
    const sortBy = { activities: 'createdAt', alerts: 'alertInfoCreatedAt' }[api as string] ?? 'updatedAt';
    const page = await client.listPage(api, { filters, sortBy, sortOrder: 'asc', ...(cursor ? { cursor } : {}) });
    records.push(...page.records.map((r) => r.value));
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  return records;
}

function requestsBy(label: string, path?: string): number {
  return simulator.admin.requests().filter((r) => r.token === label && (!path || r.path.endsWith(path))).length;
}

beforeAll(async () => {
  // 8,000 activities per account: eight pages of backfill for each source.
  simulator = await startSimulator({ accounts: 12, sitesPerAccount: 1, historyHours: 23, activities: 96_000, agents: 240, threats: 1_200, alerts: 6_000 });
  system = await SystemUnderTest.start(SETTINGS);
}, 120_000);

afterEach(async () => {
  for (const id of created.splice(0)) await system.command('delete', { id });
});

afterAll(async () => {
  await system?.close();
  await simulator?.close();
});

describe('collection, end to end', () => {
  it('a new healthy source walks Pending, Started, Initialized, Authenticated, Collecting and delivers every record exactly once through backfill and two live cycles', async () => {
    const { token } = newConsole('healthy');
    const sourceId = await createSource('Healthy', token);
    await waitForState(sourceId, 'Collecting');
    const lifecycle = (await system.stream(`source-${sourceId}`)).map((e) => e.type);
    expect(lifecycle.slice(0, 5)).toEqual(['SourceCreated', 'CollectionStarted', 'CollectionInitialized', 'SourceAuthenticated', 'CollectionBegan']);

    await eventually('backfills and the first snapshot', async () =>
      (await laneFinished(sourceId, 'activities', 'backfill')) && (await laneFinished(sourceId, 'threats', 'backfill')) && (await laneFinished(sourceId, 'agents', 'snapshot'))
        ? true
        : undefined,
    );
    // New and changed records for the live lane.
    const versionsBefore = Object.fromEntries(await Promise.all(APIS.map(async (api) => [api, (await collectionEvents(sourceId, api)).length])));
    simulator.admin.createRecords('activities', 25);
    simulator.admin.updateRecords('threats', { count: 4 });
    simulator.admin.updateRecords('agents', { count: 3 });
    await eventually('two live cycles after the changes', async () => {
      for (const api of APIS) if (!(await laneFinished(sourceId, api, 'live', 2, versionsBefore[api]))) return undefined;
      return true;
    });

    const activities = await consoleRecords(token, 'activities');
    const rawActivities = await system.rawRecords(sourceId, 'activities');
    expect([...rawActivities.keys()].sort()).toEqual(activities.map((a) => `${sourceId}:activities:${a.id}`).sort());
    expect([...rawActivities.values()].every((n) => n === 1)).toBe(true);

    const threats = await consoleRecords(token, 'threats');
    const rawThreats = await system.rawRecords(sourceId, 'threats');
    for (const threat of threats) expect(rawThreats.has(`${sourceId}:threats:${threat.id}:${threat.threatInfo.updatedAt}`)).toBe(true);
    expect([...rawThreats.values()].every((n) => n === 1)).toBe(true);

    const agents = await consoleRecords(token, 'agents');
    const rawAgents = [...(await system.rawRecords(sourceId, 'agents')).keys()];
    for (const agent of agents) expect(rawAgents.some((id) => id.endsWith(`:${agent.id}`) || id.includes(`:${agent.id}:`))).toBe(true);
  }, 180_000);

  it('after kill -9 of a fetcher and of the scheduler mid-backfill, the backfill resumes from its last page and delivers exactly once', async () => {
    const { token, label } = newConsole('crashy', ['activities']);
    const latency = simulator.admin.addFault({ kind: 'latency', latencyMs: 150, token: label, durationMs: 600_000 });
    const sourceId = await createSource('Crashy', token, ['activities']);
    const pages = async () => (await collectionEvents(sourceId, 'activities')).filter((e) => e.type === 'PageCollected' && e.data.lane === 'backfill').length;
    await eventually('two backfill pages', async () => ((await pages()) >= 2 ? true : undefined));
    await system.kill('fetcher-activities');
    await system.restart('fetcher-activities');
    await eventually('a page after the fetcher restart', async () => ((await pages()) >= 4 ? true : undefined));
    await system.kill('scheduler');
    await system.restart('scheduler');
    await eventually('the backfill to finish', async () => ((await laneFinished(sourceId, 'activities', 'backfill')) ? true : undefined), 120_000);
    simulator.admin.removeFault(latency);

    // Every request made a page that was recorded, but for at most one page fetched again per crash
    // (counted before the oracle below walks the console with the same token).
    const pagesRecorded = (await collectionEvents(sourceId, 'activities')).filter((e) => e.type === 'PageCollected').length;
    const requests = simulator.admin.requests().filter((r) => r.token === label && r.path.endsWith('/activities'));
    const pagesLog = (await collectionEvents(sourceId, 'activities'))
      .filter((e) => ['PageCollected', 'JobDispatched', 'JobCompleted', 'JobAbandoned', 'JobFailed'].includes(e.type))
      .map((e) => `${e.type}:${e.data.jobId?.split(':').slice(2).join(':')}:${e.data.progress?.pages ?? ''}:${(e.data.progress?.cursor ?? '').slice(-12)}`);
    const diagnostics = JSON.stringify({ requests: requests.map((r) => [r.at.slice(11, 23), (r.query.cursor ?? r.query.createdAt__gte ?? '').slice(-12)]), log: pagesLog });
    expect(requests.length, diagnostics).toBeLessThanOrEqual(pagesRecorded + 2);
    const expected = (await consoleRecords(token, 'activities')).map((a) => `${sourceId}:activities:${a.id}`).sort();
    const raw = await system.rawRecords(sourceId, 'activities');
    expect([...raw.keys()].sort()).toEqual(expected);
    expect([...raw.values()].every((n) => n === 1)).toBe(true);
  }, 180_000);

  it('an invalid token puts the source in Error with a ThirdPartyConfigError, and no request is made until it is updated', async () => {
    const { token, label } = newConsole('revoked', ['activities']);
    simulator.admin.revokeToken(label);
    const sourceId = await createSource('Revoked', token, ['activities']);
    const failed = await waitForState(sourceId, 'Error');
    expect(failed.error).toMatchObject({ errorType: 'ThirdPartyConfig', eventName: 'ThirdPartyConfigError' });
    const raised = (await collectionEvents(sourceId, 'activities')).filter((e) => e.type === 'HealthEventRaised');
    expect(raised.at(-1)?.data).toMatchObject({ eventName: 'ThirdPartyConfigError', severity: 'Error', retry: { retrying: false } });
    const seen = requestsBy(label);
    await new Promise((r) => setTimeout(r, 5_000));
    expect(requestsBy(label)).toBe(seen);

    const { token: fresh } = newConsole('revoked-fixed', ['activities']);
    const current = await system.command('get', { id: sourceId });
    const { ok: _ok, ...document } = current;
    document.source.config.api_secret = fresh;
    expect((await system.command('update', document)).ok).toBe(true);
    await waitForState(sourceId, 'Collecting');
  }, 120_000);

  it('a token that expires soon raises a TokenExpiring warning, resolved once the source is updated with a new token', async () => {
    const token = `tok-expiring-${Math.random().toString(36).slice(2, 12)}`;
    simulator.admin.addToken({ token, label: 'expiring', accounts: [nextAccount++], apis: ['activities', 'api-token-details'], expiresAt: new Date(Date.now() + 3 * 86_400_000).toISOString() });
    const sourceId = await createSource('Expiring', token, ['activities']);
    const raised = await eventually('a TokenExpiring warning', async () =>
      (await system.stream(`token-${sourceId}`)).find((e) => e.type === 'HealthEventRaised'),
    );
    expect(raised.data).toMatchObject({ sourceId, severity: 'Warning', errorType: 'TokenExpiring', eventName: 'TokenExpiringWarning' });
    expect(raised.data.description).toMatch(/will expire at .* \(in (2|3) days\)/);
    // A warning: collection goes on.
    await waitForState(sourceId, 'Collecting');

    const { token: fresh } = newConsole('expiring-replaced', ['activities', 'api-token-details']);
    const { ok: _ok, ...document } = await system.command('get', { id: sourceId });
    document.source.config.api_secret = fresh;
    expect((await system.command('update', document)).ok).toBe(true);
    await eventually('the warning resolved', async () =>
      (await system.stream(`token-${sourceId}`)).some((e) => e.type === 'HealthEventResolved' && e.data.healthEventId === raised.data.healthEventId) ? true : undefined,
    );
  }, 120_000);

  it("a source's own options: its scope is all it collects, and its backfill and poll interval are its own", async () => {
    const token = `tok-scoped-${Math.random().toString(36).slice(2, 12)}`;
    simulator.admin.addToken({ token, label: 'scoped', accounts: [nextAccount++, nextAccount++] });
    const [site, otherSite] = simulator.admin.tokens().find((t) => t.label === 'scoped')!.siteIds;
    const sourceId = await createSource('Scoped', token, ['activities'], { backfill: '2h', scope: { site_ids: [site] }, apis: { activities: { poll_interval: '30s' } } });
    const planned = await eventually('the collection planned', async () => (await collectionEvents(sourceId, 'activities')).find((e) => e.type === 'CollectionPlanned'));
    const { from, to } = planned.data.backfill;
    expect(Date.parse(to) - Date.parse(from)).toBe(2 * 3_600_000);
    await eventually('the backfill to finish', async () => ((await laneFinished(sourceId, 'activities', 'backfill')) ? true : undefined), 90_000);

    const inScope = (await consoleRecords(token, 'activities', { siteIds: site!, createdAt__gte: from, createdAt__lt: to })).map((a) => `${sourceId}:activities:${a.id}`);
    const otherSiteRecords = await consoleRecords(token, 'activities', { siteIds: otherSite!, createdAt__gte: from, createdAt__lt: to });
    expect(inScope.length).toBeGreaterThan(0);
    expect(otherSiteRecords.length).toBeGreaterThan(0);
    expect([...(await system.rawRecords(sourceId, 'activities')).keys()].sort()).toEqual(inScope.sort());
    // The source's 30 s interval, not the process's 3 s: no second live poll within 10 s of the first.
    const firstLive = await eventually('a live poll', async () => (await collectionEvents(sourceId, 'activities')).find((e) => e.type === 'JobDispatched' && e.data.lane === 'live'));
    await new Promise((r) => setTimeout(r, 10_000));
    const lives = (await collectionEvents(sourceId, 'activities')).filter((e) => e.type === 'JobDispatched' && e.data.lane === 'live');
    expect(lives.map((e) => e.data.jobId)).toEqual([firstLive.data.jobId]);
  }, 150_000);

  it('the opt-in alerts and groups are collected exactly once, each as its own API, and only what the source asked for', async () => {
    const { token } = newConsole('alerts-groups', ['alerts', 'groups']);
    const sourceId = await createSource('Alerts and groups', token, ['alerts', 'groups']);
    await waitForState(sourceId, 'Collecting');
    await eventually('the alerts backfill and the groups snapshot to finish', async () =>
      (await laneFinished(sourceId, 'alerts', 'backfill')) && (await laneFinished(sourceId, 'groups', 'snapshot')) ? true : undefined,
    90_000);
    const planned = (await collectionEvents(sourceId, 'alerts')).find((e) => e.type === 'CollectionPlanned')!;
    const { from, to } = planned.data.backfill;
    const alerts = (await consoleRecords(token, 'alerts', { createdAt__gte: from, createdAt__lt: to })).map((a) => `${sourceId}:alerts:${a.alertInfo.alertId}`);
    expect(alerts.length).toBeGreaterThan(100);
    const rawAlerts = await system.rawRecords(sourceId, 'alerts');
    expect([...rawAlerts.keys()].sort()).toEqual(alerts.sort());
    expect([...rawAlerts.values()].every((n) => n === 1)).toBe(true);
    const groups = await consoleRecords(token, 'groups');
    expect(groups).toHaveLength(2);
    const snapshotGroups = [...(await system.rawRecords(sourceId, 'groups')).keys()].filter((id) => id.includes(':snapshot-'));
    expect(snapshotGroups.map((id) => id.split(':').at(-1)).sort()).toEqual(groups.map((g) => g.id).sort());
    // Only the APIs it asked for: nothing on the hosted three.
    expect((await collectionEvents(sourceId, 'activities' as Api)).length).toBe(0);
  }, 150_000);

  it('a 5xx outage shorter than the retry window recovers and resolves its health event; a longer one makes the source quit to Error', async () => {
    const { token, label } = newConsole('flaky', ['threats']);
    const sourceId = await createSource('Flaky', token, ['threats']);
    await waitForState(sourceId, 'Collecting');
    const short = simulator.admin.addFault({ kind: 'status', status: 503, token: label, count: 2 });
    await eventually('a ThirdPartyGenericError raised and then resolved', async () => {
      const events = await collectionEvents(sourceId, 'threats');
      const raised = events.find((e) => e.type === 'HealthEventRaised' && e.data.eventName === 'ThirdPartyGenericError');
      return raised && events.some((e) => e.type === 'HealthEventResolved' && e.data.healthEventId === raised.data.healthEventId) ? true : undefined;
    });
    simulator.admin.removeFault(short);
    expect((await state(sourceId)).state).toBe('Collecting');

    simulator.admin.addFault({ kind: 'status', status: 503, token: label, durationMs: 600_000 });
    const quit = await waitForState(sourceId, 'Error', 90_000);
    expect(quit.error).toMatchObject({ errorType: 'ThirdPartyGeneric', eventName: 'ThirdPartyGenericError' });
  }, 150_000);

  it('429 bursts raise a Warning and the data is still complete', async () => {
    const { token, label } = newConsole('throttled', ['activities']);
    simulator.admin.addFault({ kind: 'status', status: 429, retryAfterSeconds: 1, token: label, count: 3 });
    const sourceId = await createSource('Throttled', token, ['activities']);
    await eventually('the backfill to finish', async () => ((await laneFinished(sourceId, 'activities', 'backfill')) ? true : undefined), 90_000);
    const events = await collectionEvents(sourceId, 'activities');
    const story = events.map((e) => `${e.type}${e.data.severity ? `:${e.data.severity}:${e.data.eventName}` : ''}${e.data.rateLimited ? ':rateLimited' : ''}`);
    const throttled = simulator.admin.requests().filter((r) => r.token === label).map((r) => `${r.path.split('/').pop()}:${r.status}`);
    expect(events.some((e) => e.type === 'HealthEventRaised' && e.data.severity === 'Warning'), JSON.stringify({ story, throttled })).toBe(true);
    const expected = (await consoleRecords(token, 'activities')).map((a) => `${sourceId}:activities:${a.id}`).sort();
    expect([...(await system.rawRecords(sourceId, 'activities')).keys()].sort()).toEqual(expected);
  }, 120_000);

  it('a source deleted mid-collection goes Stopping, then Deleted, then no more requests are made', async () => {
    const { token, label } = newConsole('deleted', ['activities']);
    simulator.admin.addFault({ kind: 'latency', latencyMs: 200, token: label, durationMs: 600_000 });
    const sourceId = await createSource('Deleted mid-way', token, ['activities']);
    await eventually('a backfill page', async () =>
      (await collectionEvents(sourceId, 'activities')).some((e) => e.type === 'PageCollected') ? true : undefined,
    );
    const reply = await system.command('delete', { id: sourceId });
    expect(reply.source.state.state).toBe('Stopping');
    await eventually('Deleted', async () => ((await system.command('get', { id: sourceId })).error?.code === 'SourceNotFound' ? true : undefined));
    const types = (await system.stream(`source-${sourceId}`)).map((e) => e.type);
    expect(types.slice(-2)).toEqual(['SourceDeletionRequested', 'SourceDeleted']);
    const seen = requestsBy(label);
    await new Promise((r) => setTimeout(r, 5_000));
    expect(requestsBy(label)).toBe(seen);
  }, 120_000);

  it('never shows a token in clear in the logs of any service', () => {
    const output = system.output();
    for (const { token } of simulator.admin.tokens() as unknown as Array<{ token?: string }>) if (token) expect(output).not.toContain(token);
    expect(output).not.toMatch(/tok-(healthy|crashy|revoked|flaky|throttled|deleted)-[a-z0-9]{6,}/);
  });
});
