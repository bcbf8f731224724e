import { ConfigError } from '@s1c/config';
import { createLogger } from '@s1c/logger';
import { serverUrls, uniqueDbName } from '@s1c/test-harness';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { startHealth, type HealthRuntime } from './health.app';
import { loadHealthConfig } from './health.config';

/**
 * The health service listening beyond loopback: on 0.0.0.0 it starts only with S1C_API_TOKEN or
 * an explicit S1C_ALLOW_ANONYMOUS=true; on loopback it needs neither. Real NATS and FerretDB.
 */
describe('the health service on an interface beyond loopback', () => {
  const TOKEN = 'health-exposure-token-0123456789';
  const running: HealthRuntime[] = [];
  const lines: string[] = [];
  const logger = createLogger({
    name: 'health',
    level: 'debug',
    destination: new Writable({
      write(chunk, _encoding, done) {
        lines.push(chunk.toString());
        done();
      },
    }),
  });
  const dbName = uniqueDbName('healthexp');
  const base = () => ({ NATS_URL: serverUrls().natsUrl, MONGO_URL: serverUrls().mongoUrl, S1C_DB_NAME: dbName, S1C_HEALTH_PORT: '0' });
  afterAll(async () => {
    for (const runtime of running) await runtime.close();
  });

  const start = async (env: Record<string, string>) => {
    const runtime = await startHealth(loadHealthConfig({ ...base(), ...env }), { logger });
    running.push(runtime);
    await runtime.readModel.catchUp();
    return runtime;
  };
  const statusOf = async (runtime: HealthRuntime, token?: string) =>
    (await fetch(new URL('/api/v1/sources', runtime.url), { headers: token ? { Authorization: `Bearer ${token}` } : {} })).status;
  const boundTo = (runtime: HealthRuntime) => (runtime.app.getHttpServer().address() as AddressInfo).address;

  it('refuses to start on 0.0.0.0 without a token, naming the variables to set', () => {
    let error: unknown;
    try {
      loadHealthConfig({ ...base(), S1C_HEALTH_HOST: '0.0.0.0' });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as ConfigError).message;
    expect(message).toMatch(/S1C_HEALTH_HOST: listens on 0\.0\.0\.0, beyond loopback, without an API token/);
    for (const name of ['S1C_API_TOKEN', 'S1C_HEALTH_HOST=127.0.0.1', 'S1C_ALLOW_ANONYMOUS=true']) expect(message).toContain(name);
  });

  it('starts on 0.0.0.0 with a token, and asks the API for it', async () => {
    const runtime = await start({ S1C_HEALTH_HOST: '0.0.0.0', S1C_API_TOKEN: TOKEN });
    expect(boundTo(runtime)).toBe('0.0.0.0');
    expect(await statusOf(runtime)).toBe(401);
    expect(await statusOf(runtime, TOKEN)).toBe(200);
  });

  it('starts on 0.0.0.0 without a token when S1C_ALLOW_ANONYMOUS=true, and says so in its log', async () => {
    const runtime = await start({ S1C_HEALTH_HOST: '0.0.0.0', S1C_ALLOW_ANONYMOUS: 'true' });
    expect(boundTo(runtime)).toBe('0.0.0.0');
    expect(await statusOf(runtime)).toBe(200);
    expect(lines.join('')).toContain('the health API answers anyone who reaches it');
  });

  it('starts on 127.0.0.1 without a token, as `npm start` runs it', async () => {
    const runtime = await start({});
    expect(boundTo(runtime)).toBe('127.0.0.1');
    expect(await statusOf(runtime)).toBe(200);
  });
});
