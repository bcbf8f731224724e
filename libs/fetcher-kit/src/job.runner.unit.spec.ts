import { PoisonMessageError } from '@s1c/messaging';
import { registerSecret } from '@s1c/logger';
import { S1Error } from '@s1c/s1-client';
import { describe, expect, it } from 'vitest';
import { MalformedRecordError } from './api-spec';
import { classifyFailure, parseFetchJob } from './job.runner';

const job = {
  jobId: 'src:activities:backfill:2',
  sourceId: 'src',
  api: 'activities',
  lane: 'backfill',
  generation: 1,
  window: { from: '2024-05-31T12:00:00.000000Z', to: '2024-06-01T12:00:00.000000Z' },
  resume: { cursor: null, walkFrom: null, lastTimestamp: null, records: 0, pages: 0 },
  dispatchedAt: '2024-06-01T12:00:00.000000Z',
};

describe('parseFetchJob', () => {
  it('accepts a job of its API', () => {
    expect(parseFetchJob(job, { api: 'activities' })).toEqual(job);
  });

  it('accepts where its JobDispatched is and the source version it was dispatched on, and a job without them', () => {
    const located = { ...job, collectionVersion: 2, collectionPosition: 1_717_243_200_000_001, sourceVersion: 3 };
    expect(parseFetchJob(located, { api: 'activities' })).toEqual(located);
    expect(parseFetchJob(job, { api: 'activities' }).collectionVersion).toBeUndefined();
  });

  it.each([
    ['a job of another API', { ...job, api: 'threats' }],
    ['a missing window', { ...job, window: undefined }],
    ['an unknown lane', { ...job, lane: 'sometime' }],
    ['an unknown field', { ...job, token: 'x' }],
    ['a window that ends before it starts', { ...job, window: { from: job.window.to, to: job.window.from } }],
    ['a collection version that is not a stream version', { ...job, collectionVersion: 0 }],
    ['a negative log position', { ...job, collectionVersion: 2, collectionPosition: -1 }],
    ['a fractional source version', { ...job, sourceVersion: 2.5 }],
    ['a millisecond timestamp', { ...job, window: { from: '2024-05-31T12:00:00.000Z', to: job.window.to } }],
    ['not an object', 'job'],
  ])('refuses %s as a poison message', (_label, value) => {
    expect(() => parseFetchJob(value, { api: 'activities' })).toThrow(PoisonMessageError);
  });
});

describe('classifyFailure', () => {
  it('keeps what the SentinelOne client classified, with Retry-After', () => {
    const error = new S1Error('RateLimited', 'SentinelOne rate-limited the calls', { status: 429, retryAfterMs: 2000 });
    expect(classifyFailure(error)).toEqual({ errorType: 'ThirdPartyGeneric', reason: 'SentinelOne rate-limited the calls', retryAfterMs: 2000 });
    expect(classifyFailure(new S1Error('Unauthorized', 'the API token was rejected'))).toMatchObject({ errorType: 'ThirdPartyConfig' });
  });

  it('counts a malformed record as SentinelOne failing', () => {
    expect(classifyFailure(new MalformedRecordError('threats', 'threatInfo.updatedAt', 'has no timestamp'))).toMatchObject({ errorType: 'ThirdPartyGeneric' });
  });

  it('counts anything else as our own failure, and never records a secret in the reason', () => {
    registerSecret('sup3r-secret-token-value');
    const failure = classifyFailure(new Error('mongo said sup3r-secret-token-value'));
    expect(failure.errorType).toBe('FirstPartyGeneric');
    expect(failure.reason).not.toContain('sup3r-secret-token-value');
    expect(classifyFailure(new Error('x'.repeat(2000))).reason.length).toBeLessThanOrEqual(500);
  });
});
