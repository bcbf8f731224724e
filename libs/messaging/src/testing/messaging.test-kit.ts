import { serverUrls } from '@s1c/test-harness';
import { connect, type JetStreamManager, type NatsConnection } from 'nats';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll } from 'vitest';
import { type LoggerLike } from '../logger.interface';

/** A unique upper-case name for a stream or a subject prefix, so tests sharing a server do not collide. */
export function uniqueName(prefix: string): string {
  return `${prefix}_${randomBytes(4).toString('hex')}`.toUpperCase();
}

/** One line a {@link captureLogger} received. */
export interface CapturedLog {
  level: 'info' | 'warn' | 'error' | 'debug';
  obj: object;
  msg: string | undefined;
}

/** A logger that keeps what it receives, for assertions. */
export function captureLogger(): LoggerLike & { lines: CapturedLog[] } {
  const lines: CapturedLog[] = [];
  const at =
    (level: CapturedLog['level']) =>
    (obj: object, msg?: string): void => {
      lines.push({ level, obj, msg });
    };
  return { lines, info: at('info'), warn: at('warn'), error: at('error'), debug: at('debug') };
}

/** Polls `check` until it returns a value other than undefined/false, or fails after `timeoutMs`. */
export async function waitFor<T>(check: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 10_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      lastError = error;
    }
    await sleep(50);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}`);
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A test file's connection to the harness's NATS, opened before its tests and drained after them. */
export function natsForTests(): { readonly nc: NatsConnection; readonly jsm: JetStreamManager } {
  const held: { nc?: NatsConnection; jsm?: JetStreamManager } = {};
  beforeAll(async () => {
    held.nc = await connect({ servers: serverUrls().natsUrl });
    held.jsm = await held.nc.jetstreamManager();
  });
  afterAll(async () => {
    await held.nc?.drain();
  });
  return {
    get nc() {
      return held.nc!;
    },
    get jsm() {
      return held.jsm!;
    },
  };
}
