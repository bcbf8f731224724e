import { describe, expect, it } from 'vitest';
import { RAW_BATCH_MAX_BYTES } from '@s1c/contracts';
import { rawBatchesOf, rawBatchMaxBytes, type RawRecord } from './raw.publisher';

const record = (id: string, day: string, size: number): RawRecord => ({ id, day, eventId: 'activities - 27', bytes: new Uint8Array(size) });
const shape = (batches: RawRecord[][]) => batches.map((b) => b.map((r) => r.id).join(','));

describe('rawBatchesOf', () => {
  it('keeps a page of one day under the limit in one batch', () => {
    expect(shape(rawBatchesOf([record('a', '2026-12-01', 100), record('b', '2026-12-01', 100)], 1000))).toEqual(['a,b']);
  });

  it('cuts where the day changes, so every batch is of one day', () => {
    const page = [record('a', '2026-11-30', 10), record('b', '2026-11-30', 10), record('c', '2026-12-01', 10), record('d', '2026-12-01', 10)];
    const batches = rawBatchesOf(page, 1000);
    expect(shape(batches)).toEqual(['a,b', 'c,d']);
    for (const b of batches) expect(new Set(b.map((r) => r.day)).size).toBe(1);
  });

  it('cuts before the bytes, ids and event ids would pass the limit, in order, and a record over it goes alone', () => {
    // Each costs its bytes + id length + event id length + 20: 100 + 1 + 15 + 20 = 136.
    const page = ['a', 'b', 'c', 'd', 'e'].map((id) => record(id, '2026-12-01', 100));
    expect(shape(rawBatchesOf(page, 272))).toEqual(['a,b', 'c,d', 'e']);
    expect(shape(rawBatchesOf(page, 271))).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(shape(rawBatchesOf([record('a', '2026-12-01', 10), record('big', '2026-12-01', 5000), record('c', '2026-12-01', 10)], 1000))).toEqual(['a', 'big', 'c']);
  });

  it('gives nothing for no records', () => {
    expect(rawBatchesOf([], 1000)).toEqual([]);
  });
});

describe('rawBatchMaxBytes', () => {
  it("is half the server's max_payload, at most RAW_BATCH_MAX_BYTES, and that when the server does not say", () => {
    expect(rawBatchMaxBytes(1024 * 1024)).toBe(RAW_BATCH_MAX_BYTES);
    expect(rawBatchMaxBytes(8 * 1024 * 1024)).toBe(RAW_BATCH_MAX_BYTES);
    expect(rawBatchMaxBytes(256 * 1024)).toBe(128 * 1024);
    expect(rawBatchMaxBytes(undefined)).toBe(RAW_BATCH_MAX_BYTES);
    expect(rawBatchMaxBytes(0)).toBe(RAW_BATCH_MAX_BYTES);
  });
});
