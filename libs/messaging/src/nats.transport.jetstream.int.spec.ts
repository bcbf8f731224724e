import 'reflect-metadata';
import { Controller, Inject, Module, type DynamicModule, type INestMicroservice } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Ctx, Payload } from '@nestjs/microservices';
import { serverUrls } from '@s1c/test-harness';
import { type JetStreamManager, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JetStreamConsumer } from './jetstream-consumer.decorator';
import { JetStreamContext } from './jetstream.context';
import { publishBytes, publishJson } from './jetstream.publisher';
import { DEAD_LETTER_HEADERS } from './dead-letter';
import { PoisonMessageError, RetryableError } from './messaging.errors';
import { connectNats, drainNats } from './nats.connection';
import { NatsTransport } from './nats.transport';
import { STREAMS, ensureStream } from './stream.declarations';
import { subjects } from './subjects';
import { captureLogger, sleep, uniqueName, waitFor } from './testing/messaging.test-kit';

const STREAM = uniqueName('JSTEST');
const S = (suffix: string) => `${STREAM}.${suffix}`;
const INSTANCE = 'INSTANCE';

interface Delivery {
  instance: string;
  id: string;
  deliveryCount: number;
  at: number;
}
const deliveries: Record<string, Delivery[]> = {};
const record = (durable: string, instance: string, ctx: JetStreamContext, id: string) =>
  (deliveries[durable] ??= []).push({ instance, id, deliveryCount: ctx.deliveryCount, at: Date.now() });
const of = (durable: string, id?: string) => (deliveries[durable] ?? []).filter((d) => id === undefined || d.id === id);

const common = { stream: STREAM, ackWaitMs: 1_000, nakDelaysMs: [300] } as const;

@Controller()
class WorkController {
  constructor(@Inject(INSTANCE) private readonly instance: string) {}

  @JetStreamConsumer({ ...common, durable: 'ok', filterSubject: S('ok'), maxDeliver: 3 })
  async ok(@Payload() data: Uint8Array, @Ctx() ctx: JetStreamContext): Promise<void> {
    expect(data).toBeInstanceOf(Uint8Array);
    record('ok', this.instance, ctx, ctx.json<{ id: string }>().id);
  }

  @JetStreamConsumer({ ...common, durable: 'retry', filterSubject: S('retry'), maxDeliver: 5 })
  async retry(@Ctx() ctx: JetStreamContext): Promise<void> {
    const { id } = ctx.json<{ id: string }>();
    record('retry', this.instance, ctx, id);
    if (ctx.deliveryCount === 1 && id === 'rate-limited') throw new RetryableError('429 from SentinelOne', { delayMs: 800 });
    if (ctx.deliveryCount === 1 && id === 'flaky') throw new Error('connection reset');
  }

  @JetStreamConsumer({ ...common, durable: 'dead', filterSubject: S('dead'), maxDeliver: 3 })
  async dead(@Ctx() ctx: JetStreamContext): Promise<void> {
    const body = ctx.json<{ id: string }>();
    record('dead', this.instance, ctx, body.id);
    if (body.id === 'poison') throw new PoisonMessageError('unknown job type');
    throw new RetryableError('still failing', { delayMs: 50 });
  }

  @JetStreamConsumer({ ...common, durable: 'slow', filterSubject: S('slow'), maxDeliver: 3 })
  async slow(@Ctx() ctx: JetStreamContext): Promise<void> {
    record('slow', this.instance, ctx, ctx.json<{ id: string }>().id);
    await sleep(2_600);
  }

  @JetStreamConsumer({ ...common, durable: 'shared', filterSubject: S('shared'), maxDeliver: 3, concurrency: 2 })
  async shared(@Ctx() ctx: JetStreamContext): Promise<void> {
    record('shared', this.instance, ctx, ctx.json<{ id: string }>().id);
    await sleep(10);
  }
}

function appModule(instance: string): DynamicModule {
  @Module({})
  class AppModule {}
  return { module: AppModule, controllers: [WorkController], providers: [{ provide: INSTANCE, useValue: instance }] };
}

async function startApp(instance: string): Promise<INestMicroservice> {
  const strategy = new NatsTransport({
    connection: { url: serverUrls().natsUrl, name: `jetstream-${instance}` },
    logger: captureLogger(),
    streams: [STREAMS.deadLetters, { name: STREAM, subjects: [`${STREAM}.>`] }],
    fetchExpiresMs: 1_000,
  });
  const app = await NestFactory.createMicroservice(appModule(instance), { strategy, logger: false });
  await app.listen();
  return app;
}

describe('NatsTransport JetStream consumers', () => {
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  let a: INestMicroservice;
  let b: INestMicroservice;
  const publish = (suffix: string, body: unknown, msgId: string) => publishJson(nc.jetstream(), S(suffix), body, { msgId });
  const pendingOf = async (durable: string) => {
    const info = await jsm.consumers.info(STREAM, durable);
    return info.num_pending + info.num_ack_pending;
  };
  const deadLettersOf = async (durable: string) => {
    const subject = subjects.deadLetter(STREAM, durable);
    const info = await jsm.streams.info(STREAMS.deadLetters.name, { subjects_filter: subject });
    return info.state.subjects?.[subject] ?? 0;
  };

  beforeAll(async () => {
    nc = await connectNats({ url: serverUrls().natsUrl, name: 'jetstream-client' });
    jsm = await nc.jetstreamManager();
    await ensureStream(jsm, { name: STREAM, subjects: [`${STREAM}.>`] });
    a = await startApp('a');
    b = await startApp('b');
  });
  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()]);
    await jsm?.streams.delete(STREAM).catch(() => undefined);
    await drainNats(nc);
  });

  it('declares each consumer durable, explicit-ack, with one spare delivery for dead-lettering', async () => {
    const info = await jsm.consumers.info(STREAM, 'dead');

    expect(info.config).toMatchObject({ durable_name: 'dead', ack_policy: 'explicit', max_deliver: 4, filter_subject: S('dead') });
  });

  it('acks a message once its handler returns', async () => {
    await publish('ok', { id: 'o1' }, 'o1');

    await waitFor(() => of('ok', 'o1').length === 1, 5_000, 'delivery');
    await waitFor(async () => (await pendingOf('ok')) === 0, 5_000, 'ack');
    expect(of('ok', 'o1').map((d) => d.deliveryCount)).toEqual([1]);
  });

  it('redelivers after the RetryableError delay, or after the curve delay for an unexpected error', async () => {
    await publish('retry', { id: 'rate-limited' }, 'r1');
    await publish('retry', { id: 'flaky' }, 'r2');

    await waitFor(() => of('retry', 'rate-limited').length === 2 && of('retry', 'flaky').length === 2, 8_000, 'redeliveries');
    const [r1, r2] = of('retry', 'rate-limited');
    const [f1, f2] = of('retry', 'flaky');
    expect(r2!.at - r1!.at).toBeGreaterThanOrEqual(750);
    expect(f2!.at - f1!.at).toBeGreaterThanOrEqual(250);
    // Sooner than ack wait: the redelivery came from our nak, not from an ack timeout.
    expect(f2!.at - f1!.at).toBeLessThan(1_000);
    await waitFor(async () => (await pendingOf('retry')) === 0, 5_000, 'ack');
  });

  it('dead-letters a message on its last allowed delivery, once, and terminates it', async () => {
    await publishBytes(nc.jetstream(), S('dead'), new TextEncoder().encode(JSON.stringify({ id: 'hopeless' })), {
      msgId: 'd1',
      headers: { 'S1c-Correlation-Id': 'corr-1' },
    });

    await waitFor(async () => (await deadLettersOf('dead')) === 1, 8_000, 'dead letter');
    await sleep(500);
    expect(of('dead', 'hopeless').map((d) => d.deliveryCount)).toEqual([1, 2, 3]);
    expect(await deadLettersOf('dead')).toBe(1);
    expect(await pendingOf('dead')).toBe(0);
    const letter = await jsm.streams.getMessage(STREAMS.deadLetters.name, { last_by_subj: subjects.deadLetter(STREAM, 'dead') });
    expect(letter.json()).toEqual({ id: 'hopeless' });
    expect(letter.header.get(DEAD_LETTER_HEADERS.subject)).toBe(S('dead'));
    expect(letter.header.get(DEAD_LETTER_HEADERS.reason)).toBe('MaxDeliveriesExceeded');
    expect(letter.header.get(DEAD_LETTER_HEADERS.deliveries)).toBe('3');
    expect(letter.header.get(DEAD_LETTER_HEADERS.error)).toBe('still failing');
    expect(letter.header.get(DEAD_LETTER_HEADERS.originalMsgId)).toBe('d1');
    expect(letter.header.get('S1c-Correlation-Id')).toBe('corr-1');
  });

  it('dead-letters a poison message and a body that is not JSON at once, without retries', async () => {
    const before = await deadLettersOf('dead');
    await publish('dead', { id: 'poison' }, 'p1');
    await publishBytes(nc.jetstream(), S('dead'), new TextEncoder().encode('{not json'), { msgId: 'p2' });

    await waitFor(async () => (await deadLettersOf('dead')) === before + 2, 5_000, 'dead letters');
    // term() is fire-and-forget and follows the dead-letter publish: wait for it to land.
    await waitFor(async () => (await pendingOf('dead')) === 0, 5_000, 'terminated');
    expect(of('dead', 'poison').map((d) => d.deliveryCount)).toEqual([1]);
    // The two are handled concurrently, so their letters may land in either order: find each by id.
    const info = await jsm.streams.info(STREAMS.deadLetters.name);
    const letters = new Map<string, Awaited<ReturnType<typeof jsm.streams.getMessage>>>();
    for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
      const message = await jsm.streams.getMessage(STREAMS.deadLetters.name, { seq }).catch(() => undefined);
      const id = message?.header.get(DEAD_LETTER_HEADERS.originalMsgId);
      if (message && id) letters.set(id, message);
    }
    for (const id of ['p1', 'p2']) expect(letters.get(id)?.header.get(DEAD_LETTER_HEADERS.reason)).toBe('PoisonMessage');
    expect(letters.get('p2')?.header.get(DEAD_LETTER_HEADERS.error)).toMatch(/not valid JSON/);
  });

  it('keeps a handler that runs longer than ack wait from being redelivered', async () => {
    await publish('slow', { id: 's1' }, 's1');

    await waitFor(async () => of('slow', 's1').length === 1 && (await pendingOf('slow')) === 0, 8_000, 'slow ack');
    expect(of('slow', 's1').map((d) => d.deliveryCount)).toEqual([1]);
  });

  it('shares one durable consumer between two instances, each message handled exactly once', async () => {
    const ids = Array.from({ length: 40 }, (_, i) => `m${i}`);
    for (const id of ids) await publish('shared', { id }, id);

    await waitFor(async () => of('shared').length >= ids.length && (await pendingOf('shared')) === 0, 10_000, 'all handled');
    await sleep(300);
    const handled = of('shared');
    expect(handled.map((d) => d.id).sort()).toEqual([...ids].sort());
    expect(handled.every((d) => d.deliveryCount === 1)).toBe(true);
    expect(handled.filter((d) => d.instance === 'a').length).toBeGreaterThan(0);
    expect(handled.filter((d) => d.instance === 'b').length).toBeGreaterThan(0);
  });

  it('declares a durable consumer again when the server has lost it, and goes on handling its messages', async () => {
    // Given the 'ok' consumer gone from the server behind both instances' backs, after its floor passed a message,
    await publish('ok', { id: 'before-loss' }, 'before-loss');
    await waitFor(async () => of('ok', 'before-loss').length === 1 && (await pendingOf('ok')) === 0, 5_000, 'the first one acked');
    await sleep(5_500); // the guard has read the ack floor since
    await jsm.consumers.delete(STREAM, 'ok');

    // When a message comes,
    await publish('ok', { id: 'after-loss' }, 'after-loss');

    // Then the consumer is declared again (its checks run every 5 s) and the message handled once; the one acked before is not handled again.
    await waitFor(() => of('ok', 'after-loss').length === 1, 20_000, 'the message after the loss handled');
    await waitFor(async () => (await pendingOf('ok')) === 0, 5_000, 'its ack');
    expect(of('ok', 'before-loss')).toHaveLength(1);
    expect((await jsm.consumers.info(STREAM, 'ok')).config).toMatchObject({ durable_name: 'ok', ack_policy: 'explicit', max_deliver: 4 });
  }, 40_000);
});
