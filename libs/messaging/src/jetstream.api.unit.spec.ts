import { ErrorCode, NatsError } from 'nats';
import { describe, expect, it } from 'vitest';
import { askJetStream, isJetStreamUnavailable } from './jetstream.api';

const warnings: unknown[] = [];
const logger = { debug: () => undefined, info: () => undefined, warn: (o: unknown) => warnings.push(o), error: () => undefined };

/** A request that fails with the given errors, one per call, then answers. */
function failing(errors: unknown[]): { request: () => Promise<string>; calls: () => number } {
  let calls = 0;
  return {
    request: async () => {
      const error = errors[calls++];
      if (error) throw error;
      return 'answer';
    },
    calls: () => calls,
  };
}

describe('askJetStream', () => {
  it('asks again after a timeout or a 503, and returns the answer', async () => {
    const unavailable = new NatsError('JetStream system temporarily unavailable', '503');
    const { request, calls } = failing([NatsError.errorForCode(ErrorCode.Timeout), unavailable]);
    warnings.length = 0;
    await expect(askJetStream(logger, 'stream S', request, { intervalMs: 1 })).resolves.toBe('answer');
    expect(calls()).toBe(3);
    expect(warnings).toEqual([
      { what: 'stream S', attempt: 1, code: 'TIMEOUT' },
      { what: 'stream S', attempt: 2, code: '503' },
    ]);
  });

  it('gives up after the attempts given, with the last error', async () => {
    const timeout = NatsError.errorForCode(ErrorCode.Timeout);
    const { request, calls } = failing([timeout, timeout, timeout]);
    await expect(askJetStream(logger, 'x', request, { attempts: 2, intervalMs: 1 })).rejects.toBe(timeout);
    expect(calls()).toBe(2);
  });

  it('does not ask again after any other error', async () => {
    const notFound = new Error('stream not found');
    const { request, calls } = failing([notFound]);
    await expect(askJetStream(logger, 'x', request, { intervalMs: 1 })).rejects.toBe(notFound);
    expect(calls()).toBe(1);
    expect(isJetStreamUnavailable(new NatsError('permissions violation', 'PERMISSIONS_VIOLATION'))).toBe(false);
  });
});
