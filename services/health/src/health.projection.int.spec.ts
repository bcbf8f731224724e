import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { isSourceEvent, isTokenHealthEvent, NO_PROGRESS, sourceDecider, sourceStreamId, tokenHealthDecider, tokenStreamId, type CollectionCommand, type LiveSourceState, type SourceCommand } from '@s1c/domain';
import { AggregateRepository, MongoEventStore, type RecordedEvent } from '@s1c/event-store';
import { serverUrls, uniqueDbName } from '@s1c/test-harness';
import { MongoClient } from 'mongodb';
import { connect } from 'nats';
import type { HealthRuntime } from './health.app';
import { HealthModel } from './health.model';
import { HealthReadModel } from './health.read-model';
import { HEALTH_COLLECTIONS, HealthProjection } from './health.projection';
import { startHealthUnderTest, type HealthReplica, type HealthUnderTest } from './testing/health.harness';
import { at, iso, micros, NOW, SECRET, writeScriptedHistory } from './testing/scripted.history';

/** Sixty per-minute counts ending at NOW's minute (index 59 = 10:15), from `{minuteOfHour: records}`. */
function perMinute(counts: Record<number, number>): number[] {
  const series = new Array<number>(60).fill(0);
  for (const [minute, records] of Object.entries(counts)) series[59 - (15 - Number(minute))] = records;
  return series;
}

const noLanes = { backfill: 0, live: 0, snapshot: 0, replay: 0 };

const ALPHA = {
  id: 'alpha-src',
  name: 'Alpha SOC',
  collectorId: 'default',
  category: 'sec/s1',
  description: 'Production console',
  baseUrl: 'https://alpha-soc.sentinelone.net',
  supportedApis: ['activities', 'agents'],
  state: 'Collecting',
  since: iso(3),
  reason: 'Data is being collected.',
  failure: null,
  generation: 1,
  createdAt: iso(0),
  updatedAt: iso(3),
  health: 'warning',
  openErrors: 0,
  openWarnings: 1,
  openHealthEvents: [
    {
      eventId: `health-alpha-src-activities-RateLimited-${micros(12)}`,
      eventName: 'ThirdPartyGenericWarning',
      severityLevel: 'Warning',
      errorType: 'RateLimited',
      eventTime: iso(12),
      description: 'SentinelOne is rate limiting requests (HTTP 429); collection continues, more slowly. Consider fewer sources per API token.',
      action: 'Nothing: collection continues more slowly. If it persists, use fewer sources per API token.',
      occurrences: 1,
      api: 'activities',
    },
  ],
  apis: [
    {
      api: 'activities',
      // The last finished live window ended at 10:10; now is 10:15.
      checkpoint: iso(10),
      lagSeconds: 300,
      lastSuccessfulPollAt: iso(12),
      records: { total: 2050, byLane: { ...noLanes, backfill: 2000, live: 50 }, lastPoll: 10 },
      lastPoll: { at: iso(11), lane: 'live', records: 10, pages: 1, durationMs: 60_000, finished: true },
      // The window is 24 h; the last record collected is 12 h into it.
      backfill: { from: iso(1 - 24 * 60), to: iso(1), lastTimestamp: iso(1 - 12 * 60), records: 2000, done: false, percent: 50 },
      recordsPerMinute: perMinute({ 3: 1000, 4: 40, 10: 10, 12: 1000 }),
      failuresTotal: 3,
      jobsInFlight: ['backfill'],
    },
    {
      api: 'agents',
      checkpoint: iso(2),
      lagSeconds: 780,
      lastSuccessfulPollAt: iso(4),
      records: { total: 25, byLane: { ...noLanes, live: 25 }, lastPoll: 25 },
      lastPoll: { at: iso(4), lane: 'live', records: 25, pages: 1, durationMs: 120_000, finished: true },
      backfill: null,
      recordsPerMinute: perMinute({ 4: 25 }),
      failuresTotal: 0,
      jobsInFlight: [],
    },
  ],
};

const BRAVO_REASON = 'HTTP 401 from SentinelOne: the API token was refused';
const CONFIG_ADVICE = 'Collection is stopped: check the API token, its permissions and base_url, then update the source (or restart it once fixed in SentinelOne).';
const CONFIG_ACTION = 'Check the API token, its permissions and base_url; then update the source (or restart it once fixed in SentinelOne).';
const BRAVO = {
  id: 'bravo-src',
  name: 'Bravo Corp',
  collectorId: 'emea',
  category: null,
  description: null,
  baseUrl: 'https://bravo-corp.sentinelone.net',
  supportedApis: ['threats'],
  state: 'Error',
  since: iso(4),
  reason: `ThirdPartyConfigError (threats): ${BRAVO_REASON}`,
  failure: { errorType: 'ThirdPartyConfig', eventName: 'ThirdPartyConfigError', reason: BRAVO_REASON, api: 'threats' },
  generation: 1,
  createdAt: iso(1),
  updatedAt: iso(4),
  health: 'error',
  openErrors: 1,
  openWarnings: 0,
  openHealthEvents: [
    {
      eventId: `health-bravo-src-threats-ThirdPartyConfig-${micros(4)}`,
      eventName: 'ThirdPartyConfigError',
      severityLevel: 'Error',
      errorType: 'ThirdPartyConfig',
      eventTime: iso(4),
      description: `${BRAVO_REASON}. ${CONFIG_ADVICE}`,
      action: CONFIG_ACTION,
      occurrences: 1,
      api: 'threats',
    },
  ],
  apis: [
    {
      api: 'threats',
      checkpoint: iso(2),
      lagSeconds: 780,
      lastSuccessfulPollAt: null,
      records: { total: 0, byLane: noLanes, lastPoll: null },
      lastPoll: null,
      backfill: { from: iso(2 - 24 * 60), to: iso(2), lastTimestamp: null, records: 0, done: false, percent: 0 },
      recordsPerMinute: perMinute({}),
      failuresTotal: 1,
      jobsInFlight: [],
    },
  ],
};

const CHARLIE = {
  id: 'charlie-src',
  name: 'Charlie Ltd',
  collectorId: 'default',
  category: 'sec/edr',
  description: null,
  baseUrl: 'https://charlie-new.sentinelone.net',
  supportedApis: ['activities'],
  state: 'Collecting',
  since: iso(9),
  reason: 'Data is being collected.',
  failure: null,
  generation: 2,
  createdAt: iso(1),
  updatedAt: iso(9),
  health: 'healthy',
  openErrors: 0,
  openWarnings: 0,
  openHealthEvents: [],
  apis: [
    {
      api: 'activities',
      checkpoint: iso(8),
      lagSeconds: 420,
      lastSuccessfulPollAt: iso(9),
      records: { total: 5, byLane: { ...noLanes, live: 5 }, lastPoll: 5 },
      lastPoll: { at: iso(9), lane: 'live', records: 5, pages: 1, durationMs: 60_000, finished: true },
      backfill: null,
      recordsPerMinute: perMinute({ 9: 5 }),
      failuresTotal: 1,
      jobsInFlight: [],
    },
  ],
};

const identity = (id: string, name: string, collectorId = 'default') => ({ collectorId, collectorName: collectorId, id, name, type: 'SourceResource' });

/** The index, newest change first. */
const INDEX = [
  {
    eventId: `health-alpha-src-activities-RateLimited-${micros(12)}`,
    eventName: 'ThirdPartyGenericWarning',
    eventType: 'Health-Change',
    severityLevel: 'Warning',
    status: 'UnHealthy',
    eventTime: iso(12),
    subsystem: 'activities',
    details: {
      trackerId: 'activities.RateLimited',
      name: 'Rate limited by SentinelOne',
      description: 'SentinelOne is rate limiting requests (HTTP 429); collection continues, more slowly. Consider fewer sources per API token.',
    },
    resourceIdentity: identity('alpha-src', 'Alpha SOC'),
    errorType: 'RateLimited',
    retry: { retrying: true },
    firstSeen: iso(12),
    lastSeen: iso(12),
    occurrences: 1,
    resolvedAt: null,
    action: 'Nothing: collection continues more slowly. If it persists, use fewer sources per API token.',
    api: 'activities',
  },
  {
    // From the delivery stream (no api): two occurrences, then resolved.
    eventId: 'health-charlie-src-delivery-1',
    eventName: 'FirstPartyGenericError',
    eventType: 'Health-Change',
    severityLevel: 'Error',
    status: 'Healthy',
    eventTime: iso(11),
    subsystem: 'delivery',
    details: { trackerId: 'delivery.FirstPartyGeneric', name: 'Internal error', description: 'The HTTP sink answered 503. Retrying with backoff.' },
    resourceIdentity: identity('charlie-src', 'Charlie Ltd'),
    errorType: 'FirstPartyGeneric',
    retry: { retrying: false },
    firstSeen: iso(9.5),
    lastSeen: iso(10),
    occurrences: 2,
    resolvedAt: iso(11),
    action: 'Nothing: resolved.',
    api: null,
  },
  {
    // The failure streak: three failed jobs are three occurrences; the next page resolves it.
    eventId: `health-alpha-src-activities-ThirdPartyGeneric-${micros(7.5)}`,
    eventName: 'ThirdPartyGenericError',
    eventType: 'Health-Change',
    severityLevel: 'Error',
    status: 'Healthy',
    eventTime: iso(10.5),
    subsystem: 'activities',
    details: {
      trackerId: 'activities.ThirdPartyGeneric',
      name: 'Third-party error',
      description: `HTTP 503 from SentinelOne. SentinelOne is failing or unreachable; retrying with backoff (next attempt ${iso(9.75)}, until ${iso(7.5 + 90)}). No action is needed unless it persists.`,
    },
    resourceIdentity: identity('alpha-src', 'Alpha SOC'),
    errorType: 'ThirdPartyGeneric',
    retry: { retrying: false },
    firstSeen: iso(7.5),
    lastSeen: iso(9.5),
    occurrences: 3,
    resolvedAt: iso(10.5),
    action: 'Nothing: resolved.',
    api: 'activities',
  },
  {
    // Resolved by the update: the new plan starts with a clean bill of health.
    eventId: `health-charlie-src-activities-ThirdPartyConfig-${micros(4)}`,
    eventName: 'ThirdPartyConfigError',
    eventType: 'Health-Change',
    severityLevel: 'Error',
    status: 'Healthy',
    eventTime: iso(6.5),
    subsystem: 'activities',
    details: {
      trackerId: 'activities.ThirdPartyConfig',
      name: 'Third-party configuration error',
      description: `HTTP 403 from SentinelOne: activities not permitted. ${CONFIG_ADVICE}`,
    },
    resourceIdentity: identity('charlie-src', 'Charlie Ltd'),
    errorType: 'ThirdPartyConfig',
    retry: { retrying: false },
    firstSeen: iso(4),
    lastSeen: iso(4),
    occurrences: 1,
    resolvedAt: iso(6.5),
    action: 'Nothing: resolved.',
    api: 'activities',
  },
  {
    eventId: `health-bravo-src-threats-ThirdPartyConfig-${micros(4)}`,
    eventName: 'ThirdPartyConfigError',
    eventType: 'Health-Change',
    severityLevel: 'Error',
    status: 'UnHealthy',
    eventTime: iso(4),
    subsystem: 'threats',
    details: { trackerId: 'threats.ThirdPartyConfig', name: 'Third-party configuration error', description: `${BRAVO_REASON}. ${CONFIG_ADVICE}` },
    resourceIdentity: identity('bravo-src', 'Bravo Corp', 'emea'),
    errorType: 'ThirdPartyConfig',
    retry: { retrying: false },
    firstSeen: iso(4),
    lastSeen: iso(4),
    occurrences: 1,
    resolvedAt: null,
    action: CONFIG_ACTION,
    api: 'threats',
  },
];

describe('the health read models', () => {
  let h: HealthUnderTest;

  beforeAll(async () => {
    h = await startHealthUnderTest({ now: NOW });
    await writeScriptedHistory(h);
    await h.caughtUp();
  });
  afterAll(() => h?.close());

  /** What a health service answers and holds, and the health events stored. */
  const everything = async (service: { get: HealthUnderTest['get']; runtime: HealthRuntime } = h) => ({
    sources: (await service.get('/api/v1/sources')).body,
    deleted: (await service.get('/api/v1/sources?state=Deleted')).body,
    index: (await service.get('/api/v1/health-events?limit=500')).body,
    // The read models' series; this process's own (CPU, memory, its requests) differ between processes.
    metrics: (await service.get('/metrics')).text.split('\n').filter((line) => /^(# (HELP|TYPE) )?s1c_(source|records_collected|collection|backfill|poll|health)/.test(line)),
    model: service.runtime.readModel.model.snapshot(),
    events: await h.db.collection(HEALTH_COLLECTIONS.events).find({}).sort({ _id: 1 }).toArray(),
  });

  describe('given a scripted history (create, plan, dispatch, pages, completion, a failure streak, recovery, a 429, errors, an update, a deletion)', () => {
    it('then each source has exactly the expected status', async () => {
      const { body } = await h.get('/api/v1/sources');
      expect(body).toEqual({ items: [ALPHA, BRAVO, CHARLIE], total: 3, limit: 50, offset: 0 });
    });

    it('then the deleted source is only listed when asked for', async () => {
      const { body } = await h.get('/api/v1/sources?state=Deleted');
      expect(body.items.map((s: { id: string; state: string; reason: string }) => [s.id, s.state, s.reason])).toEqual([
        ['delta-src', 'Deleted', 'Collection stopped and the source was deleted.'],
      ]);
    });

    it('then the health-event index holds exactly the expected events, newest change first', async () => {
      const { body } = await h.get('/api/v1/health-events?limit=500');
      expect(body).toEqual({ items: INDEX, total: INDEX.length, limit: 500, offset: 0 });
    });

    it('then source and API status are held in memory only: health_events is the one collection written', async () => {
      const { sources, apis } = h.runtime.readModel.model.snapshot();
      expect(sources.map((s) => s._id)).toEqual(['alpha-src', 'bravo-src', 'charlie-src', 'delta-src']);
      expect(apis.map((a) => a._id)).toEqual(['collection-alpha-src-activities', 'collection-alpha-src-agents', 'collection-bravo-src-threats', 'collection-charlie-src-activities']);
      const names = (await h.db.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name);
      expect(names).toContain(HEALTH_COLLECTIONS.events);
      expect(names.filter((n) => n.startsWith('health_'))).toEqual([HEALTH_COLLECTIONS.events]);
    });
  });

  describe('when the log is folded again into a fresh model (what every start does)', () => {
    it('then that model equals the live one, and the health events do not change (none resolved is raised again)', async () => {
      const before = await everything();
      expect(before.events.filter((e) => e.resolvedAt !== null)).toHaveLength(3);
      const model = new HealthModel();
      const projection = new HealthProjection(model, h.db);
      for await (const batch of h.store.readLog()) for (const event of batch) await projection.apply(event);
      expect(model.snapshot()).toEqual(before.model);
      expect(await everything()).toEqual(before);
    });
  });

  describe('when another health service starts on the same database (a second replica, or this one restarted)', () => {
    let replica: HealthReplica;
    let before: Awaited<ReturnType<typeof everything>>;
    beforeAll(async () => {
      before = await everything();
      replica = await h.startReplica();
    });

    it('then it replays the log into the same model, answers the same, and leaves the health events as they were', async () => {
      expect(before.model.apis).toHaveLength(4);
      expect(before.events.filter((e) => e.resolvedAt !== null)).toHaveLength(3);
      expect(await everything(replica)).toEqual(before);
      expect(await everything()).toEqual(before);
      expect((await replica.get('/healthz')).body.readModel).toEqual({ ready: true, checkpoint: (await h.get('/healthz')).body.readModel.checkpoint });
    });

    it('then both follow new events, and a health event both apply is stored once', async () => {
      // A new source whose job fails (a health event is raised), then recovers (it is resolved).
      const id = 'golf-src';
      const config = { name: 'Golf', description: null, category: null, fields: [], baseUrl: 'https://golf.sentinelone.net', supportedApis: ['threats' as const] };
      const secret = { alg: 'A256GCM' as const, kid: 'k', iv: 'i', ct: 'c', tag: 't' };
      const stream = `collection-${id}-threats`;
      const collection = (minutes: number, command: Omit<CollectionCommand, 'metadata'>) =>
        h.collections.execute(stream, () => ({ ...command, metadata: { now: at(minutes) } }) as CollectionCommand);
      await h.sources.execute(sourceStreamId(id), () => ({ type: 'CreateSource', data: { sourceId: id, collectorId: 'default', config, secret }, metadata: { now: at(13) } }));
      await collection(13, { type: 'PlanCollection', data: { sourceId: id, api: 'threats', generation: 1, baseUrl: config.baseUrl, backfillMs: 0 } });
      const window = { from: iso(12), to: iso(13) };
      await collection(13, { type: 'DispatchJob', data: { jobId: 'golf-1', lane: 'live', window, resume: NO_PROGRESS } });
      await collection(13.5, { type: 'FailJob', data: { jobId: 'golf-1', errorType: 'ThirdPartyGeneric', reason: 'HTTP 503 from SentinelOne', random: 0.5 } });
      await h.caughtUp();

      const failing = (await h.get(`/api/v1/sources/${id}`)).body;
      expect(failing).toMatchObject({ id, health: 'error', openErrors: 1, apis: [{ api: 'threats', failuresTotal: 1 }] });
      expect((await replica.get(`/api/v1/sources/${id}`)).body).toEqual(failing);
      const raised = await h.db.collection(HEALTH_COLLECTIONS.events).find({ 'resourceIdentity.id': id }).toArray();
      expect(raised).toMatchObject([{ status: 'UnHealthy', occurrences: 1 }]);

      const progress = { cursor: 'cursor-1', walkFrom: null, lastTimestamp: iso(13), records: 7, pages: 1 };
      await collection(14, { type: 'DispatchJob', data: { jobId: 'golf-2', lane: 'live', window, resume: NO_PROGRESS } });
      await collection(14, { type: 'RecordPage', data: { jobId: 'golf-2', progress, pageRecords: 7, rateLimited: false } });
      await h.caughtUp();

      const recovered = (await h.get(`/api/v1/sources/${id}`)).body;
      expect(recovered).toMatchObject({ id, health: 'healthy', openErrors: 0, apis: [{ api: 'threats', records: { total: 7 } }] });
      expect((await replica.get(`/api/v1/sources/${id}`)).body).toEqual(recovered);
      const resolved = await h.db.collection(HEALTH_COLLECTIONS.events).find({ 'resourceIdentity.id': id }).toArray();
      expect(resolved).toMatchObject([{ _id: raised[0]!._id, status: 'Healthy', resolvedAt: iso(14), occurrences: 1 }]);
      expect(replica.runtime.readModel.model.snapshot()).toEqual(h.runtime.readModel.model.snapshot());
    });
  });

  describe('when another service writes a malformed health event', () => {
    it('then it is skipped with an error log, and the events after it still apply', async () => {
      await h.store.appendToStream('delivery-charlie-src', [{ type: 'HealthEventRaised', data: { healthEventId: 'bad-1', severity: 'Fatal' } }], { expectedVersion: 'any' });
      await h.store.appendToStream(
        'delivery-charlie-src',
        [{ type: 'HealthEventResolved', data: { healthEventId: `health-bravo-src-threats-ThirdPartyConfig-${micros(4)}`, at: iso(14) } }],
        { expectedVersion: 'any' },
      );
      await h.caughtUp();
      expect(h.logText()).toContain('health event skipped: it does not have the expected shape');
      const { body } = await h.get('/api/v1/health-events?source=bravo-src');
      expect(body.items[0]).toMatchObject({ status: 'Healthy', resolvedAt: iso(14) });
      expect((await h.get('/api/v1/health-events?source=charlie-src')).body.total).toBe(2);
    });
  });

  describe('when a read model with snapshots stops, and another starts after more events', () => {
    it('then the second restores the first one\'s snapshot, reads only the events after it, and holds what the live model holds', async () => {
      const nc = await connect({ servers: serverUrls().natsUrl });
      const messages: string[] = [];
      const logger = { info: (_: object, msg: string) => void messages.push(msg), warn: (_: object, msg: string) => void messages.push(msg), error: (_: object, msg: string) => void messages.push(msg) };
      const options = { gapTimeoutMs: 500, logger, snapshots: { intervalMs: 60_000 } };
      try {
        const first = new HealthReadModel(h.store, h.db, nc, options);
        await first.start();
        await first.catchUp();
        await first.stop();
        expect(messages).toContain('snapshot saved');

        // A source created after the snapshot.
        const config = { name: 'Hotel', description: null, category: null, fields: [], baseUrl: 'https://hotel.sentinelone.net', supportedApis: ['agents' as const] };
        const secret = { alg: 'A256GCM' as const, kid: 'k', iv: 'i', ct: 'c', tag: 't' };
        await h.sources.execute(sourceStreamId('hotel-src'), () => ({ type: 'CreateSource', data: { sourceId: 'hotel-src', collectorId: 'default', config, secret }, metadata: { now: at(15) } }));
        await h.caughtUp();
        const readLog = vi.spyOn(h.store, 'readLog');
        messages.length = 0;
        const second = new HealthReadModel(h.store, h.db, nc, options);
        try {
          await second.start();
          await second.catchUp();
          expect(messages).toContain('state restored from the snapshot');
          expect(readLog).not.toHaveBeenCalled();
          expect(second.model.source('hotel-src')).toMatchObject({ name: 'Hotel' });
          expect(second.model.snapshot()).toEqual(h.runtime.readModel.model.snapshot());
        } finally {
          readLog.mockRestore();
          await second.stop();
        }
      } finally {
        await nc.close();
      }
    });
  });

  describe('when a source is renamed', () => {
    it('then its health events carry the new name', async () => {
      const { state } = await h.sources.load('source-bravo-src');
      const { config } = state as LiveSourceState;
      await h.sources.execute('source-bravo-src', () => ({
        type: 'UpdateSource',
        data: { sourceId: 'bravo-src', config: { ...config, name: 'Bravo Renamed' } },
        metadata: { now: new Date(NOW.getTime() + 60_000) },
      }));
      await h.caughtUp();
      const { body } = await h.get('/api/v1/health-events?source=bravo-src');
      expect(body.items.map((e: { resourceIdentity: { name: string } }) => e.resourceIdentity.name)).toEqual(['Bravo Renamed']);
      const source = await h.get('/api/v1/sources/bravo-src');
      expect(source.body).toMatchObject({ name: 'Bravo Renamed', state: 'Pending', reason: 'Configuration updated (name); collection restarts.', failure: null });
    });
  });

  describe("when a source's API token expires soon", () => {
    it('then the fetchers\' warning shows on the source and in the index, and its resolution clears it', async () => {
      const id = 'foxtrot-src';
      const later = (minutes: number) => new Date(NOW.getTime() + minutes * 60_000);
      await h.sources.execute(sourceStreamId(id), () => ({
        type: 'CreateSource',
        data: { sourceId: id, collectorId: 'default', config: { name: 'Foxtrot', description: null, category: null, fields: [], baseUrl: 'https://foxtrot.sentinelone.net', supportedApis: ['threats'] }, secret: SECRET },
        metadata: { now: later(2) },
      }));
      const tokens = new AggregateRepository(h.store, tokenHealthDecider, isTokenHealthEvent);
      const check = (expiresAt: string, minutes: number) =>
        tokens.execute(tokenStreamId(id), () => ({ type: 'RecordTokenExpiry' as const, data: { sourceId: id, expiresAt, warningDays: 14, at: later(minutes) } }));
      await check('2026-12-01T00:00:00Z', 3);
      await h.caughtUp();

      const source = (await h.get(`/api/v1/sources/${id}`)).body;
      expect(source).toMatchObject({ health: 'warning', openErrors: 0, openWarnings: 1 });
      expect(source.openHealthEvents).toEqual([
        expect.objectContaining({ severityLevel: 'Warning', errorType: 'TokenExpiring', eventName: 'TokenExpiringWarning', api: null, occurrences: 1 }),
      ]);
      expect(source.openHealthEvents[0].description).toContain('will expire at 2026-12-01T00:00:00.000000Z');
      const [event] = (await h.get(`/api/v1/health-events?source=${id}&errorType=TokenExpiring`)).body.items;
      expect(event).toMatchObject({
        subsystem: 'token',
        details: { trackerId: 'token.TokenExpiring', name: 'API token expires soon' },
        action: "Create a new API token in the SentinelOne console and update the source's api_secret before the old one expires.",
      });

      await check('2027-06-01T00:00:00Z', 4);
      await h.caughtUp();
      expect((await h.get(`/api/v1/sources/${id}`)).body).toMatchObject({ health: 'healthy', openWarnings: 0, openHealthEvents: [] });
      expect((await h.get(`/api/v1/health-events?source=${id}`)).body.items).toEqual([expect.objectContaining({ status: 'Healthy', errorType: 'TokenExpiring' })]);
    });
  });
});

describe('the health-event index, whichever of two streams is relayed first', () => {
  it('then a raise and a deletion of its source give the same documents in log order and in the other order', async () => {
    const mongo = await MongoClient.connect(serverUrls().mongoUrl);
    try {
      const store = new MongoEventStore(mongo.db(uniqueDbName('health')));
      const sources = new AggregateRepository(store, sourceDecider, isSourceEvent);
      const source = (id: string, minutes: number, command: Omit<SourceCommand, 'metadata'>) =>
        sources.execute(sourceStreamId(id), () => ({ ...command, metadata: { now: new Date(NOW.getTime() + minutes * 60_000) } }) as SourceCommand);
      const raise = (id: string, minutes: number) =>
        store.appendToStream(
          `delivery-${id}`,
          [{ type: 'HealthEventRaised', data: { healthEventId: `health-${id}-1`, severity: 'Error', errorType: 'FirstPartyGeneric', eventName: 'FirstPartyGenericError', description: 'HTTP 503', sourceId: id, retry: { retrying: true }, at: iso(15 + minutes) } }],
          { expectedVersion: 'any' },
        );
      const config = { name: '', description: null, category: null, fields: [], baseUrl: 'https://x.sentinelone.net', supportedApis: ['agents'] as const };
      const secret = { alg: 'A256GCM' as const, kid: 'k', iv: 'i', ct: 'c', tag: 't' };
      // echo: raised, then deleted (the deletion resolves it); fox: deleted, then raised (it stays open).
      for (const [id, raisedFirst] of [['echo-src', true], ['fox-src', false]] as const) {
        await source(id, 0, { type: 'CreateSource', data: { sourceId: id, collectorId: 'default', config: { ...config, name: id, supportedApis: [...config.supportedApis] }, secret } });
        if (raisedFirst) await raise(id, 1);
        await source(id, 2, { type: 'DeleteSource', data: { sourceId: id } });
        await source(id, 2, { type: 'CompleteSourceDeletion', data: { sourceId: id } });
        if (!raisedFirst) await raise(id, 3);
      }
      const log: RecordedEvent[] = [];
      for await (const batch of store.readLog()) log.push(...batch);
      const isRaise = (e: RecordedEvent) => e.type === 'HealthEventRaised';
      // Each stream in version order, the delivery stream's raise relayed before or after the source's events.
      const orders = { log, raisesLast: [...log.filter((e) => !isRaise(e)), ...log.filter(isRaise)], raisesFirst: [...log.filter(isRaise), ...log.filter((e) => !isRaise(e))] };
      const results: Record<string, unknown> = {};
      for (const [name, events] of Object.entries(orders)) {
        const db = mongo.db(uniqueDbName('health'));
        const projection = new HealthProjection(new HealthModel(), db);
        for (const event of events) await projection.apply(event);
        results[name] = await db.collection(HEALTH_COLLECTIONS.events).find({}).sort({ _id: 1 }).toArray();
        // A start after that replays the log (in log order) into a fresh model: nothing changes.
        const restarted = new HealthProjection(new HealthModel(), db);
        for (const event of log) await restarted.apply(event);
        expect(await db.collection(HEALTH_COLLECTIONS.events).find({}).sort({ _id: 1 }).toArray()).toEqual(results[name]);
      }
      expect(results.log).toMatchObject([
        { _id: 'health-echo-src-1', status: 'Healthy', resolvedAt: iso(17), lastSeen: iso(16) },
        { _id: 'health-fox-src-1', status: 'UnHealthy', resolvedAt: null },
      ]);
      expect(results.raisesLast).toEqual(results.log);
      expect(results.raisesFirst).toEqual(results.log);
    } finally {
      await mongo.close();
    }
  });
});
