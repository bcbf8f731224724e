import { scrubString } from '@s1c/logger';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { mongoConnectionOf, natsConnectionOf } from './connections';
import { commonEnvShape } from './env.schema';
import { ConfigError, loadConfig } from './load-config';

const dir = mkdtempSync(join(tmpdir(), 's1c-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const fileWith = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};
const problemsOf = (source: Record<string, string>): readonly string[] => {
  try {
    loadConfig(commonEnvShape, source);
    return [];
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
};

describe('NATS and MongoDB connection settings', () => {
  it('takes the NATS user and password, or the password from a file, and hides it from logs', () => {
    const direct = natsConnectionOf(loadConfig(commonEnvShape, { NATS_USER: 'registry', NATS_PASSWORD: 'pw-direct-123456' }));
    expect(direct).toEqual({ url: 'nats://127.0.0.1:4222', user: 'registry', pass: 'pw-direct-123456' });
    const fromFile = natsConnectionOf(loadConfig(commonEnvShape, { NATS_USER: 'registry', NATS_PASSWORD_FILE: fileWith('nats.pw', 'pw-from-file-654321\n') }));
    expect(fromFile.pass).toBe('pw-from-file-654321');
    expect(scrubString('connecting with pw-direct-123456 and pw-from-file-654321')).toBe('connecting with [REDACTED] and [REDACTED]');
  });

  it('takes the servers of a cluster as a comma-separated NATS_URL, and refuses a list with a bad member', () => {
    const list = 'nats://n1:4222, nats://u:list-secret-77@n2:4222,nats://n3:4222';
    expect(natsConnectionOf(loadConfig(commonEnvShape, { NATS_URL: list })).url).toBe(list);
    expect(scrubString('list-secret-77')).toBe('[REDACTED]');
    expect(natsConnectionOf(loadConfig(commonEnvShape, { NATS_URL: 'nats://n1:4222,tls://n2:4222' })).tls).toEqual({});
    expect(problemsOf({ NATS_URL: 'nats://n1:4222,http://n2:4222' })).toEqual([
      'NATS_URL: must be a URL starting with nats:// or tls:// or ws:// or wss://, or a comma-separated list of them',
    ]);
    expect(problemsOf({ NATS_URL: 'nats://n1:4222,' })).toHaveLength(1);
  });

  it('takes the stream replicas (1 by default, at most 5) and the MongoDB write and read concerns', () => {
    expect(loadConfig(commonEnvShape, {}).S1C_STREAM_REPLICAS).toBe(1);
    expect(loadConfig(commonEnvShape, { S1C_STREAM_REPLICAS: '3' }).S1C_STREAM_REPLICAS).toBe(3);
    for (const bad of ['0', '6', '2.5', 'three']) expect(problemsOf({ S1C_STREAM_REPLICAS: bad })).toHaveLength(1);
    expect(mongoConnectionOf(loadConfig(commonEnvShape, { S1C_MONGO_WRITE_CONCERN: '2', S1C_MONGO_READ_CONCERN: 'local' })).concerns).toEqual({ write: 2, read: 'local' });
    expect(mongoConnectionOf(loadConfig(commonEnvShape, { S1C_MONGO_WRITE_CONCERN: 'majority' })).concerns).toEqual({ write: 'majority', read: 'majority' });
    expect(problemsOf({ S1C_MONGO_WRITE_CONCERN: 'all' })).toHaveLength(1);
    expect(problemsOf({ S1C_MONGO_READ_CONCERN: 'linearizable' })).toHaveLength(1);
  });

  it('turns TLS on for a CA file or a tls:// URL', () => {
    const ca = fileWith('ca.pem', 'x');
    expect(natsConnectionOf(loadConfig(commonEnvShape, { NATS_TLS_CA_FILE: ca })).tls).toEqual({ caFile: ca });
    expect(natsConnectionOf(loadConfig(commonEnvShape, { NATS_URL: 'tls://nats:4222' })).tls).toEqual({});
    expect(natsConnectionOf(loadConfig(commonEnvShape, {})).tls).toBeUndefined();
  });

  it('gives MongoDB the user, the TLS files, and hides a password in the URL', () => {
    const bundle = fileWith('client.pem', 'x');
    const settings = mongoConnectionOf(
      loadConfig(commonEnvShape, { MONGO_URL: 'mongodb://u:url-secret-99@db:27017/', MONGO_USER: 's1c', MONGO_PASSWORD: 'mongo-pw-4242', MONGO_TLS_CERT_KEY_FILE: bundle }),
    );
    expect(settings).toEqual({
      url: 'mongodb://u:url-secret-99@db:27017/',
      concerns: { write: 'majority', read: 'majority' },
      auth: { username: 's1c', password: 'mongo-pw-4242' },
      tls: { certKeyFile: bundle },
    });
    expect(scrubString('url-secret-99 mongo-pw-4242')).toBe('[REDACTED] [REDACTED]');
  });

  it('names each variable that is missing its partner, doubled, or not a readable file', () => {
    expect(problemsOf({ NATS_PASSWORD: 'x' })).toEqual(['NATS_USER: is required when a NATS password is set']);
    expect(problemsOf({ NATS_USER: 'registry' })).toEqual(['NATS_PASSWORD: is required when NATS_USER is set (or NATS_PASSWORD_FILE)']);
    expect(problemsOf({ NATS_USER: 'registry', NATS_PASSWORD: 'x', NATS_PASSWORD_FILE: fileWith('p', 'y') })).toEqual([
      'NATS_PASSWORD_FILE: set either NATS_PASSWORD or NATS_PASSWORD_FILE, not both',
    ]);
    expect(problemsOf({ NATS_TLS_KEY_FILE: fileWith('k', 'x') })).toEqual(['NATS_TLS_CERT_FILE: a client certificate needs both NATS_TLS_CERT_FILE and NATS_TLS_KEY_FILE']);
    expect(problemsOf({ MONGO_USER: 's1c' })).toEqual(['MONGO_PASSWORD: is required when MONGO_USER is set (or MONGO_PASSWORD_FILE)']);
    expect(problemsOf({ NATS_TLS_CA_FILE: join(dir, 'missing.pem'), NATS_USER: 'a.b', NATS_PASSWORD: 'x' })).toEqual([
      'NATS_USER: must be 1-64 letters, digits, "_" or "-"',
      'NATS_TLS_CA_FILE: must name a readable file',
    ]);
  });

  it('never echoes a password in its problems', () => {
    expect(problemsOf({ NATS_PASSWORD: 'very-secret-value' }).join('\n')).not.toContain('very-secret-value');
  });
});
