/**
 * Issue 9: TLS to NATS and to MongoDB, configured the way a service is (the environment, parsed by
 * @s1c/config, connected by the project's own connectNats / connectMongo), against a nats-server
 * that verifies client certificates and FerretDB's TLS listener. The certificates are made here
 * with openssl: a CA, a server and a client certificate signed by it, and an unrelated CA.
 */
import { commonEnvShape, loadConfig, mongoConnectionOf, natsConnectionOf } from '@s1c/config';
import { connectMongo } from '@s1c/event-store';
import { connectNats, drainNats } from '@s1c/messaging';
import { startFerretDb, startNatsServer, type RunningServer } from '@s1c/test-harness';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let dir: string;
let nats: RunningServer;
let ferret: RunningServer;
const file = (name: string) => join(dir, name);

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A self-signed CA: `<name>.pem` and `<name>.key`. */
function makeCa(name: string): void {
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '1', '-subj', `/CN=${name}`);
}

/** A certificate for 127.0.0.1 signed by `ca`, for a server or a client: `<name>.pem` and `<name>.key`. */
function makeCert(name: string, ca: string, usage: 'serverAuth' | 'clientAuth'): void {
  openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
  writeFileSync(file(`${name}.ext`), `subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=${usage}\n`);
  openssl('x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-out', `${name}.pem`, '-days', '1', '-extfile', `${name}.ext`);
}

/** A service's configuration from an environment, as every service parses it. */
const configOf = (env: Record<string, string>) => loadConfig(commonEnvShape, env);

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 's1c-tls-'));
  makeCa('ca');
  makeCa('other-ca');
  makeCert('server', 'ca', 'serverAuth');
  makeCert('client', 'ca', 'clientAuth');
  makeCert('stranger', 'other-ca', 'clientAuth');
  // The MongoDB driver takes the client certificate and its key in one file.
  writeFileSync(file('client-bundle.pem'), readFileSync(file('client.pem'), 'utf8') + readFileSync(file('client.key'), 'utf8'));
  writeFileSync(file('stranger-bundle.pem'), readFileSync(file('stranger.pem'), 'utf8') + readFileSync(file('stranger.key'), 'utf8'));
  writeFileSync(
    file('nats-tls.conf'),
    `tls {\n  cert_file: "${file('server.pem')}"\n  key_file: "${file('server.key')}"\n  ca_file: "${file('ca.pem')}"\n  verify: true\n  timeout: 5\n}\n`,
  );
  nats = await startNatsServer({ configFile: file('nats-tls.conf') });
  ferret = await startFerretDb({ tls: { certFile: file('server.pem'), keyFile: file('server.key'), caFile: file('ca.pem') } });
}, 60_000);

afterAll(async () => {
  await nats?.stop();
  await ferret?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('TLS to NATS (nats-server with verify: true)', () => {
  const env = () => ({ NATS_URL: nats.url, NATS_TLS_CA_FILE: file('ca.pem'), NATS_TLS_CERT_FILE: file('client.pem'), NATS_TLS_KEY_FILE: file('client.key') });
  const connectWith = (variables: Record<string, string>) => connectNats({ ...natsConnectionOf(configOf(variables)), name: 'tls-test', connectTimeoutMs: 3000 });

  it('connects with the CA and a client certificate from the environment', async () => {
    const nc = await connectWith(env());
    try {
      expect(nc.info?.tls_required).toBe(true);
      expect(await nc.rtt()).toBeGreaterThanOrEqual(0);
    } finally {
      await drainNats(nc);
    }
  });

  it('is refused without a client certificate', async () => {
    await expect(connectWith({ NATS_URL: nats.url, NATS_TLS_CA_FILE: file('ca.pem') })).rejects.toThrow(/over TLS: .*refused the client certificate/);
  });

  it('is refused with a client certificate of another CA', async () => {
    await expect(connectWith({ ...env(), NATS_TLS_CERT_FILE: file('stranger.pem'), NATS_TLS_KEY_FILE: file('stranger.key') })).rejects.toThrow(/refused the client certificate/);
  });

  it('refuses to connect to a server its CA did not sign', async () => {
    await expect(connectWith({ ...env(), NATS_TLS_CA_FILE: file('other-ca.pem') })).rejects.toThrow(/certificate/i);
  });

  it('names the variable when a TLS file is missing or half of a pair', () => {
    expect(() => configOf({ ...env(), NATS_TLS_CA_FILE: file('nope.pem') })).toThrow(/NATS_TLS_CA_FILE: must name a readable file/);
    expect(() => configOf({ NATS_URL: nats.url, NATS_TLS_CERT_FILE: file('client.pem') })).toThrow(/NATS_TLS_KEY_FILE: a client certificate needs both/);
  });
});

describe("TLS to MongoDB (FerretDB's TLS listener, client certificates verified)", () => {
  const url = () => `mongodb://127.0.0.1:${ferret.port}/?serverSelectionTimeoutMS=3000`;
  const connectWith = (variables: Record<string, string>) => connectMongo(mongoConnectionOf(configOf(variables)));

  it('connects with the CA and a client certificate from the environment, and stores a document', async () => {
    const client = await connectWith({ MONGO_URL: url(), MONGO_TLS_CA_FILE: file('ca.pem'), MONGO_TLS_CERT_KEY_FILE: file('client-bundle.pem') });
    try {
      const collection = client.db('tlstest').collection('probe');
      await collection.insertOne({ _id: 'x' as never, ok: true });
      expect(await collection.findOne({ _id: 'x' as never })).toMatchObject({ ok: true });
    } finally {
      await client.close();
    }
  });

  it('also takes the TLS files as options of MONGO_URL', async () => {
    const client = await connectWith({ MONGO_URL: `${url()}&tls=true&tlsCAFile=${encodeURIComponent(file('ca.pem'))}&tlsCertificateKeyFile=${encodeURIComponent(file('client-bundle.pem'))}` });
    try {
      expect((await client.db('tlstest').command({ ping: 1 })).ok).toBe(1);
    } finally {
      await client.close();
    }
  });

  it('is refused without a client certificate, with one of another CA, or by a server its CA did not sign', async () => {
    await expect(connectWith({ MONGO_URL: url(), MONGO_TLS_CA_FILE: file('ca.pem') })).rejects.toThrow(/certificate required/);
    await expect(connectWith({ MONGO_URL: url(), MONGO_TLS_CA_FILE: file('ca.pem'), MONGO_TLS_CERT_KEY_FILE: file('stranger-bundle.pem') })).rejects.toThrow(/alert unknown ca/);
    await expect(connectWith({ MONGO_URL: url(), MONGO_TLS_CA_FILE: file('other-ca.pem'), MONGO_TLS_CERT_KEY_FILE: file('client-bundle.pem') })).rejects.toThrow(/unable to verify the first certificate/);
  }, 60_000);
});
