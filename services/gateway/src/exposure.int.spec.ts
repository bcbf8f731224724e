import { ConfigError } from '@s1c/config';
import { createLogger } from '@s1c/logger';
import { serverUrls } from '@s1c/test-harness';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { startGateway, type GatewayRuntime } from './gateway.app';
import { loadGatewayConfig } from './gateway.config';

/**
 * The gateway listening beyond loopback: on 0.0.0.0 it starts only with an API token or an
 * explicit S1C_ALLOW_ANONYMOUS=true; on loopback it needs neither. Real NATS, real HTTP.
 */
describe('the gateway on an interface beyond loopback', () => {
  const TOKEN = 'exposure-test-token-0123456789';
  const dir = mkdtempSync(join(tmpdir(), 's1c-gateway-exposure-'));
  const running: GatewayRuntime[] = [];
  const lines: string[] = [];
  const logger = createLogger({
    name: 'gateway',
    level: 'debug',
    destination: new Writable({
      write(chunk, _encoding, done) {
        lines.push(chunk.toString());
        done();
      },
    }),
  });
  afterAll(async () => {
    for (const runtime of running) await runtime.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const start = async (env: Record<string, string>) => {
    const config = loadGatewayConfig({ NATS_URL: serverUrls().natsUrl, S1C_METRICS_PORT: '0', S1C_GATEWAY_PORT: '0', S1C_COMMAND_TIMEOUT: '2s', ...env });
    const runtime = await startGateway(config, { logger });
    running.push(runtime);
    return runtime;
  };
  /** The status of a source read: 401 without a valid token, else what the (absent) registry makes of it. */
  const statusOf = async (runtime: GatewayRuntime, token?: string) =>
    (await fetch(new URL('/api/v1/collectors/default/sources/some-source', runtime.url), { headers: token ? { Authorization: `Bearer ${token}` } : {} })).status;
  const boundTo = (runtime: GatewayRuntime) => (runtime.app.getHttpServer().address() as AddressInfo).address;

  it('refuses to start on 0.0.0.0 without a token, naming the variables to set', () => {
    let error: unknown;
    try {
      loadGatewayConfig({ NATS_URL: serverUrls().natsUrl, S1C_GATEWAY_HOST: '0.0.0.0' });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as ConfigError).message;
    for (const name of ['S1C_GATEWAY_HOST', 'S1C_API_TOKEN', 'S1C_API_TOKENS', 'S1C_API_TOKENS_FILE', 'S1C_ALLOW_ANONYMOUS=true']) expect(message).toContain(name);
  });

  it('refuses to start on 0.0.0.0 when the token file holds no token', async () => {
    const file = join(dir, 'tokens');
    writeFileSync(file, '# nobody yet\n');
    const config = loadGatewayConfig({ NATS_URL: serverUrls().natsUrl, S1C_METRICS_PORT: '0', S1C_GATEWAY_PORT: '0', S1C_GATEWAY_HOST: '0.0.0.0', S1C_API_TOKENS_FILE: file });
    await expect(startGateway(config, { logger })).rejects.toThrow(ConfigError);
    await expect(startGateway(config, { logger })).rejects.toThrow(/S1C_GATEWAY_HOST: listens on 0\.0\.0\.0, beyond loopback, without an API token/);
  });

  it('starts on 0.0.0.0 with a token, and asks every request for it', async () => {
    const runtime = await start({ S1C_GATEWAY_HOST: '0.0.0.0', S1C_API_TOKEN: TOKEN });
    expect(boundTo(runtime)).toBe('0.0.0.0');
    expect(await statusOf(runtime)).toBe(401);
    expect(await statusOf(runtime, TOKEN)).toBe(503); // past authentication; no registry runs here
  });

  it('starts on 0.0.0.0 without a token when S1C_ALLOW_ANONYMOUS=true, and says so in its log', async () => {
    const runtime = await start({ S1C_GATEWAY_HOST: '0.0.0.0', S1C_ALLOW_ANONYMOUS: 'true' });
    expect(boundTo(runtime)).toBe('0.0.0.0');
    expect(await statusOf(runtime)).toBe(503);
    expect(lines.join('')).toContain('the gateway takes commands from anyone who reaches it');
  });

  it('starts on 127.0.0.1 without a token, as `npm start` runs it', async () => {
    const runtime = await start({});
    expect(boundTo(runtime)).toBe('127.0.0.1');
    expect(await statusOf(runtime)).toBe(503);
  });
});
