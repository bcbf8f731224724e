import { createLogger, type Logger } from '@s1c/logger';
import { serverUrls, uniqueDbName } from '@s1c/test-harness';
import { MongoClient, type Db } from 'mongodb';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { startGateway, type GatewayRuntime } from '../gateway.app';
import { loadGatewayConfig } from '../gateway.config';

/** A parsed response; tests look into it freely. */
export interface ApiResponse {
  status: number;
  headers: Headers;
  text: string;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

export interface RequestOptions {
  /** An object is sent as JSON; a string as is (with `contentType`). */
  body?: unknown;
  contentType?: string | null;
  headers?: Record<string, string>;
  /** The bearer token to send; the gateway's own by default, `null` for none. */
  token?: string | null;
}

/** A gateway on the harness's NATS (or `natsUrl`), with its log lines and every response captured. */
export interface GatewayUnderTest {
  readonly runtime: GatewayRuntime;
  readonly url: string;
  request(method: string, path: string, options?: RequestOptions): Promise<ApiResponse>;
  /** Every log line the gateway wrote. */
  logText(): string;
  /** Every response's status line, headers and body, to look for secrets. */
  responseText(): string;
  close(): Promise<void>;
}

function capture(lines: string[]): Writable {
  return new Writable({
    write(chunk, _encoding, done) {
      lines.push(chunk.toString());
      done();
    },
  });
}

export async function startGatewayUnderTest(
  options: { token?: string; tokens?: string; natsUrl?: string; natsAuth?: { user: string; pass: string }; commandTimeout?: string } = {},
): Promise<GatewayUnderTest> {
  const lines: string[] = [];
  const responses: string[] = [];
  const logger: Logger = createLogger({ name: 'gateway', level: 'debug', destination: capture(lines) });
  const config = loadGatewayConfig({
    S1C_METRICS_PORT: '0',
    NATS_URL: options.natsUrl ?? serverUrls().natsUrl,
    S1C_GATEWAY_PORT: '0',
    S1C_GATEWAY_HOST: '127.0.0.1',
    S1C_API_TOKEN: options.token,
    S1C_API_TOKENS: options.tokens,
    S1C_COMMAND_TIMEOUT: options.commandTimeout ?? '10s',
    NATS_USER: options.natsAuth?.user,
    NATS_PASSWORD: options.natsAuth?.pass,
  });
  const runtime = await startGateway(config, { logger });
  return {
    runtime,
    url: runtime.url,
    async request(method, path, requestOptions = {}) {
      const headers: Record<string, string> = { ...requestOptions.headers };
      const token = requestOptions.token === undefined ? options.token : requestOptions.token;
      if (token) headers.Authorization = `Bearer ${token}`;
      let body: string | undefined;
      if (requestOptions.body !== undefined) {
        body = typeof requestOptions.body === 'string' ? requestOptions.body : JSON.stringify(requestOptions.body);
        const contentType = requestOptions.contentType === undefined ? 'application/json' : requestOptions.contentType;
        if (contentType !== null) headers['Content-Type'] = contentType;
      }
      const response = await fetch(new URL(path, runtime.url), { method, headers, ...(body !== undefined ? { body } : {}) });
      const text = await response.text();
      responses.push(`${response.status} ${JSON.stringify([...response.headers])}\n${text}`);
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = undefined;
      }
      return { status: response.status, headers: response.headers, text, body: parsed };
    },
    logText: () => lines.join(''),
    responseText: () => responses.join('\n'),
    close: () => runtime.close(),
  };
}

/** A registry on the harness's servers, as the gateway's tests need it. */
export interface RegistryForTest {
  readonly db: Db;
  logText(): string;
  /** The log once `seen` holds of it (its lines come through a pipe, a little after the replies); fails after 5 s. */
  waitForLog(seen: (text: string) => boolean): Promise<string>;
  close(): Promise<void>;
}

/** The built registry (`npm run build`; turbo builds it before these tests). */
const REGISTRY_MAIN = join(__dirname, '..', '..', '..', 'registry', 'dist', 'main.js');

/**
 * Starts a real registry as its own process, as it runs in production (its built entry point).
 * Deletions are left to a scheduler that does not run here, so a deleted source stays in Stopping
 * (as it would while collection stops).
 */
export async function startRegistryForTest(options: { natsUrl?: string; natsAuth?: { user: string; pass: string } } = {}): Promise<RegistryForTest> {
  if (!existsSync(REGISTRY_MAIN)) throw new Error(`${REGISTRY_MAIN} is missing: run npm run build first`);
  const { mongoUrl } = serverUrls();
  const dbName = uniqueDbName('gateway');
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    S1C_METRICS_PORT: '0',
    LOG_LEVEL: 'debug',
    NATS_URL: options.natsUrl ?? serverUrls().natsUrl,
    MONGO_URL: mongoUrl,
    S1C_DB_NAME: dbName,
    S1C_SECRET_KEY: randomBytes(32).toString('base64'),
    S1C_EVENT_GAP_TIMEOUT: '500ms',
    S1C_EVENT_POLL_INTERVAL: '50ms',
    S1C_DELETION_COMPLETION: 'scheduler',
    S1C_ALLOW_INSECURE_BASE_URL: 'true',
    ...(options.natsAuth ? { NATS_USER: options.natsAuth.user, NATS_PASSWORD: options.natsAuth.pass } : {}),
  };
  const child = spawn(process.execPath, [REGISTRY_MAIN], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 30_000;
  while (!output.includes('"msg":"registry started"')) {
    if (child.exitCode !== null) throw new Error(`the registry exited with ${child.exitCode}:\n${output}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`the registry did not start within 30 s:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  const mongo = await MongoClient.connect(mongoUrl);
  return {
    db: mongo.db(dbName),
    logText: () => output,
    async waitForLog(seen) {
      const until = Date.now() + 5_000;
      while (!seen(output)) {
        if (Date.now() > until) throw new Error(`the registry's log did not show what the test waits for within 5 s:\n${output.slice(-4000)}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      return output;
    },
    async close() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
      await mongo.close();
    },
  };
}
