import { hash32 } from './hash.util.js';
import { MICROS_PER_SECOND, type Micros } from './timestamp.util.js';

/** Groups of this many consecutive records share one timestamp (7 ∤ 100 and 7 ∤ 1000). */
export const TIE_GROUP = 7;
// Historical versions are shuffled between tie groups inside blocks of this many groups, so
// that updatedAt order differs from createdAt/id order. 5 is invertible mod 16 (5 * 13 ≡ 1).
const SHUFFLE_BLOCK = 16;
const SHUFFLE_MUL = 5;
const SHUFFLE_INV = 13;
const SHUFFLE_ADD = 3;

export interface RecordLogConfig {
  /** Number of historical records (entities), created before start. */
  readonly historical: number;
  /** Creation time of the first and last historical entity. */
  readonly createdFrom: Micros;
  readonly createdTo: Micros;
  /**
   * Historical entities' (only) version is stamped this long after creation; 0 for immutable
   * rows such as activities. Must be ≥ createdTo - createdFrom when `shuffle` is on.
   */
  readonly versionShift: Micros;
  /** Whether historical versions are shuffled so updatedAt order ≠ id order. */
  readonly shuffle: boolean;
  /** Simulator start: live generation counts from here. */
  readonly start: Micros;
  readonly createsPerSecond: number;
  readonly updatesPerSecond: number;
  readonly seed: number;
  readonly salt: number;
}

/**
 * An append-only log of record versions in time order, plus the entities they belong to.
 *
 * Positions `[0, historical)` are pure functions of the configuration (nothing stored), so a
 * million historical records cost no memory. Positions after that are live events (created
 * by the live generator or on demand), stored as two numbers each. An update appends a new
 * version of an entity and supersedes its previous position, so a walk in version order
 * (sortBy=updatedAt) meets each entity once, at its latest version. Positions never move,
 * which makes "last position seen" a stable cursor.
 */
export class RecordLog {
  private readonly liveTime: number[] = [];
  private readonly liveEntity: number[] = [];
  private readonly liveCreatedAt: number[] = [];
  private readonly latest = new Map<number, number>();
  private readonly versions = new Map<number, number>();
  private readonly superseded = new Set<number>();
  private readonly groups: number;
  private readonly step: number;
  private liveCreatesDone = 0;
  private liveUpdatesDone = 0;
  private caughtUpTo: Micros;

  constructor(private readonly config: RecordLogConfig) {
    this.groups = Math.ceil(config.historical / TIE_GROUP);
    this.step = this.groups > 1 ? (config.createdTo - config.createdFrom) / (this.groups - 1) : 0;
    this.caughtUpTo = config.start;
  }

  /** Number of positions (versions) in the log. */
  get length(): number {
    return this.config.historical + this.liveTime.length;
  }

  /** Number of entities that exist. */
  get entityCount(): number {
    return this.config.historical + this.liveCreatedAt.length;
  }

  /** Number of superseded positions. */
  get supersededCount(): number {
    return this.superseded.size;
  }

  /** Time of the version at `pos` (createdAt for immutable rows, updatedAt otherwise). */
  timeAt(pos: number): Micros {
    if (pos < this.config.historical) return this.historicalCreatedAt(pos) + this.config.versionShift;
    return this.at(this.liveTime, pos - this.config.historical);
  }

  entityAt(pos: number): number {
    if (pos < this.config.historical) return this.shuffled(pos);
    return this.at(this.liveEntity, pos - this.config.historical);
  }

  isCurrent(pos: number): boolean {
    return !this.superseded.has(pos);
  }

  /** Position of the entity's latest version. */
  currentPos(entity: number): number {
    return this.latest.get(entity) ?? this.unshuffled(entity);
  }

  createdAt(entity: number): Micros {
    if (entity < this.config.historical) return this.historicalCreatedAt(entity);
    return this.at(this.liveCreatedAt, entity - this.config.historical);
  }

  /** 0 for a record as first created (or as in history), +1 for every update since. */
  version(entity: number): number {
    return this.versions.get(entity) ?? 0;
  }

  /** Counts superseded positions in [lo, hi); cheap because only live updates supersede. */
  supersededIn(lo: number, hi: number): number {
    let n = 0;
    for (const pos of this.superseded) if (pos >= lo && pos < hi) n += 1;
    return n;
  }

  /** First position whose version time is ≥ `micros` (length if none). */
  firstPosAtOrAfter(micros: Micros): number {
    return lowerBound(this.length, (pos) => this.timeAt(pos) >= micros);
  }

  /** First entity created at or after `micros` (entityCount if none). */
  firstEntityAtOrAfter(micros: Micros): number {
    return lowerBound(this.entityCount, (e) => this.createdAt(e) >= micros);
  }

  /**
   * Appends the live creations and updates due by `now`. Event k of a stream with rate r is
   * due at start + ceil(k / r) seconds, so the log is a function of (seed, elapsed time).
   */
  catchUp(now: Micros): void {
    if (now <= this.caughtUpTo) return;
    this.caughtUpTo = now;
    const { start, createsPerSecond: cRate, updatesPerSecond: uRate } = this.config;
    const elapsed = now - start;
    const createsDue = cRate > 0 ? Math.floor((elapsed * cRate) / MICROS_PER_SECOND) : 0;
    const updatesDue = uRate > 0 ? Math.floor((elapsed * uRate) / MICROS_PER_SECOND) : 0;
    while (this.liveCreatesDone < createsDue || this.liveUpdatesDone < updatesDue) {
      const createAt =
        this.liveCreatesDone < createsDue
          ? start + Math.ceil(((this.liveCreatesDone + 1) * MICROS_PER_SECOND) / cRate)
          : Number.POSITIVE_INFINITY;
      const updateAt =
        this.liveUpdatesDone < updatesDue
          ? start + Math.ceil(((this.liveUpdatesDone + 1) * MICROS_PER_SECOND) / uRate)
          : Number.POSITIVE_INFINITY;
      // On a tie the update goes first: it targets an existing (smaller) id, so the log stays
      // in id order without stamping anything later than it is due.
      if (createAt < updateAt) {
        this.liveCreatesDone += 1;
        this.create(Math.min(createAt, now));
      } else {
        const target = hash32(this.config.seed, this.config.salt + 101, this.liveUpdatesDone) % Math.max(1, this.entityCount);
        this.liveUpdatesDone += 1;
        if (this.entityCount > 0) this.update(Math.min(updateAt, now), target);
      }
    }
  }

  /** Creates `count` entities at `now` (after catching up); returns their indexes. */
  createNow(now: Micros, count: number): number[] {
    this.catchUp(now);
    const created: number[] = [];
    for (let i = 0; i < count; i += 1) created.push(this.create(now));
    return created;
  }

  /** Appends a new version of each entity at `now` (after catching up). */
  updateNow(now: Micros, entities: readonly number[]): void {
    this.catchUp(now);
    for (const entity of [...new Set(entities)].sort((a, b) => a - b)) {
      if (entity >= 0 && entity < this.entityCount) this.update(now, entity);
    }
  }

  private create(at: Micros): number {
    const entity = this.entityCount;
    const time = this.append(at, entity);
    this.liveCreatedAt.push(time);
    this.latest.set(entity, this.length - 1);
    return entity;
  }

  private update(at: Micros, entity: number): void {
    this.superseded.add(this.currentPos(entity));
    this.append(at, entity);
    this.latest.set(entity, this.length - 1);
    this.versions.set(entity, this.version(entity) + 1);
  }

  // Keeps the log sorted by (time, entity): equal times must come in id order, so a version
  // that would break that is stamped one microsecond later. Only an on-demand update at the
  // very instant of a generated event can need that.
  private append(at: Micros, entity: number): Micros {
    let time = at;
    if (this.length > 0) {
      const last = this.length - 1;
      const lastTime = this.timeAt(last);
      if (time < lastTime) time = lastTime;
      if (time === lastTime && entity < this.entityAt(last)) time = lastTime + 1;
    }
    this.liveTime.push(time);
    this.liveEntity.push(entity);
    return time;
  }

  private historicalCreatedAt(index: number): Micros {
    const group = Math.floor(index / TIE_GROUP);
    return Math.min(this.config.createdTo, this.config.createdFrom + Math.floor(group * this.step));
  }

  // Position -> entity for historical versions: whole tie groups trade places inside a block,
  // keeping each group's members in id order so ties still sort by id.
  private shuffled(pos: number): number {
    const block = this.shuffleBlockOf(pos);
    if (block === undefined) return pos;
    const group = Math.floor(pos / TIE_GROUP);
    const target = block * SHUFFLE_BLOCK + (((group % SHUFFLE_BLOCK) * SHUFFLE_MUL + SHUFFLE_ADD) % SHUFFLE_BLOCK);
    return target * TIE_GROUP + (pos % TIE_GROUP);
  }

  private unshuffled(entity: number): number {
    const block = this.shuffleBlockOf(entity);
    if (block === undefined) return entity;
    const group = Math.floor(entity / TIE_GROUP);
    const source =
      block * SHUFFLE_BLOCK + ((((group % SHUFFLE_BLOCK) - SHUFFLE_ADD + SHUFFLE_BLOCK) * SHUFFLE_INV) % SHUFFLE_BLOCK);
    return source * TIE_GROUP + (entity % TIE_GROUP);
  }

  private shuffleBlockOf(index: number): number | undefined {
    if (!this.config.shuffle || index >= this.config.historical) return undefined;
    const block = Math.floor(index / (TIE_GROUP * SHUFFLE_BLOCK));
    // Only full blocks of full groups are shuffled, so every index maps inside the history.
    return (block + 1) * TIE_GROUP * SHUFFLE_BLOCK <= this.config.historical ? block : undefined;
  }

  private at(values: readonly number[], i: number): number {
    const value = values[i];
    if (value === undefined) throw new RangeError(`position ${i} is outside the live log`);
    return value;
  }
}

/** Smallest i in [0, n) with pred(i) true for a monotone pred (n when none). */
export function lowerBound(n: number, pred: (i: number) => boolean): number {
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = lo + Math.floor((hi - lo) / 2);
    if (pred(mid)) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}
