/**
 * Byte arrays cut one after another from shared slabs, for bytes that live only until a publish
 * has copied them into the connection's buffer (an output record, its header block). An
 * ArrayBuffer costs about a microsecond to allocate and collect whatever its size, as much as
 * building the record itself; a slab is one allocation for a hundred records or more, freed when
 * the last array cut from it is. Not for anything kept: one kept array keeps its whole slab alive.
 */
export class ByteSlab {
  private slab = new Uint8Array(0);
  private at = 0;

  constructor(private readonly slabBytes = 256 * 1024) {}

  /** `length` bytes no other `take` shares (zeroed only when fresh: write every byte). */
  take(length: number): Uint8Array {
    // A large array would waste most of a slab: it gets its own.
    if (length > this.slabBytes / 8) return new Uint8Array(length);
    if (this.at + length > this.slab.length) {
      this.slab = new Uint8Array(this.slabBytes);
      this.at = 0;
    }
    const bytes = this.slab.subarray(this.at, this.at + length);
    this.at += length;
    return bytes;
  }
}
