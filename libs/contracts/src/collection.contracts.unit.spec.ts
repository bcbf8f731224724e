import { describe, expect, it } from 'vitest';
import { fetchJobSchema, MAX_CARRIED_FOLD_CHARS } from './collection.contracts';

const JOB = {
  jobId: 'j1',
  sourceId: 's1',
  api: 'activities',
  lane: 'live',
  generation: 1,
  window: { from: '2026-03-01T11:00:00.000000Z', to: '2026-03-01T12:00:00.000000Z' },
  resume: { cursor: null, walkFrom: null, lastTimestamp: null, records: 0, pages: 0 },
  dispatchedAt: '2026-03-01T12:00:00.000000Z',
};
const FOLD = { state: { status: 'Planned', jobs: {} }, version: 2, position: 17 };

describe('fetchJobSchema, the folds a job carries', () => {
  it('takes a job without folds, and keeps well-formed folds as they are', () => {
    expect(fetchJobSchema.parse(JOB)).toEqual(JOB);
    expect(fetchJobSchema.parse({ ...JOB, collectionFold: FOLD })).toMatchObject({ collectionFold: FOLD });
  });

  it('refuses a source fold: where the token goes is never taken from a job', () => {
    expect(fetchJobSchema.safeParse({ ...JOB, sourceFold: { ...FOLD, state: { status: 'Collecting' } } }).success).toBe(false);
  });

  it.each([
    ['not an object', 'fold'],
    ['no status', { ...FOLD, state: { jobs: {} } }],
    ['a status that is not a string', { ...FOLD, state: { status: 1 } }],
    ['a negative version', { ...FOLD, version: -1 }],
    ['a fractional position', { ...FOLD, position: 1.5 }],
    ['an unknown key', { ...FOLD, extra: true }],
    ['a state too large', { ...FOLD, state: { status: 'Planned', padding: 'x'.repeat(MAX_CARRIED_FOLD_CHARS) } }],
  ])('drops a fold with %s, and keeps the job (the fetcher then reads the stream)', (_, fold) => {
    const parsed = fetchJobSchema.safeParse({ ...JOB, collectionFold: fold });
    expect(parsed.success).toBe(true);
    expect(parsed.data?.collectionFold).toBeUndefined();
    expect(parsed.data?.jobId).toBe('j1');
  });
});
