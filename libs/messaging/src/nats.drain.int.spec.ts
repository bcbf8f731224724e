import 'reflect-metadata';
import { Controller, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { MessagePattern } from '@nestjs/microservices';
import { startFreezableProxy, startNatsServer, type FreezableProxy, type RunningServer } from '@s1c/test-harness';
import { afterEach, describe, expect, it } from 'vitest';
import { connectNats, DRAIN_TIMEOUT_MS, drainNats, isNatsConnected } from './nats.connection';
import { NatsTransport } from './nats.transport';
import { captureLogger, waitFor } from './testing/messaging.test-kit';

/** A stop must not wait for a server that is gone (killed) or does not answer (frozen): issue 13. */
describe('closing a NATS connection whose server is gone', () => {
  const cleanup: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step().catch(() => undefined);
  });

  async function ownServer(): Promise<RunningServer> {
    const server = await startNatsServer();
    cleanup.push(() => server.stop());
    return server;
  }

  async function frozenLater(server: RunningServer): Promise<FreezableProxy> {
    const proxy = await startFreezableProxy(server.port);
    cleanup.push(() => proxy.close());
    return proxy;
  }

  it('drains a healthy connection: messages already received are handled, then it is closed', async () => {
    const server = await ownServer();
    const nc = await connectNats({ url: server.url, name: 'drain-healthy' });
    const seen: string[] = [];
    nc.subscribe('drain.test', { callback: (_error, msg) => seen.push(msg.string()) });
    for (let i = 0; i < 100; i++) nc.publish('drain.test', String(i));
    await nc.flush();
    await drainNats(nc);
    expect(nc.isClosed()).toBe(true);
    expect(seen).toHaveLength(100);
  });

  it('closes at once when the server was killed (no drain: nothing could answer its flush)', async () => {
    const server = await ownServer();
    const logger = captureLogger();
    const nc = await connectNats({ url: server.url, name: 'drain-killed', logger });
    cleanup.push(() => nc.close());
    nc.subscribe('drain.test', { callback: () => undefined });
    expect(isNatsConnected(nc)).toBe(true);
    await server.kill();
    await waitFor(() => !isNatsConnected(nc), 10_000, 'the disconnect');
    const started = Date.now();
    await drainNats(nc);
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(nc.isClosed()).toBe(true);
    expect(isNatsConnected(nc)).toBe(false);
  });

  it('gives up a drain the server never answers after the timeout, and closes', async () => {
    const server = await ownServer();
    const proxy = await frozenLater(server);
    const nc = await connectNats({ url: `nats://127.0.0.1:${proxy.port}`, name: 'drain-frozen' });
    cleanup.push(() => nc.close());
    nc.subscribe('drain.test', { callback: () => undefined });
    proxy.freeze();
    // A frozen server looks connected until pings go unanswered (a minute).
    expect(isNatsConnected(nc)).toBe(true);
    const started = Date.now();
    await drainNats(nc, { timeoutMs: 500 });
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(450);
    expect(elapsed).toBeLessThan(3_000);
    expect(nc.isClosed()).toBe(true);
  });

  it("the transport's close does not wait for a frozen server either", async () => {
    @Controller()
    class PingController {
      @MessagePattern('s1c.cmd.source.get')
      get(): unknown {
        return { ok: true };
      }
    }
    @Module({ controllers: [PingController] })
    class PingModule {}

    const server = await ownServer();
    const proxy = await frozenLater(server);
    const strategy = new NatsTransport({ connection: { url: `nats://127.0.0.1:${proxy.port}`, name: 'transport-frozen' }, logger: captureLogger(), streams: [] });
    const app = await NestFactory.createMicroservice(PingModule, { strategy, logger: false });
    await app.listen();
    proxy.freeze();
    const started = Date.now();
    await app.close();
    // The command subscriptions' drain, then the connection's: each bounded.
    expect(Date.now() - started).toBeLessThan(2 * DRAIN_TIMEOUT_MS + 3_000);
    expect(strategy.unwrap().isClosed()).toBe(true);
  });
});
