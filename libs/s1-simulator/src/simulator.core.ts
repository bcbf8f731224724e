import type { IncomingMessage, ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { handleAdmin, ADMIN_PREFIX } from './admin.controller.js';
import { API_PREFIX, handleApi } from './api.controller.js';
import { CursorCodec } from './cursor.codec.js';
import { Dataset } from './dataset.store.js';
import { FaultsController, type FaultHit } from './faults.controller.js';
import { notFound, serverError, statusReply, validationError, type Reply } from './http.reply.js';
import { RequestLog } from './request.log.js';
import { SimulatorAdmin } from './simulator.admin.js';
import { SimClock } from './sim.clock.js';
import { DEFAULT_TOKEN, type ResolvedOptions } from './simulator.options.js';
import { formatMicros, MICROS_PER_MS, parseTimestampMicros } from './timestamp.util.js';
import { TokenRegistry } from './tokens.registry.js';

// Real "now" with microseconds, so timestamps derived from it do not all end in 000.
function realNowMicros(): number {
  return Math.floor((performance.timeOrigin + performance.now()) * MICROS_PER_MS);
}

/** Settings the admin API can change at run time; `/_sim/reset` restores the start-up ones. */
export interface RuntimeSettings {
  rateLimitPerSecond: number | undefined;
  cursorTtlMs: number | undefined;
}

const MAX_BODY_BYTES = 1_048_576;

export class BadRequestError extends Error {}

/** All simulator state and the request pipeline; the HTTP server only feeds it. */
export class Simulator {
  readonly clock: SimClock;
  readonly dataset: Dataset;
  readonly tokens: TokenRegistry;
  readonly faults = new FaultsController();
  readonly log: RequestLog;
  readonly cursors: CursorCodec;
  readonly settings: RuntimeSettings;
  readonly admin: SimulatorAdmin;

  readonly options: Readonly<ResolvedOptions>;

  constructor(options: ResolvedOptions) {
    this.options = Object.freeze(options);
    const { startTime } = options;
    const start =
      startTime instanceof Date
        ? startTime.getTime() * MICROS_PER_MS
        : ((startTime === undefined ? undefined : parseTimestampMicros(startTime)) ?? realNowMicros());
    this.clock = new SimClock(start, options.clock);
    this.dataset = new Dataset(options, start);
    this.tokens = new TokenRegistry(this.dataset.accounts, start);
    const tokens = options.tokens.length > 0 ? options.tokens : [{ token: DEFAULT_TOKEN, label: 'demo' }];
    for (const token of tokens) this.tokens.add(token);
    this.log = new RequestLog(options.requestLogLimit);
    this.cursors = new CursorCodec(options.seed);
    this.settings = this.initialSettings();
    this.admin = new SimulatorAdmin(this);
  }

  /** Clears faults, rate-limit buckets and the request log; restores start-up settings. */
  reset(): void {
    this.faults.clear();
    this.log.clear();
    Object.assign(this.settings, this.initialSettings());
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    const url = new URL(req.url ?? '/', 'http://simulator');
    try {
      if (url.pathname === ADMIN_PREFIX || url.pathname.startsWith(`${ADMIN_PREFIX}/`)) {
        this.write(res, await handleAdmin(this, req, url));
        return;
      }
      if (!url.pathname.startsWith(`${API_PREFIX}/`)) {
        this.write(res, notFound());
        return;
      }
      const now = this.clock.now();
      const auth = this.tokens.authenticate(req.headers.authorization, now);
      const label = auth.kind === 'ok' || auth.kind === 'rejected' ? auth.token.label : auth.kind === 'unknown' ? 'unknown' : null;
      const hit = this.faults.take(url.pathname, label ?? undefined, now);
      if (hit.latencyMs > 0) await sleep(hit.latencyMs);
      const reply =
        hit.terminal?.kind === 'status'
          ? statusReply(hit.terminal.status, hit.terminal.retryAfterSeconds)
          : await handleApi(this, req, url, auth.kind === 'ok' ? auth.token : undefined, auth.kind);
      this.write(res, reply, hit);
      this.log.add({
        at: formatMicros(now),
        method: req.method ?? 'GET',
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        token: label,
        status: reply.status,
        fault: hit.terminal?.kind ?? (reply.status === 429 ? 'rate-limit' : null),
        durationMs: Math.round((performance.now() - started) * 1000) / 1000,
      });
    } catch (error) {
      if (error instanceof BadRequestError) {
        this.write(res, validationError(error.message));
        return;
      }
      process.stderr.write(`${JSON.stringify({ level: 'error', msg: 'request failed', path: url.pathname, error: String(error) })}\n`);
      if (!res.headersSent) this.write(res, serverError());
      else res.destroy();
    }
  }

  /** Reads a JSON request body (≤ 1 MiB); an empty body is `{}`. */
  async readJson(req: IncomingMessage): Promise<unknown> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
      const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
      size += buffer.length;
      if (size > MAX_BODY_BYTES) throw new BadRequestError('request body is too large');
      chunks.push(buffer);
    }
    const text = Buffer.concat(chunks).toString('utf8').trim();
    if (text === '') return {};
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new BadRequestError('request body is not valid JSON');
    }
  }

  private write(res: ServerResponse, reply: Reply, hit?: FaultHit): void {
    const body = JSON.stringify(reply.body);
    const headers = { ...reply.headers, 'Content-Type': 'application/json; charset=utf-8' };
    switch (hit?.terminal?.kind) {
      case 'reset': {
        const bytes = Buffer.from(body, 'utf8');
        res.writeHead(reply.status, { ...headers, 'Content-Length': String(bytes.length) });
        // Half the promised body, then the connection dies: the client sees a reset mid-response.
        res.write(bytes.subarray(0, Math.floor(bytes.length / 2)), () => res.socket?.destroy());
        return;
      }
      case 'truncate':
        res.writeHead(200, headers);
        res.end(body.slice(0, Math.max(1, Math.floor(body.length / 2))));
        return;
      case 'invalid-json':
        res.writeHead(200, headers);
        res.end('<html><body><h1>502 Bad Gateway</h1></body></html>');
        return;
      default:
        res.writeHead(reply.status, { ...headers, 'Content-Length': String(Buffer.byteLength(body)) });
        res.end(body);
    }
  }

  private initialSettings(): RuntimeSettings {
    return { rateLimitPerSecond: this.options.rateLimitPerSecond, cursorTtlMs: this.options.cursorTtlMs };
  }
}
