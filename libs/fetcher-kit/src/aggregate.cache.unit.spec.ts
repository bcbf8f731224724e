import { describe, expect, it } from 'vitest';
import { AggregateCache } from './aggregate.cache';

const fold = (version: number) => ({ state: { v: version }, version, position: version * 10 });

describe('AggregateCache', () => {
  it('keeps at most its capacity, dropping the least recently used stream first', () => {
    const cache = new AggregateCache<{ v: number }>(2);
    cache.set('a', fold(1));
    cache.set('b', fold(1));
    expect(cache.get('a')).toEqual(fold(1));
    cache.set('c', fold(1));
    expect(cache.size).toBe(2);
    expect(cache.get('b')).toBeUndefined();
    expect(cache.get('a')).toEqual(fold(1));
    expect(cache.get('c')).toEqual(fold(1));
  });

  it('stays flat with thousands of streams', () => {
    const cache = new AggregateCache<{ v: number }>(100);
    for (let i = 0; i < 10_000; i++) cache.set(`s${i}`, fold(i));
    expect(cache.size).toBe(100);
    expect(cache.get('s9999')).toEqual(fold(9999));
    expect(cache.get('s0')).toBeUndefined();
  });

  it('never replaces a fold by an older one of the same stream', () => {
    const cache = new AggregateCache<{ v: number }>(10);
    cache.set('a', fold(5));
    expect(cache.set('a', fold(3))).toEqual(fold(5));
    expect(cache.get('a')).toEqual(fold(5));
    cache.set('a', fold(6));
    expect(cache.get('a')).toEqual(fold(6));
    cache.delete('a');
    expect(cache.get('a')).toBeUndefined();
  });

  it('refuses a capacity that is not a positive integer', () => {
    expect(() => new AggregateCache(0)).toThrow(RangeError);
    expect(() => new AggregateCache(1.5)).toThrow(RangeError);
  });
});
