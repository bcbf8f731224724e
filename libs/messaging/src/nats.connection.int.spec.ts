import 'reflect-metadata';
import { Controller, Module, type INestMicroservice } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Ctx, MessagePattern } from '@nestjs/microservices';
import { startNatsServer, type RunningServer } from '@s1c/test-harness';
import { type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requestJson } from './command.client';
import { JetStreamConsumer } from './jetstream-consumer.decorator';
import { JetStreamContext } from './jetstream.context';
import { publishJson } from './jetstream.publisher';
import { connectNats, drainNats } from './nats.connection';
import { NatsTransport } from './nats.transport';
import { captureLogger, sleep, waitFor } from './testing/messaging.test-kit';

const handled: string[] = [];
let slowStarted = false;

@Controller()
class PingController {
  @MessagePattern('s1c.cmd.source.get')
  get(): unknown {
    return { ok: true, pong: true };
  }

  @JetStreamConsumer({ stream: 'S1C_JOBS', durable: 'restart-test', filterSubject: 's1c.job.activities', maxDeliver: 5, ackWaitMs: 5_000 })
  async job(@Ctx() ctx: JetStreamContext): Promise<void> {
    const { id, slow } = ctx.json<{ id: string; slow?: boolean }>();
    if (slow) {
      slowStarted = true;
      await sleep(1_000);
    }
    handled.push(id);
  }
}

@Module({ controllers: [PingController] })
class PingModule {}

describe('a service across a nats-server restart', () => {
  let server: RunningServer;
  let client: NatsConnection;
  let app: INestMicroservice;
  const logger = captureLogger();
  const clientLogger = captureLogger();

  beforeAll(async () => {
    server = await startNatsServer();
    client = await connectNats({ url: server.url, name: 'restart-client', logger: clientLogger, reconnectTimeWaitMs: 200 });
    const strategy = new NatsTransport({
      connection: { url: server.url, name: 'restart-service', reconnectTimeWaitMs: 200 },
      logger,
      fetchExpiresMs: 1_000,
    });
    app = await NestFactory.createMicroservice(PingModule, { strategy, logger: false });
    await app.listen();
  });
  afterAll(async () => {
    await app?.close();
    if (client) await drainNats(client);
    await server?.stop();
  });

  it('reconnects, logs the outage and serves commands and JetStream messages again', async () => {
    expect(await requestJson(client, 's1c.cmd.source.get', { id: 'x' }, { timeoutMs: 2000 })).toEqual({ ok: true, pong: true });
    await publishJson(client.jetstream(), 's1c.job.activities', { id: 'before' }, { msgId: 'before' });
    await waitFor(() => handled.includes('before'), 5_000, 'job before restart');
    // The ack is on its way, not yet on the server: a restart now would redeliver the job (rightly).
    const jsm = await client.jetstreamManager();
    await waitFor(
      async () => {
        const consumers = await jsm.consumers.list('S1C_JOBS').next();
        return consumers.length > 0 && consumers.every((c) => c.num_ack_pending === 0 && c.num_pending === 0) ? true : undefined;
      },
      5_000,
      'the ack on the server',
    );

    await server.restart();

    await waitFor(() => logger.lines.some((l) => l.msg === 'nats reconnected'), 15_000, 'service reconnect');
    expect(logger.lines.some((l) => l.level === 'warn' && l.msg === 'nats disconnected')).toBe(true);
    const reply = await waitFor(
      () => requestJson(client, 's1c.cmd.source.get', {}, { timeoutMs: 1000 }).catch(() => undefined),
      15_000,
      'a reply after restart',
    );
    expect(reply).toEqual({ ok: true, pong: true });
    await waitFor(
      () => publishJson(client.jetstream(), 's1c.job.activities', { id: 'after' }, { msgId: 'after' }).catch(() => undefined),
      15_000,
      'publish after restart',
    );
    await waitFor(() => handled.includes('after'), 15_000, 'job after restart');
    expect(handled.filter((id) => id === 'before')).toHaveLength(1);
  });

  it('on close, waits for the handler in flight to finish and ack', async () => {
    await publishJson(client.jetstream(), 's1c.job.activities', { id: 'in-flight', slow: true }, { msgId: 'in-flight' });
    await waitFor(() => slowStarted, 5_000, 'slow job start');

    await app.close();

    expect(handled).toContain('in-flight');
    const jsm = await client.jetstreamManager();
    const info = await jsm.consumers.info('S1C_JOBS', 'restart-test');
    expect(info.num_ack_pending + info.num_pending).toBe(0);
  });
});
