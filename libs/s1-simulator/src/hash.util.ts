/** murmur3's 32-bit finaliser: a cheap, well-mixed integer hash. */
function fmix32(input: number): number {
  let h = input;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * A deterministic unsigned 32-bit hash of (seed, salt, index). Every generated value is a
 * pure function of these, which is what lets records be produced by index on demand.
 */
export function hash32(seed: number, salt: number, index: number): number {
  const low = index >>> 0;
  const high = Math.floor(index / 0x1_0000_0000) >>> 0;
  let h = fmix32((seed >>> 0) ^ Math.imul(salt + 1, 0x9e3779b1));
  h = fmix32(h ^ low);
  return fmix32(h ^ Math.imul(high + 1, 0x27d4eb2f));
}

/** Picks an element of a non-empty array by hash. */
export function pick<T>(items: readonly T[], h: number): T {
  const item = items[h % items.length];
  if (item === undefined) throw new Error('pick() from an empty list');
  return item;
}

/** Maps a hash to [0, 1). */
export function unitInterval(h: number): number {
  return h / 0x1_0000_0000;
}

/** Lower-case hex of `length` digits, derived from repeated hashing. */
export function hexDigits(seed: number, salt: number, index: number, length: number): string {
  let out = '';
  for (let round = 0; out.length < length; round += 1) {
    out += hash32(seed, salt + round * 7919, index).toString(16).padStart(8, '0');
  }
  return out.slice(0, length);
}
