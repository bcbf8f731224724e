import { describe, expect, it } from 'vitest';
import { ByteSlab } from './byte.slab';

describe('ByteSlab', () => {
  it('hands out arrays that never overlap, from one slab until it is full, then from a new one', () => {
    const slab = new ByteSlab(1024);
    const taken = Array.from({ length: 40 }, (_, i) => slab.take(10 + (i % 7) * 10));
    taken.forEach((bytes, i) => bytes.fill(i + 1));
    taken.forEach((bytes, i) => {
      expect(bytes.length).toBe(10 + (i % 7) * 10);
      expect(bytes.every((b) => b === i + 1)).toBe(true);
    });
    // Few slabs for many arrays: every array of a slab shares its buffer.
    const buffers = new Set(taken.map((b) => b.buffer));
    expect(buffers.size).toBeGreaterThan(1);
    expect(buffers.size).toBeLessThan(taken.length / 4);
    for (const buffer of buffers) expect(buffer.byteLength).toBe(1024);
  });

  it('gives a large array a buffer of its own', () => {
    const slab = new ByteSlab(1024);
    const small = slab.take(16);
    const large = slab.take(129);
    expect(large.buffer).not.toBe(small.buffer);
    expect(large.buffer.byteLength).toBe(129);
    expect(slab.take(16).buffer).toBe(small.buffer);
  });
});
