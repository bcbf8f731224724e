import { startNatsServer, type RunningServer } from '@s1c/test-harness';
import { connect, type NatsConnection, type Subscription } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGatewayUnderTest, type GatewayUnderTest } from './testing/gateway.harness';

/** A NATS server of its own, where the test decides who answers the commands (or nobody). */
describe('the HTTP source API when the registry is not there or misbehaves', () => {
  let nats: RunningServer;
  let gw: GatewayUnderTest;
  let nc: NatsConnection;
  const get = (headers: Record<string, string> = {}) => gw.request('GET', '/api/v1/collectors/default/sources/some-source', { headers });

  /**
   * Answers every source command with `reply` (or never, for undefined) and records the
   * correlation ids. The flush makes the server know the subscription before the gateway asks.
   */
  const respond = async (reply: string | undefined, seen: string[] = []): Promise<{ unsubscribe(): Promise<void> }> => {
    const sub: Subscription = nc.subscribe('s1c.cmd.source.*', {
      callback: (_error, msg) => {
        seen.push(msg.headers?.get('S1c-Correlation-Id') ?? '');
        if (reply !== undefined) msg.respond(new TextEncoder().encode(reply));
      },
    });
    await nc.flush();
    return {
      async unsubscribe() {
        sub.unsubscribe();
        await nc.flush();
      },
    };
  };

  beforeAll(async () => {
    nats = await startNatsServer();
    gw = await startGatewayUnderTest({ natsUrl: nats.url, commandTimeout: '500ms' });
    nc = await connect({ servers: nats.url });
  });
  afterAll(async () => {
    await nc?.close();
    await gw?.close();
    await nats?.stop();
  });

  it('is 503 with Retry-After when no registry is running', async () => {
    const response = await get();
    expect(response.status).toBe(503);
    expect(response.headers.get('retry-after')).toBe('5');
    expect(response.body).toMatchObject({ status: 503, code: 'Unavailable', message: expect.stringMatching(/registry is not running/) });
    expect((await gw.request('GET', '/healthz')).status).toBe(200);
  });

  it('is 504 when the registry does not answer in time', async () => {
    const sub = await respond(undefined);
    try {
      const response = await get();
      expect(response.status).toBe(504);
      expect(response.body).toMatchObject({ status: 504, code: 'GatewayTimeout' });
    } finally {
      await sub.unsubscribe();
    }
  });

  it.each([
    ['InternalError', 500],
    ['Unavailable', 503],
    ['SomethingNewer', 500],
  ])('maps the registry refusal %s to %i, passing the request id as the correlation id', async (code, status) => {
    const seen: string[] = [];
    const sub = await respond(JSON.stringify({ ok: false, error: { code, message: `it said ${code}` } }), seen);
    try {
      const response = await get({ 'X-Request-Id': `req-${code}` });
      expect(response.status).toBe(status);
      expect(response.body).toEqual({ status, id: `req-${code}`, code, message: `it said ${code}`, errors: [{ code, message: `it said ${code}`, meta: {} }] });
      expect(seen).toEqual([`req-${code}`]);
    } finally {
      await sub.unsubscribe();
    }
  });

  it('is 502 when the reply is not a command reply', async () => {
    for (const reply of ['not json', JSON.stringify({ ok: true, something: 'else' })]) {
      const sub = await respond(reply);
      try {
        const response = await get();
        expect(response.status).toBe(502);
        expect(response.body).toMatchObject({ status: 502, code: 'BadGateway' });
      } finally {
        await sub.unsubscribe();
      }
    }
  });

  it('answers /healthz 503 once NATS is gone', async () => {
    await nats.stop({ keepData: true });
    const response = await gw.request('GET', '/healthz');
    expect(response.status).toBe(503);
    expect(response.body).toMatchObject({ status: 'unavailable', checks: { nats: { ok: false } } });
    const api = await get();
    expect([503, 504]).toContain(api.status);
  });
});
