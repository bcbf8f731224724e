import 'reflect-metadata';
import { Controller, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { EventPattern } from '@nestjs/microservices';
import { serverUrls } from '@s1c/test-harness';
import { describe, expect, it } from 'vitest';
import { JetStreamConsumer } from './jetstream-consumer.decorator';
import { NatsTransport } from './nats.transport';
import { uniqueName } from './testing/messaging.test-kit';

const STREAM = uniqueName('STARTUP');

@Controller()
class TwoHandlersOneDurable {
  @EventPattern('first', { jetstream: { stream: STREAM, durable: 'same', maxDeliver: 3, ackWaitMs: 5_000 } })
  first(): void {}

  @EventPattern('second', { jetstream: { stream: STREAM, durable: 'same', maxDeliver: 3, ackWaitMs: 5_000 } })
  second(): void {}
}

@Controller()
class PlainEvent {
  @EventPattern('s1c.something')
  on(): void {}
}

@Controller()
class UnboundedRetries {
  @JetStreamConsumer({ stream: STREAM, durable: 'forever', maxDeliver: -1, ackWaitMs: 5_000 })
  on(): void {}
}

async function start(controller: new () => unknown): Promise<void> {
  @Module({ controllers: [controller] })
  class AppModule {}
  const strategy = new NatsTransport({
    connection: { url: serverUrls().natsUrl, name: 'startup-test' },
    streams: [{ name: STREAM, subjects: [`${STREAM}.>`] }],
  });
  const app = await NestFactory.createMicroservice(AppModule, { strategy, logger: false });
  try {
    await app.listen();
  } finally {
    await app.close();
  }
}

describe('NatsTransport start-up checks', () => {
  it('fails when two handlers share one durable consumer', async () => {
    await expect(start(TwoHandlersOneDurable)).rejects.toThrow(`more than one handler for consumer ${STREAM}/same`);
  });

  it('fails for an event handler without jetstream options', async () => {
    await expect(start(PlainEvent)).rejects.toThrow(/no jetstream options/);
  });

  it('fails for a consumer without a finite maxDeliver', async () => {
    await expect(start(UnboundedRetries)).rejects.toThrow(/maxDeliver must be a finite integer/);
  });
});
