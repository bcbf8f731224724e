import 'reflect-metadata';
import { Controller, Inject, Module, type DynamicModule, type INestMicroservice } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Ctx, MessagePattern, Payload } from '@nestjs/microservices';
import { serverUrls } from '@s1c/test-harness';
import { headers, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requestJson } from './command.client';
import { CommandContext } from './command.context';
import { CommandError } from '@s1c/contracts';
import { CommandRefusal } from './messaging.errors';
import { connectNats, drainNats } from './nats.connection';
import { NatsTransport } from './nats.transport';
import { captureLogger, uniqueName } from './testing/messaging.test-kit';

const P = uniqueName('cmd').toLowerCase();
const INSTANCE = 'INSTANCE';

@Controller()
class SourcesController {
  constructor(@Inject(INSTANCE) private readonly instance: string) {}

  @MessagePattern(`${P}.get`)
  get(@Payload() body: string, @Ctx() ctx: CommandContext): unknown {
    return { ok: true, body, parsed: ctx.json(), subject: ctx.subject, caller: ctx.header('S1c-Caller') ?? null, instance: this.instance };
  }

  @MessagePattern(`${P}.boom`)
  boom(): never {
    throw new Error('mongodb://admin:hunter2@db failed');
  }

  @MessagePattern(`${P}.create`)
  async create(): Promise<never> {
    await Promise.resolve();
    throw new CommandRefusal(new CommandError('DuplicateResourceName', 'a source named "soc" already exists', [{ path: 'name', message: 'is taken' }]));
  }

  @MessagePattern(`${P}.parse`)
  parse(@Ctx() ctx: CommandContext): unknown {
    return { ok: true, value: ctx.json() ?? null };
  }
}

@Controller()
class DuplicateController {
  @MessagePattern(`${P}.get`)
  get(): unknown {
    return { ok: true };
  }
}

function appModule(instance: string, controllers: Array<new (...args: never[]) => unknown> = [SourcesController]): DynamicModule {
  @Module({})
  class AppModule {}
  return { module: AppModule, controllers, providers: [{ provide: INSTANCE, useValue: instance }] };
}

async function startApp(instance: string, options: { controllers?: Array<new (...args: never[]) => unknown>; maxPayloadBytes?: number } = {}) {
  const logger = captureLogger();
  const strategy = new NatsTransport({
    connection: { url: serverUrls().natsUrl, name: `commands-${instance}` },
    queueGroup: `${P}-service`,
    logger,
    streams: [],
    maxPayloadBytes: options.maxPayloadBytes,
  });
  const app = await NestFactory.createMicroservice(appModule(instance, options.controllers), { strategy, logger: false });
  await app.listen();
  return { app, logger };
}

describe('NatsTransport commands (request/reply)', () => {
  let nc: NatsConnection;
  let a: INestMicroservice;
  let b: INestMicroservice;

  beforeAll(async () => {
    nc = await connectNats({ url: serverUrls().natsUrl, name: 'commands-client' });
    a = (await startApp('a', { maxPayloadBytes: 1024 })).app;
    b = (await startApp('b', { maxPayloadBytes: 1024 })).app;
  });
  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()]);
    await drainNats(nc);
  });

  it('answers plain JSON with plain JSON, giving the handler the body, subject and headers', async () => {
    const h = headers();
    h.set('S1c-Caller', 'alice');
    const reply = await nc.request(`${P}.get`, JSON.stringify({ id: 'x' }), { timeout: 2000, headers: h });

    expect(reply.json()).toMatchObject({ ok: true, body: '{"id":"x"}', parsed: { id: 'x' }, subject: `${P}.get`, caller: 'alice' });
  });

  it('refuses a body above the limit before the handler runs', async () => {
    const reply = await requestJson(nc, `${P}.get`, { blob: 'x'.repeat(2000) }, { timeoutMs: 2000 });

    expect(reply).toEqual({
      ok: false,
      error: { code: 'PayloadTooLarge', message: expect.stringContaining('1024'), details: [{ path: '(payload)', message: 'must be at most 1024 bytes' }] },
    });
  });

  it('turns an unexpected error into InternalError without stack or internals', async () => {
    const raw = (await nc.request(`${P}.boom`, '{}', { timeout: 2000 })).string();

    expect(JSON.parse(raw)).toEqual({ ok: false, error: { code: 'InternalError', message: 'Internal server error' } });
    expect(raw).not.toMatch(/hunter2|stack|at .*\.ts/);
  });

  it('replies a CommandError with its code, message and details', async () => {
    const reply = await requestJson(nc, `${P}.create`, {}, { timeoutMs: 2000 });

    expect(reply).toEqual({
      ok: false,
      error: { code: 'DuplicateResourceName', message: 'a source named "soc" already exists', details: [{ path: 'name', message: 'is taken' }] },
    });
  });

  it('replies InvalidJson when the handler parses a body that is not JSON', async () => {
    const reply = (await nc.request(`${P}.parse`, 'not json', { timeout: 2000 })).json<{ ok: boolean; error: { code: string } }>();
    const empty = (await nc.request(`${P}.parse`, '', { timeout: 2000 })).json();

    expect(reply.error.code).toBe('InvalidJson');
    expect(empty).toEqual({ ok: true, value: null });
  });

  it('shares requests between two instances in one queue group, each answered once', async () => {
    const replies = await Promise.all(
      Array.from({ length: 30 }, (_, i) => requestJson<{ instance: string }>(nc, `${P}.get`, { i }, { timeoutMs: 2000 })),
    );

    const counts = replies.reduce<Record<string, number>>((acc, r) => ({ ...acc, [r.instance]: (acc[r.instance] ?? 0) + 1 }), {});
    expect(counts.a).toBeGreaterThan(0);
    expect(counts.b).toBeGreaterThan(0);
    expect((counts.a ?? 0) + (counts.b ?? 0)).toBe(30);
  });

  it('fails start-up when two handlers claim one pattern', async () => {
    await expect(startApp('dup', { controllers: [SourcesController, DuplicateController] })).rejects.toThrow(/more than one handler/);
  });
});
