/**
 * Issue 9: MongoDB with authentication, configured the way a service is (MONGO_USER and
 * MONGO_PASSWORD or MONGO_PASSWORD_FILE, parsed by @s1c/config, connected by connectMongo), on
 * FerretDB with authentication required. A built service started with the right password runs,
 * with a wrong one it exits naming the failure; the password never reaches its output.
 */
import { commonEnvShape, loadConfig, mongoConnectionOf } from '@s1c/config';
import { connectMongo } from '@s1c/event-store';
import { serverUrls, startFerretDb, type RunningServer } from '@s1c/test-harness';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startService } from './service.process';

const DATABASE = 'sonecollector';
const USER = 's1c';
const PASSWORD = `p${randomBytes(16).toString('hex')}`;
let ferret: RunningServer;
let dir: string;
const url = () => `mongodb://127.0.0.1:${ferret.port}/?authSource=${DATABASE}&serverSelectionTimeoutMS=3000`;
const connectWith = (variables: Record<string, string>) => connectMongo(mongoConnectionOf(loadConfig(commonEnvShape, variables)));

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 's1c-mongo-auth-'));
  ferret = await startFerretDb({ auth: { username: USER, password: PASSWORD, database: DATABASE } });
}, 60_000);

afterAll(async () => {
  await ferret?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('MongoDB with authentication', () => {
  it('connects as the user from MONGO_USER and MONGO_PASSWORD, or the password from a file', async () => {
    const passwordFile = join(dir, 'mongo.pw');
    writeFileSync(passwordFile, `${PASSWORD}\n`);
    const settings: Array<Record<string, string>> = [
      { MONGO_URL: url(), MONGO_USER: USER, MONGO_PASSWORD: PASSWORD },
      { MONGO_URL: url(), MONGO_USER: USER, MONGO_PASSWORD_FILE: passwordFile },
    ];
    for (const variables of settings) {
      const client = await connectWith(variables);
      try {
        expect((await client.db(DATABASE).collection('probe').insertOne({ ok: true })).acknowledged).toBe(true);
      } finally {
        await client.close();
      }
    }
  });

  it('is refused with a wrong password, and without a user', async () => {
    await expect(connectWith({ MONGO_URL: url(), MONGO_USER: USER, MONGO_PASSWORD: 'pWrong0123456789' })).rejects.toThrow(/Authentication failed/);
    const anonymous = await connectWith({ MONGO_URL: url() });
    try {
      await expect(anonymous.db(DATABASE).collection('probe').insertOne({ ok: false })).rejects.toThrow(/requires authentication/);
    } finally {
      await anonymous.close();
    }
  });

  it('runs a service with the password, and stops one with a wrong password, never printing either', async () => {
    const env = { NATS_URL: serverUrls().natsUrl, MONGO_URL: url(), MONGO_USER: USER, S1C_DB_NAME: DATABASE, LOG_LEVEL: 'info', S1C_HEALTH_PORT: '0', S1C_HEALTH_HOST: '127.0.0.1' };
    const good = startService('health', { ...env, MONGO_PASSWORD: PASSWORD });
    try {
      await good.waitForOutput(/health started/, 60_000);
    } finally {
      await good.stop();
    }
    const wrong = 'pWrong0123456789abcdef';
    const bad = startService('health', { ...env, MONGO_PASSWORD: wrong });
    expect(await bad.exited()).toBe(1);
    expect(bad.output()).toMatch(/Authentication failed/);
    for (const output of [good.output(), bad.output()]) {
      expect(output).not.toContain(PASSWORD);
      expect(output).not.toContain(wrong);
    }
  }, 90_000);
});
