import { sampleSourceDocument } from '@s1c/contracts/testing';
import { createLogger, type Logger } from '@s1c/logger';
import type { AddressResolver } from '@s1c/s1-client';
import { serverUrls, uniqueDbName } from '@s1c/test-harness';
import { MongoClient, type Db } from 'mongodb';
import { connect, headers as natsHeaders, type NatsConnection } from 'nats';
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { loadRegistryConfig } from '../registry.config';
import { startRegistry, type RegistryRuntime } from '../registry.app';

/** A parsed reply; tests look into it freely. */
export type Reply = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** A registry on the harness's real servers, with its log lines captured. */
export interface RegistryUnderTest {
  readonly runtime: RegistryRuntime;
  readonly nc: NatsConnection;
  readonly db: Db;
  readonly secretKey: string;
  /** Every log line the registry wrote. */
  logText(): string;
  /** Every reply received through {@link RegistryUnderTest.send}, as raw text. */
  replyText(): string;
  /** Sends a command (an object as JSON, or raw bytes/text) and returns the parsed reply. */
  send(op: string, payload: unknown, options?: { raw?: boolean; headers?: Record<string, string> }): Promise<Reply>;
  eventCount(): Promise<number>;
  close(): Promise<void>;
}

export async function startRegistryUnderTest(
  options: { allowInsecureBaseUrl?: boolean; resolver?: AddressResolver; secretKey?: string; dbName?: string; env?: Record<string, string> } = {},
): Promise<RegistryUnderTest> {
  const { natsUrl, mongoUrl } = serverUrls();
  const dbName = options.dbName ?? uniqueDbName('registry');
  const secretKey = options.secretKey ?? randomBytes(32).toString('base64');
  const lines: string[] = [];
  const replies: string[] = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  const logger: Logger = createLogger({ name: 'registry', level: 'debug', destination });
  const config = loadRegistryConfig({
    // No metrics endpoint: test files run side by side, and would all want the default port.
    S1C_METRICS_PORT: '0',
    NATS_URL: natsUrl,
    MONGO_URL: mongoUrl,
    S1C_DB_NAME: dbName,
    S1C_SECRET_KEY: secretKey,
    S1C_EVENT_GAP_TIMEOUT: '500ms',
    S1C_EVENT_POLL_INTERVAL: '50ms',
    S1C_DELETION_COMPLETION: 'immediate',
    S1C_ALLOW_INSECURE_BASE_URL: String(options.allowInsecureBaseUrl ?? false),
    ...options.env,
  });
  const runtime = await startRegistry(config, { logger, ...(options.resolver ? { resolver: options.resolver } : {}) });
  const nc = await connect({ servers: natsUrl });
  const mongo = await MongoClient.connect(mongoUrl);
  const db = mongo.db(dbName);
  return {
    runtime,
    nc,
    db,
    secretKey,
    logText: () => lines.join(''),
    replyText: () => replies.join('\n'),
    async send(op, payload, options = {}) {
      const body =
        options.raw && payload instanceof Uint8Array
          ? payload
          : new TextEncoder().encode(options.raw ? String(payload) : JSON.stringify(payload));
      const h = natsHeaders();
      for (const [k, v] of Object.entries(options.headers ?? {})) h.set(k, v);
      const msg = await nc.request(`s1c.cmd.source.${op}`, body, { timeout: 10_000, headers: h });
      const text = new TextDecoder().decode(msg.data);
      replies.push(text);
      return JSON.parse(text) as Reply;
    },
    eventCount: () => db.collection('events').countDocuments({ type: { $ne: '$gap' } }),
    async close() {
      await nc.close();
      await runtime.close();
      await mongo.close();
    },
  };
}

/** The hosted product's document, as people write it, with overrides. */
export const sourceDocument = sampleSourceDocument;
