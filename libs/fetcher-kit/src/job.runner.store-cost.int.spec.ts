import type { FetchJob } from '@s1c/contracts';
import { MongoEventStore } from '@s1c/event-store';
import { serverUrls } from '@s1c/test-harness';
import { MongoClient, type CommandStartedEvent } from 'mongodb';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { defineApiSpec } from './api-spec';
import { parseFetchJob, type JobContext, type JobRunner } from './job.runner';
import type { RawPublisher } from './raw.publisher';
import { startFetcherFixture, type FetcherFixture } from './testing';

/**
 * What a fetch job costs the event store, counted with the MongoDB driver's command monitoring on
 * the runner's own client (the fixture's reads and the "scheduler's" dispatches go through another
 * client and are not counted). On FerretDB every command on `events` but an insert decodes the
 * whole collection (issue 13), so a page must cost a constant number of commands and may only
 * insert into `events`; a job of a collection the fetcher already holds must not read `events`.
 */
const activities = defineApiSpec({ api: 'activities', timeField: 'createdAt', timestampPath: ['createdAt'], versioned: false });
const PAGE_LIMIT = 20;
const PAGES_IN_FIRST_JOB = 55;

interface Command {
  readonly name: string;
  readonly collection: string;
  /** For a find: the kind of stream it reads (`source`, `collection`), from its `streamId` filter. */
  readonly stream?: string;
}

function streamKindOf(event: CommandStartedEvent): string | undefined {
  const filter = (event.command as { filter?: { streamId?: unknown } }).filter;
  return typeof filter?.streamId === 'string' ? filter.streamId.split('-')[0] : undefined;
}

/** The collection a command works on (`getMore` names it in `collection`). */
function collectionOf(event: CommandStartedEvent): string {
  const command = event.command as Record<string, unknown>;
  const target = event.commandName === 'getMore' ? command.collection : command[event.commandName];
  return typeof target === 'string' ? target : '';
}

/** Commands on `events` other than inserts: each one is a scan of the whole log on FerretDB. */
const readsOfEvents = (commands: readonly Command[]) => commands.filter((c) => c.collection === 'events' && c.name !== 'insert');
const describeAll = (commands: readonly Command[]) => commands.map((c) => `${c.name} ${c.collection}`).join(', ');
/** The insert of an outbox bucket's marker: once per writer and 30 s period, whatever the pages. */
const isBucketMarker = (c: Command) => c.name === 'insert' && c.collection.startsWith('event_outbox_');
const perPage = (commands: readonly Command[]) => commands.filter((c) => !isBucketMarker(c));

describe('JobRunner, what a job costs the event store (command monitoring on its own MongoClient)', () => {
  let f: FetcherFixture;
  let mongo: MongoClient;
  let sourceId: string;
  const commands: Command[] = [];
  /** commands.length when each page was published, by page number (1-based, per job). */
  let pageMarks: number[] = [];

  beforeEach(async () => {
    f = await startFetcherFixture({ simulator: { activities: 1_200 } });
    sourceId = await f.createSource(['activities']);
    await f.plan(sourceId, 'activities');
    mongo = new MongoClient(serverUrls().mongoUrl, { monitorCommands: true });
    await mongo.connect();
    mongo.on('commandStarted', (event: CommandStartedEvent) => commands.push({ name: event.commandName, collection: collectionOf(event), stream: streamKindOf(event) }));
  });
  afterEach(async () => {
    await mongo.close();
    await f.close();
  });

  /** The runner a fetcher process has: its own client and store, one instance for every job. */
  function fetcherRunner(): JobRunner {
    const store = new MongoEventStore(mongo.db(f.dbName), { clock: f.clock });
    // The records of a page are published in one call, right after the page is fetched and before
    // it is recorded: each call marks where the page's store commands start.
    const marking = (inner: RawPublisher): RawPublisher => ({
      publish(...args) {
        pageMarks.push(commands.length);
        return inner.publish(...args);
      },
    });
    return f.runner(activities, { store, wrapPublisher: marking, settings: { pageLimit: PAGE_LIMIT, maxPagesPerJob: PAGES_IN_FIRST_JOB } });
  }

  /** Runs a job; returns the commands of its start (before its first page) and of each page (the last one up to the job's end). */
  async function runCounted(runner: JobRunner, job: FetchJob): Promise<{ start: Command[]; pages: Command[][]; outcome: unknown }> {
    const ctx: JobContext = { working: () => undefined };
    const from = commands.length;
    pageMarks = [];
    const outcome = await runner.run(job, ctx);
    const to = commands.length;
    const start = commands.slice(from, pageMarks[0] ?? to);
    const pages = pageMarks.map((mark, i) => commands.slice(mark, pageMarks[i + 1] ?? to));
    return { start, pages, outcome };
  }

  it('then a page costs the same store commands at page 50 as at page 2, none of them a read of events, and the next job of the collection starts without reading events', async () => {
    const runner = fetcherRunner();
    const started = Date.now();
    const first = await runCounted(runner, await f.dispatch(sourceId, 'activities', 'backfill'));
    expect(first.outcome).toMatchObject({ kind: 'completed', finished: false, pages: PAGES_IN_FIRST_JOB });
    expect(first.pages).toHaveLength(PAGES_IN_FIRST_JOB);

    // The counting sees reads of events: a fetcher that starts cold reads the collection once.
    expect(first.start.some((c) => c.collection === 'events' && c.name === 'find')).toBe(true);
    first.pages.forEach((page, i) => {
      // Each page is recorded (an insert into events) ...
      expect(page.filter((c) => c.collection === 'events' && c.name === 'insert').length, `page ${i + 1}: ${describeAll(page)}`).toBeGreaterThan(0);
      // ... and never read back, nor anything else of events.
      expect(readsOfEvents(page), `page ${i + 1}: ${describeAll(page)}`).toEqual([]);
    });
    const page2 = perPage(first.pages[1]!);
    const page50 = perPage(first.pages[49]!);
    expect(page50.length, `page 2: ${describeAll(page2)}\npage 50: ${describeAll(page50)}`).toBeLessThanOrEqual(page2.length);
    // Bucket markers are counted apart: at most one for each 30 s period the job touched.
    const markers = first.pages.flat().filter(isBucketMarker).length;
    expect(markers).toBeLessThanOrEqual(Math.ceil((Date.now() - started) / 30_000) + 1);

    // The scheduler dispatches the continuation (JobDispatched); the fetcher folds it from the job.
    const continuation = await f.dispatch(sourceId, 'activities', 'backfill');
    const second = await runCounted(runner, continuation);
    expect(second.outcome).toMatchObject({ kind: 'completed', finished: true });
    expect(second.pages.length).toBeGreaterThan(0);
    expect(readsOfEvents(second.start), `start of the second job: ${describeAll(second.start)}`).toEqual([]);
    second.pages.forEach((page, i) => expect(readsOfEvents(page), `second job, page ${i + 1}: ${describeAll(page)}`).toEqual([]));

    // Nothing was lost on the way: the two jobs walked the whole window once.
    const window = continuation.window;
    const expected = await f.simulatorRecords('activities', { createdAt__gte: window.from, createdAt__lt: window.to, sortBy: 'createdAt', sortOrder: 'asc' });
    expect(expected.length).toBeGreaterThan(PAGE_LIMIT * PAGES_IN_FIRST_JOB);
    expect(await f.rawRecords('activities', sourceId)).toHaveLength(expected.length);
  });

  it("the daily token check reads nothing of events when the fetcher folds the token streams (one with no events is taken as empty)", async () => {
    const store = new MongoEventStore(mongo.db(f.dbName), { clock: f.clock });
    const runner = f.runner(activities, { store, settings: { tokenExpiryWarningDays: 14 }, tokenFolds: { head: () => undefined } });
    const from = commands.length;
    await runner.run(await f.dispatch(sourceId, 'activities', 'backfill'), { working: () => undefined });
    expect(f.sim.admin.requests().some((r) => r.path.endsWith('/users/api-token-details'))).toBe(true);
    const tokenCommands = commands.slice(from).filter((c) => c.stream === 'token');
    expect(tokenCommands, describeAll(tokenCommands)).toEqual([]);
  });

  /** The job as a fetcher gets it: JSON through NATS, parsed at the boundary. */
  const overTheWire = (job: unknown): FetchJob => parseFetchJob(JSON.parse(JSON.stringify(job)), activities);

  it('a fresh fetcher (nothing kept) running a job that carries the collection fold of the scheduler reads only its source from events, and nothing on any page', async () => {
    const job = overTheWire(await f.dispatch(sourceId, 'activities', 'backfill', { withFolds: true }));
    expect(job.collectionFold).toMatchObject({ state: { status: 'Planned' }, version: job.collectionVersion, position: job.collectionPosition });
    // The source (its base URL and token) is never carried: where the token goes comes from the log only.
    expect(job).not.toHaveProperty('sourceFold');
    expect(JSON.stringify(job)).not.toContain(f.token);

    const run = await runCounted(fetcherRunner(), job);
    expect(run.outcome).toMatchObject({ kind: 'completed', finished: false, pages: PAGES_IN_FIRST_JOB });
    // A new store makes sure of its indexes once (createIndexes, listIndexes); then the source's stream is read, once.
    const queries = readsOfEvents(run.start).filter((c) => c.name !== 'createIndexes' && c.name !== 'listIndexes');
    expect(queries, `start: ${describeAll(run.start)}`).toEqual([{ name: 'find', collection: 'events', stream: 'source' }]);
    run.pages.forEach((page, i) => expect(readsOfEvents(page), `page ${i + 1}: ${describeAll(page)}`).toEqual([]));
    // What it recorded is in the log, at the versions the carried fold led to.
    const events = await f.collectionEvents(sourceId, 'activities');
    expect(events.filter((e) => e.type === 'PageCollected')).toHaveLength(PAGES_IN_FIRST_JOB);
    expect(events.at(-1)).toMatchObject({ type: 'JobCompleted' });
  });

  it.each([
    ['a fold the job schema refuses (negative version, no status)', (job: FetchJob) => ({ ...job, collectionFold: { state: {}, version: -1, position: 0 } })],
    ['a fold of the right outline but not the shape of a state', (job: FetchJob) => ({ ...job, collectionFold: { ...job.collectionFold!, state: { status: 'Planned' } } })],
    [
      'a fold that does not agree with the job (another source)',
      (job: FetchJob) => ({ ...job, collectionFold: { ...job.collectionFold!, state: { ...job.collectionFold!.state, sourceId: 'someone-else' } } }),
    ],
    [
      'a fold at its version without the job in flight',
      (job: FetchJob) => ({ ...job, collectionFold: { ...job.collectionFold!, state: { ...job.collectionFold!.state, jobs: {} } } }),
    ],
    [
      'a fold too large',
      (job: FetchJob) => ({ ...job, collectionFold: { ...job.collectionFold!, state: { ...job.collectionFold!.state, padding: 'x'.repeat(40_000) } } }),
    ],
  ])('%s is ignored: the fetcher reads the collection from the log as without a fold, and the job runs', async (_, spoil) => {
    const job = overTheWire(spoil(await f.dispatch(sourceId, 'activities', 'backfill', { withFolds: true })));
    const run = await runCounted(fetcherRunner(), job);
    expect(run.outcome).toMatchObject({ kind: 'completed', finished: false, pages: PAGES_IN_FIRST_JOB });
    expect(run.start.some((c) => c.collection === 'events' && c.name === 'find' && c.stream === 'collection'), describeAll(run.start)).toBe(true);
    run.pages.forEach((page, i) => expect(readsOfEvents(page), `page ${i + 1}: ${describeAll(page)}`).toEqual([]));
  });

  it('a redelivered job reads the log even when it carries folds', async () => {
    const job = overTheWire(await f.dispatch(sourceId, 'activities', 'backfill', { withFolds: true }));
    const runner = fetcherRunner();
    const from = commands.length;
    const outcome = await runner.run(job, { working: () => undefined, deliveryCount: 2 });
    expect(outcome).toMatchObject({ kind: 'completed' });
    expect(commands.slice(from).some((c) => c.collection === 'events' && c.name === 'find')).toBe(true);
  });
});
