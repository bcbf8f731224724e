/**
 * The shipped NATS configuration (infra/nats/nats.conf) on a real nats-server: every service's
 * user can do what the service does, and is refused what it must not do. The tests run in order
 * and build on each other, as the services would: owners create their streams, the others use them.
 */
import { startNatsServer, type RunningServer } from '@s1c/test-harness';
import { headers, NatsError, type MsgRequest, type NatsConnection } from 'nats';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isPermissionViolation, NatsPermissionError } from './messaging.errors';
import { connectNats, drainNats } from './nats.connection';
import { recentMsgIds } from './recent.msg-ids';
import { STREAMS, declareStreams, ensureConsumer, ensureStream } from './stream.declarations';
import { subjects } from './subjects';

const CONFIG = join(__dirname, '..', '..', '..', 'infra', 'nats', 'nats.conf');
const USERS = ['registry', 'scheduler', 'fetcher-activities', 'fetcher-agents', 'fetcher-threats', 'fetcher-alerts', 'fetcher-groups', 'enricher', 'health', 'operator', 'gateway'] as const;
type User = (typeof USERS)[number];
const passwordVariable = (user: User) => `S1C_NATS_${user.toUpperCase().replace(/-/g, '_')}_PASSWORD`;
// nats-server parses a variable's value as configuration: a password must start with a letter (see nats.conf).
const PASSWORDS = Object.fromEntries(USERS.map((u) => [u, `p${randomBytes(18).toString('hex')}`])) as Record<User, string>;
const encoder = new TextEncoder();

describe('infra/nats/nats.conf', () => {
  let server: RunningServer;
  const connections = new Map<User, NatsConnection>();
  const as = (user: User) => connections.get(user)!;

  /** The error code a request on `subject` ends with: PERMISSIONS_VIOLATION when refused. */
  const requestOutcome = async (nc: NatsConnection, subject: string): Promise<string> => {
    try {
      await nc.request(subject, encoder.encode('{}'), { timeout: 2000 });
      return 'answered';
    } catch (error) {
      return (error as NatsError).code;
    }
  };
  /**
   * The outcome of publishing on `subject` without storing anything: the message names a stream that
   * is not the one capturing it, so JetStream answers with an error instead of keeping it.
   */
  const publishOutcome = async (nc: NatsConnection, subject: string): Promise<string> => {
    const h = headers();
    h.set('Nats-Expected-Stream', 'NOT_THIS_STREAM');
    try {
      await nc.request(subject, encoder.encode('{}'), { timeout: 2000, headers: h });
      return 'answered';
    } catch (error) {
      return (error as NatsError).code;
    }
  };
  /** Whether the server accepts a subscription (it refuses before answering the flush's ping). */
  const subscribeOutcome = async (nc: NatsConnection, subject: string, queue?: string): Promise<'allowed' | 'refused'> => {
    let refused = false;
    const sub = nc.subscribe(subject, { ...(queue ? { queue } : {}), callback: (error) => (refused ||= isPermissionViolation(error)) });
    await nc.flush();
    if (!sub.isClosed()) sub.unsubscribe();
    return refused ? 'refused' : 'allowed';
  };

  beforeAll(async () => {
    server = await startNatsServer({ configFile: CONFIG, env: Object.fromEntries(USERS.map((u) => [passwordVariable(u), PASSWORDS[u]])) });
    for (const user of USERS) connections.set(user, await connectNats({ url: server.url, name: `test-${user}`, user, pass: PASSWORDS[user] }));
  });
  afterAll(async () => {
    for (const nc of connections.values()) await drainNats(nc);
    await server?.stop();
  });

  it('refuses a wrong password, and a user without one', async () => {
    await expect(connectNats({ url: server.url, name: 'intruder', user: 'registry', pass: PASSWORDS['fetcher-activities'] })).rejects.toMatchObject({ code: 'AUTHORIZATION_VIOLATION' });
    await expect(connectNats({ url: server.url, name: 'anonymous' })).rejects.toMatchObject({ code: 'AUTHORIZATION_VIOLATION' });
  });

  it('lets the registry declare and feed S1C_EVENTS and read it back, and nobody else declare it', async () => {
    // The readers of the log (and of its source events) may look at it and wait for it, not create it.
    for (const user of ['scheduler', 'health', 'fetcher-activities', 'enricher'] as const) {
      expect(await requestOutcome(as(user), '$JS.API.STREAM.CREATE.S1C_EVENTS'), user).toBe('PERMISSIONS_VIOLATION');
    }
    // A user that may not even look at it is told which permission it lacks.
    await expect(ensureStream(await as('enricher').jetstreamManager(), STREAMS.jobs)).rejects.toBeInstanceOf(NatsPermissionError);
    const jsm = await as('registry').jetstreamManager();
    expect((await ensureStream(jsm, STREAMS.events)).action).toBe('created');
    const ack = await as('registry').jetstream().publish('s1c.evt.source.src1.SourceCreated', encoder.encode('{"v":1}'), { msgID: 'src1:1' });
    expect((await jsm.streams.getMessage(STREAMS.events.name, { seq: ack.seq })).subject).toBe('s1c.evt.source.src1.SourceCreated');
  });

  it('lets the scheduler declare S1C_JOBS and publish jobs and the events it appends, and nothing else', async () => {
    expect((await ensureStream(await as('scheduler').jetstreamManager(), STREAMS.jobs)).action).toBe('created');
    await as('scheduler').jetstream().publish('s1c.job.activities', encoder.encode('{"job":1}'), { msgID: 'job-1' });
    for (const subject of ['s1c.evt.source.src1.SourceStarted', 's1c.evt.collection.src1-activities.JobCompleted']) {
      expect(await publishOutcome(as('scheduler'), subject), subject).toBe('answered');
    }
    for (const subject of ['s1c.evt.delivery.src1.HealthEventRaised', 's1c.evt.token.src1.HealthEventRaised', 's1c.evt.sourcename.c-h.SourceNameReserved', 's1c.evt.source.src1']) {
      expect(await publishOutcome(as('scheduler'), subject), subject).toBe('PERMISSIONS_VIOLATION');
    }
    expect(await requestOutcome(as('scheduler'), 's1c.raw.activities.src1')).toBe('PERMISSIONS_VIOLATION');
  });

  it("makes the enricher wait for the fetchers' S1C_RAW, which a fetcher then creates", async () => {
    const enricher = declareStreams(await as('enricher').jetstreamManager(), [STREAMS.raw, STREAMS.data, STREAMS.deadLetters], { retryIntervalMs: 100 });
    let settled = false;
    void enricher.finally(() => (settled = true));
    await new Promise((r) => setTimeout(r, 500));
    expect(settled).toBe(false);

    const fetcher = await declareStreams(await as('fetcher-activities').jetstreamManager(), [STREAMS.jobs, STREAMS.raw, STREAMS.deadLetters]);
    expect(fetcher.map((r) => r.action)).toEqual(['unchanged', 'created', 'created']);
    expect((await enricher).map((r) => r.action)).toEqual(['unchanged', 'created', 'unchanged']);
  });

  it('lets a fetcher take its own jobs, publish raw records of its API and dead letters', async () => {
    const nc = as('fetcher-activities');
    const jsm = await nc.jetstreamManager();
    await ensureConsumer(jsm, STREAMS.jobs.name, { durable_name: 'fetcher-activities', filter_subject: 's1c.job.activities' });
    const consumer = await nc.jetstream().consumers.get(STREAMS.jobs.name, 'fetcher-activities');
    const job = await consumer.next({ expires: 5000 });
    expect(job?.subject).toBe('s1c.job.activities');
    job!.working();
    expect(await job!.ackAck()).toBe(true);
    await nc.jetstream().publish('s1c.raw.activities.src1', encoder.encode('{"id":"r1"}'), { msgID: 'r1' });
    await nc.jetstream().publish('s1c.dlq.S1C_JOBS.fetcher-activities', encoder.encode('{}'), { msgID: 'd1' });
  });

  it("refuses a fetcher commands, output records, another API's raw records and another fetcher's consumer", async () => {
    const nc = as('fetcher-activities');
    expect(await requestOutcome(nc, 's1c.cmd.source.create')).toBe('PERMISSIONS_VIOLATION');
    expect(await requestOutcome(nc, 's1c.data.activities.src1')).toBe('PERMISSIONS_VIOLATION');
    expect(await requestOutcome(nc, 's1c.raw.threats.src1')).toBe('PERMISSIONS_VIOLATION');
    expect(await requestOutcome(nc, 's1c.job.activities')).toBe('PERMISSIONS_VIOLATION');
    expect(await requestOutcome(nc, '$JS.API.STREAM.DELETE.S1C_JOBS')).toBe('PERMISSIONS_VIOLATION');
    expect(await requestOutcome(nc, '$JS.API.STREAM.UPDATE.S1C_EVENTS')).toBe('PERMISSIONS_VIOLATION');
    const agents = await as('fetcher-agents').jetstreamManager();
    await expect(ensureConsumer(agents, STREAMS.jobs.name, { durable_name: 'fetcher-activities', filter_subject: 's1c.job.activities' })).rejects.toBeInstanceOf(NatsPermissionError);
    expect(await subscribeOutcome(nc, '_INBOX.enricher.>')).toBe('refused');
    expect(await subscribeOutcome(nc, 's1c.raw.>')).toBe('refused');
  });

  it('lets the enricher consume raw records, publish output and run its sinks, and refuses it commands', async () => {
    const nc = as('enricher');
    const jsm = await nc.jetstreamManager();
    await ensureConsumer(jsm, STREAMS.raw.name, { durable_name: 'enricher' });
    const raw = await (await nc.jetstream().consumers.get(STREAMS.raw.name, 'enricher')).next({ expires: 5000 });
    expect(raw?.subject).toBe('s1c.raw.activities.src1');
    expect(await raw!.ackAck()).toBe(true);
    await nc.jetstream().publish('s1c.data.activities.src1', encoder.encode('{"id":"r1"}'), { msgID: 'r1' });
    for (const durable of ['sink-http', 'sink-file']) await ensureConsumer(jsm, STREAMS.data.name, { durable_name: durable });
    expect((await (await nc.jetstream().consumers.get(STREAMS.data.name, 'sink-file')).next({ expires: 5000 }))?.subject).toBe('s1c.data.activities.src1');
    // At start it reads the last output records' ids (headers only).
    expect((await recentMsgIds(nc.jetstream(), jsm, STREAMS.data.name, { filterSubject: subjects.every.data, max: 10, timeoutMs: 5000 })).ids).toEqual(['r1']);

    // The relayed events come through a filtered consumer (see the readers' test below), not a subscription.
    expect(await subscribeOutcome(nc, 's1c.evt.source.*.*')).toBe('refused');
    expect(await subscribeOutcome(nc, 's1c.cmd.>')).toBe('refused');
    expect(await subscribeOutcome(nc, 's1c.raw.>')).toBe('refused');
    expect(await requestOutcome(nc, 's1c.cmd.source.list')).toBe('PERMISSIONS_VIOLATION');
    expect(await requestOutcome(nc, 's1c.job.activities')).toBe('PERMISSIONS_VIOLATION');
    // A stream it does not own but differs from its declaration is used as it is.
    expect((await ensureStream(jsm, { ...STREAMS.raw, description: 'changed' })).action).toBe('foreign');
  });

  it('lets only the registry serve s1c.cmd.source.*', async () => {
    for (const user of USERS) {
      const expected = user === 'registry' ? 'allowed' : 'refused';
      expect(await subscribeOutcome(as(user), 's1c.cmd.source.*', 's1c-registry'), user).toBe(expected);
      expect(await subscribeOutcome(as(user), 's1c.cmd.source.create'), user).toBe(expected);
    }
  });

  it('lets the readers of the log (scheduler, health) follow S1C_EVENTS with an ordered consumer, and nothing more of it', async () => {
    for (const user of ['scheduler', 'health'] as const) {
      const nc = as(user);
      expect((await (await nc.jetstreamManager({ checkAPI: false })).streams.info(STREAMS.events.name)).state.messages, user).toBe(1);
      // What libs/event-store's EventTailer does: an ordered consumer from a sequence, deleted at stop.
      const consumer = await nc.jetstream().consumers.get(STREAMS.events.name, { opt_start_seq: 1 });
      const messages = await consumer.consume({ max_messages: 10 });
      for await (const message of messages) {
        expect(message.subject, user).toBe('s1c.evt.source.src1.SourceCreated');
        break;
      }
      expect(await consumer.delete(), user).toBe(true);
    }
    for (const user of ['scheduler', 'health'] as const) {
      const nc = as(user);
      // No filtered or durable consumer, no other stream's, no publishing events, no message gets.
      expect(await requestOutcome(nc, '$JS.API.CONSUMER.CREATE.S1C_EVENTS.reader.s1c.evt.>'), user).toBe('PERMISSIONS_VIOLATION');
      expect(await requestOutcome(nc, '$JS.API.CONSUMER.DURABLE.CREATE.S1C_EVENTS.reader'), user).toBe('PERMISSIONS_VIOLATION');
      // A reader asks after its consumer when a pull comes back empty (libs/messaging BoundedPull).
      expect(await requestOutcome(nc, '$JS.API.CONSUMER.INFO.S1C_EVENTS.reader'), user).not.toBe('PERMISSIONS_VIOLATION');
      expect(await requestOutcome(nc, '$JS.API.CONSUMER.CREATE.S1C_JOBS.reader'), user).toBe('PERMISSIONS_VIOLATION');
      expect(await requestOutcome(nc, '$JS.API.STREAM.MSG.GET.S1C_EVENTS'), user).toBe('PERMISSIONS_VIOLATION');
      expect(await requestOutcome(nc, '$JS.API.STREAM.UPDATE.S1C_EVENTS'), user).toBe('PERMISSIONS_VIOLATION');
      // Only health appends nothing to the log (the scheduler's publishing is checked above).
      if (user === 'health') expect(await requestOutcome(nc, 's1c.evt.source.src1.SourceDeleted'), user).toBe('PERMISSIONS_VIOLATION');
      expect(await subscribeOutcome(nc, 's1c.evt.>'), user).toBe('refused');
    }
  });

  it('lets the registry, the fetchers and the enricher follow the source events of S1C_EVENTS with a filtered ordered consumer, and nothing more of it', async () => {
    for (const user of ['registry', 'fetcher-activities', 'fetcher-agents', 'fetcher-threats', 'fetcher-alerts', 'fetcher-groups', 'enricher'] as const) {
      const nc = as(user);
      // What libs/event-store's FoldedStreams does: an ordered consumer on s1c.evt.source.> from the start.
      const consumer = await nc.jetstream().consumers.get(STREAMS.events.name, { opt_start_seq: 1, filterSubjects: 's1c.evt.source.>' });
      const messages = await consumer.consume({ max_messages: 10 });
      for await (const message of messages) {
        expect(message.subject, user).toBe('s1c.evt.source.src1.SourceCreated');
        break;
      }
      expect(await consumer.delete(), user).toBe(true);
      // Not the whole stream, not another filter, no durable, no publishing events.
      expect(await requestOutcome(nc, '$JS.API.CONSUMER.CREATE.S1C_EVENTS.reader'), user).toBe('PERMISSIONS_VIOLATION');
      expect(await requestOutcome(nc, '$JS.API.CONSUMER.CREATE.S1C_EVENTS.reader.s1c.evt.collection.>'), user).toBe('PERMISSIONS_VIOLATION');
      expect(await requestOutcome(nc, '$JS.API.CONSUMER.DURABLE.CREATE.S1C_EVENTS.reader'), user).toBe('PERMISSIONS_VIOLATION');
      // The fetchers also fold each source's token health (the daily expiry check); the others may not.
      const tokenFilter = await requestOutcome(nc, '$JS.API.CONSUMER.CREATE.S1C_EVENTS.reader.s1c.evt.token.>');
      if (user.startsWith('fetcher-')) expect(tokenFilter, user).not.toBe('PERMISSIONS_VIOLATION');
      else expect(tokenFilter, user).toBe('PERMISSIONS_VIOLATION');
      // Each publishes the events it appends, on the kinds of stream it writes; only the registry any,
      // and only the registry looks up the last message of a subject (to catch up).
      if (user !== 'registry') {
        const writes = user === 'enricher' ? ['delivery'] : ['source', 'collection', 'token'];
        for (const kind of ['source', 'collection', 'token', 'delivery', 'sourcename']) {
          const outcome = await publishOutcome(nc, `s1c.evt.${kind}.src1.SomethingHappened`);
          if (writes.includes(kind)) expect(outcome, `${user} ${kind}`).toBe('answered');
          else expect(outcome, `${user} ${kind}`).toBe('PERMISSIONS_VIOLATION');
        }
        expect(await requestOutcome(nc, '$JS.API.STREAM.MSG.GET.S1C_EVENTS'), user).toBe('PERMISSIONS_VIOLATION');
      }
    }
    const last = await (await as('registry').jetstreamManager({ checkAPI: false })).streams.getMessage(STREAMS.events.name, { last_by_subj: 's1c.evt.source.>' });
    expect(last.subject).toBe('s1c.evt.source.src1.SourceCreated');
  });

  it('gives the health service a ping and the relayed events, nothing else', async () => {
    expect(await as('health').rtt()).toBeGreaterThanOrEqual(0);
    expect(await requestOutcome(as('health'), 's1c.cmd.source.list')).toBe('PERMISSIONS_VIOLATION');
    expect(await requestOutcome(as('health'), 's1c.job.activities')).toBe('PERMISSIONS_VIOLATION');
    expect(await requestOutcome(as('health'), '$JS.API.STREAM.INFO.S1C_JOBS')).toBe('PERMISSIONS_VIOLATION');
    expect(await subscribeOutcome(as('health'), '>')).toBe('refused');
    expect(await subscribeOutcome(as('health'), '_INBOX.scheduler.>')).toBe('refused');
  });

  describe('commands from the OPERATORS and GATEWAY accounts', () => {
    beforeAll(async () => {
      as('registry').subscribe('s1c.cmd.source.*', {
        queue: 's1c-registry',
        callback: (_error, msg) => msg.respond(encoder.encode(msg.headers?.get('Nats-Request-Info') ?? 'none')),
      });
      await as('registry').flush();
    });

    it('reach the registry stamped with the real sender, whatever header the sender forged', async () => {
      for (const user of ['operator', 'gateway'] as const) {
        const forged = headers();
        forged.set('Nats-Request-Info', JSON.stringify({ acc: 'S1C', user: 'registry' }));
        const reply = await as(user).request('s1c.cmd.source.get', encoder.encode('{}'), { timeout: 5000, headers: forged });
        const info = JSON.parse(new TextDecoder().decode(reply.data)) as { acc: string; user: string };
        expect(info, user).toMatchObject({ acc: user === 'operator' ? 'OPERATORS' : 'GATEWAY', user });
      }
    });

    it('let an operator read the relayed events, and nothing else of JetStream', async () => {
      const jsm = await as('operator').jetstreamManager({ apiPrefix: 'S1C.JS.API', checkAPI: false });
      expect((await jsm.streams.info(STREAMS.events.name)).state.messages).toBe(1);
      const next = await jsm.streams.getMessage(STREAMS.events.name, { seq: 1, next_by_subj: 's1c.evt.source.src1.*' } as unknown as MsgRequest);
      expect(next.subject).toBe('s1c.evt.source.src1.SourceCreated');
      await expect(jsm.streams.info(STREAMS.jobs.name)).rejects.toMatchObject({ code: 'PERMISSIONS_VIOLATION' });
      expect(await requestOutcome(as('operator'), '$JS.API.CONSUMER.CREATE.S1C_EVENTS')).toBe('PERMISSIONS_VIOLATION');
      expect(await requestOutcome(as('operator'), 's1c.evt.source.src1.SourceDeleted')).toBe('PERMISSIONS_VIOLATION');
      expect(await subscribeOutcome(as('operator'), '_INBOX.gateway.>')).toBe('refused');
      expect(await requestOutcome(as('gateway'), 'S1C.JS.API.STREAM.INFO.S1C_EVENTS')).toBe('PERMISSIONS_VIOLATION');
    });
  });
});
