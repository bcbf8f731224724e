import { describe, expect, it } from 'vitest';
import { lowerBound, RecordLog, TIE_GROUP, type RecordLogConfig } from './record.log.js';

const HOUR = 3_600_000_000;
const START = 1_700_000_000_000_000;

function log(overrides: Partial<RecordLogConfig> = {}): RecordLog {
  return new RecordLog({
    historical: 2_000,
    createdFrom: START - 24 * HOUR,
    createdTo: START - 12 * HOUR,
    versionShift: 12 * HOUR,
    shuffle: true,
    start: START,
    createsPerSecond: 0,
    updatesPerSecond: 0,
    seed: 5,
    salt: 1,
    ...overrides,
  });
}

function isSortedByTimeThenEntity(l: RecordLog): boolean {
  for (let p = 1; p < l.length; p += 1) {
    const [t0, t1] = [l.timeAt(p - 1), l.timeAt(p)];
    if (t1 < t0 || (t1 === t0 && l.entityAt(p) < l.entityAt(p - 1))) return false;
  }
  return true;
}

describe('given a historical log', () => {
  it('keeps version times non-decreasing with ties in id order', () => {
    expect(isSortedByTimeThenEntity(log())).toBe(true);
  });

  it('maps positions to entities one-to-one, and back', () => {
    const l = log({ historical: 2_017 });
    const seen = new Set<number>();
    for (let p = 0; p < l.length; p += 1) {
      const e = l.entityAt(p);
      seen.add(e);
      expect(l.currentPos(e)).toBe(p);
    }
    expect(seen.size).toBe(2_017);
    expect(Math.max(...seen)).toBe(2_016);
  });

  it('shuffles the version order away from the id order, never updating before creating', () => {
    const l = log();
    let moved = 0;
    for (let p = 0; p < l.length; p += 1) {
      const e = l.entityAt(p);
      if (e !== p) moved += 1;
      expect(l.createdAt(e)).toBeLessThanOrEqual(l.timeAt(p));
    }
    expect(moved).toBeGreaterThan(1_000);
  });

  it('groups records in ties of TIE_GROUP', () => {
    const l = log({ shuffle: false, versionShift: 0 });
    expect(l.timeAt(0)).toBe(l.timeAt(TIE_GROUP - 1));
    expect(l.timeAt(TIE_GROUP)).toBeGreaterThan(l.timeAt(TIE_GROUP - 1));
    expect(l.createdAt(0)).toBe(START - 24 * HOUR);
    expect(l.createdAt(1_999)).toBeLessThanOrEqual(START - 12 * HOUR);
  });

  it('finds time boundaries by binary search', () => {
    const l = log();
    const t = l.timeAt(700);
    const first = l.firstPosAtOrAfter(t);
    expect(l.timeAt(first)).toBe(t);
    expect(first === 0 || l.timeAt(first - 1) < t).toBe(true);
    expect(l.firstPosAtOrAfter(START + 1)).toBe(l.length);
    expect(lowerBound(10, (i) => i >= 4)).toBe(4);
  });

  it('stores nothing per historical record', () => {
    const big = log({ historical: 50_000_000 });
    expect(big.length).toBe(50_000_000);
    expect(big.timeAt(49_999_999)).toBeLessThanOrEqual(START);
    expect(big.entityAt(big.currentPos(12_345_678))).toBe(12_345_678);
  });
});

describe('given live generation', () => {
  it('creates and updates at the configured rates, deterministically', () => {
    const a = log({ createsPerSecond: 4, updatesPerSecond: 3 });
    const b = log({ createsPerSecond: 4, updatesPerSecond: 3 });
    a.catchUp(START + 10_000_000);
    for (let t = 1; t <= 10; t += 1) b.catchUp(START + t * 1_000_000);
    expect(a.entityCount).toBe(2_040);
    expect(a.length).toBe(2_000 + 40 + 30);
    expect(b.length).toBe(a.length);
    for (let p = 0; p < a.length; p += 1) {
      expect([b.timeAt(p), b.entityAt(p)]).toEqual([a.timeAt(p), a.entityAt(p)]);
    }
    expect(isSortedByTimeThenEntity(a)).toBe(true);
    expect(a.timeAt(a.length - 1)).toBeLessThanOrEqual(START + 10_000_000);
  });

  it('supersedes the previous version on update', () => {
    const l = log();
    const before = l.currentPos(42);
    l.updateNow(START + 5, [42]);
    expect(l.isCurrent(before)).toBe(false);
    expect(l.currentPos(42)).toBe(l.length - 1);
    expect(l.timeAt(l.currentPos(42))).toBe(START + 5);
    expect(l.version(42)).toBe(1);
    expect(l.supersededIn(0, l.length)).toBe(1);
    l.updateNow(START + 6, [42]);
    expect(l.version(42)).toBe(2);
    expect(l.supersededCount).toBe(2);
  });

  it('keeps ties in id order for on-demand updates at an instant already used', () => {
    const l = log();
    const [created] = l.createNow(START + 100, 1);
    l.updateNow(START + 100, [3, 1]);
    expect(created).toBe(2_000);
    expect(isSortedByTimeThenEntity(l)).toBe(true);
    expect(l.timeAt(l.currentPos(1))).toBe(START + 101);
  });
});
