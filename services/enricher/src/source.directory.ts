import {
  evolve,
  initialState,
  isSiemForwarded,
  isSourceEvent,
  recordMetadata,
  siemEventId,
  sourceMetadata,
  sourceStreamId,
  type RecordMetadata,
  type SourceApi,
  type SourceConfig,
  type SourceEvent,
  type SourceState,
} from '@s1c/domain';
import type { MongoEventStore } from '@s1c/event-store';
import { LruCache } from './lru.cache';

/** A source's configuration as it was at one stream version, with its metadata prepared per API. */
export interface SourceAtVersion {
  readonly sourceId: string;
  readonly version: number;
  readonly collectorId: string;
  readonly name: string;
  readonly category: string | null;
  /** Metadata without the per-record `_siemEventID` of activities and threats. */
  metadataFor(api: SourceApi): RecordMetadata;
  /** `JSON.stringify(recordMetadata(...))` of a record, memoised per API and `_siemEventID`. */
  metadataJson(api: SourceApi, record: Readonly<Record<string, unknown>>): string;
}

/** Why a record's configuration cannot be had. */
export class SourceVersionError extends Error {
  override readonly name = 'SourceVersionError';
  constructor(
    message: string,
    /** True when waiting may help (the log may not show the version yet). */
    readonly retryable: boolean,
  ) {
    super(message);
  }
}

/** One event of a source stream, as read from the log or relayed (`RelayedEventPayload`). */
export interface SourceStreamEvent {
  readonly version: number;
  readonly type: string;
  readonly data: unknown;
}

/** Options of {@link SourceDirectory}. */
export interface SourceDirectoryOptions {
  /** (source, version) configurations kept besides each source's recent versions. */
  readonly cacheSize: number;
  /**
   * A source whose records keep coming is re-read from the log in the background (never on a
   * record's path) at most this often: a safety net for a relayed event lost without a
   * disconnect. 0 turns it off.
   */
  readonly safetyRefreshMs: number;
  /**
   * How long a record showing a version newer than the relayed events waits for the relay before
   * the source is read from the log (the fetcher usually learns of a version when we do); default
   * {@link RELAY_WAIT_MS}.
   */
  readonly relayWaitMs?: number;
  readonly nowMs?: () => number;
  readonly logger?: { warn(obj: object, msg: string): void };
}

/** Counters for logs and tests: what the directory had to read from the log. */
export interface SourceDirectoryStats {
  /** Reads of a source's newer events (no fold, a gap, a reconnect, a version not relayed yet, the safety re-read). */
  catchUpReads: number;
  /** Reads of a whole stream up to an older version no longer held in memory. */
  versionReads: number;
  /** Relayed events folded into a source without reading the log. */
  relayedFolded: number;
}

/** Default wait for the relay (its lag was ~1 s p50, ~2 s p95 with 200 sources on the project machine). */
export const RELAY_WAIT_MS = 2_000;
/** Versions of each source kept (folded states, for records fetched a few versions ago). */
const RECENT_VERSIONS = 16;
const MAX_METADATA_VARIANTS = 4096;
const TERMINAL_EVENTS: ReadonlySet<string> = new Set(['SourceDeletionRequested', 'SourceDeleted']);

interface Head {
  /** The stream's fold up to `version`, exact (from the log, or from every relayed event since version 1 or the last read). */
  readonly version: number;
  readonly state: SourceState;
}

interface Entry {
  head: Head | undefined;
  /** Folded states of the last few versions, by version. */
  readonly recent: Map<number, SourceState>;
  /** Stopping or Deleted: final, never checked again. */
  terminal: boolean;
  /** Highest version relayed so far: above the head means a relayed event was missed (a gap). */
  relayedUpTo: number;
  /**
   * The directory's epoch when the head was last known complete (read from the log, or built from
   * relayed events since version 1). A reconnect starts a new epoch: what was relayed while
   * disconnected is lost, so the head must be read again before it is trusted.
   */
  verifiedEpoch: number;
  /** When the head was last read from the log (ms); the safety re-read is measured from it. */
  readAtMs: number;
  reading: Promise<void> | undefined;
  readonly waiters: Array<{ readonly version: number; readonly wake: () => void }>;
}

/**
 * What the enricher knows about sources, kept current by the relayed source events
 * (`s1c.evt.source.<id>.<Type>`, see {@link SourceEventFeed}) and read from the log only when
 * memory cannot answer:
 * - each source's stream is folded in memory (its *head*); a relayed event at the head's version
 *   + 1 is folded in directly. The configuration at a version (the version a record was fetched
 *   at) is taken from the head or from the last {@link RECENT_VERSIONS} folds: a later update never
 *   changes the metadata of a record fetched before it, and one record never mixes two versions;
 * - a source is Stopping or Deleted (final) as soon as such an event is relayed or read.
 * The log is read (`readStream`, a scan of `events` on FerretDB) only: the first time a source is
 * seen (unless its stream was relayed from version 1), to fill a gap in the relayed versions, after
 * a NATS reconnect (core NATS loses what is published while disconnected), when a record shows a
 * version the relay has not brought within `relayWaitMs`, for an older version no longer held
 * (once per version while it stays in the LRU), and, in the background, every `safetyRefreshMs`
 * for a source whose records keep coming.
 */
export class SourceDirectory {
  readonly stats: SourceDirectoryStats = { catchUpReads: 0, versionReads: 0, relayedFolded: 0 };
  private readonly configs: LruCache<string, Promise<SourceAtVersion>>;
  private readonly entries = new Map<string, Entry>();
  private readonly views = new WeakMap<SourceConfig, ConfigView>();
  private epoch = 1;
  /** Background safety re-reads run one at a time, so that they never pile up on the store. */
  private background: Promise<void> = Promise.resolve();

  constructor(
    private readonly store: MongoEventStore,
    private readonly options: SourceDirectoryOptions,
  ) {
    this.configs = new LruCache(options.cacheSize);
  }

  /** The configuration at `version`; throws {@link SourceVersionError} when there is none. */
  async atVersion(sourceId: string, version: number): Promise<SourceAtVersion> {
    const key = `${sourceId}\u0000${version}`;
    const cached = this.configs.get(key);
    if (cached) return cached;
    const loading = this.load(sourceId, version);
    this.configs.set(key, loading);
    // A failed load must not stay cached: the next record tries again.
    loading.catch(() => this.configs.delete(key));
    return loading;
  }

  /**
   * Whether the source is Stopping or Deleted now, as far as the relayed events and the log say.
   * Reads the log only when the source's fold cannot be trusted (see the class comment) or does
   * not reach `seenVersion` (a record's version) after waiting for the relay.
   */
  async isTerminal(sourceId: string, seenVersion: number): Promise<boolean> {
    const entry = this.entry(sourceId);
    if (entry.terminal) return true;
    await this.current(sourceId, entry, seenVersion);
    return entry.terminal;
  }

  /**
   * Folds one relayed event of the source's stream (any order, duplicates welcome): the next
   * version is folded onto the head, an older one is ignored, a later one marks a gap that the next
   * record of the source fills from the log. A deletion event makes the source final at once.
   */
  applyRelayed(sourceId: string, event: SourceStreamEvent): void {
    const entry = this.entry(sourceId);
    if (TERMINAL_EVENTS.has(event.type)) entry.terminal = true;
    entry.relayedUpTo = Math.max(entry.relayedUpTo, event.version);
    if (!entry.head && event.version === 1) {
      // The stream relayed from its start: the fold is complete without reading.
      entry.head = { version: 0, state: initialState() };
      entry.verifiedEpoch = this.epoch;
      entry.readAtMs = this.nowMs();
    }
    const head = entry.head;
    if (!head || event.version !== head.version + 1) return;
    this.advance(entry, event.version, fold(head.state, event));
    this.stats.relayedFolded += 1;
  }

  /** A relayed event that could not be folded: the source's next record reads its newer events. */
  invalidate(sourceId: string): void {
    const entry = this.entries.get(sourceId);
    if (entry) entry.verifiedEpoch = 0;
  }

  /**
   * Relayed events may have been lost (the NATS connection dropped): every source's next record
   * reads the newer events of its stream once, then relayed events are trusted again.
   */
  invalidateAll(): void {
    this.epoch += 1;
  }

  /** The version the directory's fold of a source has reached (0 when none): for tests and logs. */
  knownVersion(sourceId: string): number {
    return this.entries.get(sourceId)?.head?.version ?? 0;
  }

  private entry(sourceId: string): Entry {
    let entry = this.entries.get(sourceId);
    if (!entry) {
      entry = { head: undefined, recent: new Map(), terminal: false, relayedUpTo: 0, verifiedEpoch: 0, readAtMs: -Infinity, reading: undefined, waiters: [] };
      this.entries.set(sourceId, entry);
    }
    return entry;
  }

  private nowMs(): number {
    return this.options.nowMs ? this.options.nowMs() : Date.now();
  }

  /** Makes the entry's head trustworthy and at least at `seenVersion`, if the log has it. */
  private async current(sourceId: string, entry: Entry, seenVersion: number): Promise<void> {
    if (!this.trusted(entry)) {
      await this.catchUp(sourceId, entry);
    } else if (entry.head!.version < seenVersion) {
      // The record's fetcher knew a version the relay has not brought us yet: it usually does soon.
      await this.relayed(entry, seenVersion);
      if (entry.head!.version < seenVersion && !entry.terminal) await this.catchUp(sourceId, entry);
    } else if (this.options.safetyRefreshMs > 0 && this.nowMs() - entry.readAtMs >= this.options.safetyRefreshMs && !entry.reading) {
      // Off the record's path: the answer from memory stands, the re-read corrects it for later records.
      entry.readAtMs = this.nowMs();
      const reread = this.background.then(() => this.catchUp(sourceId, entry));
      this.background = reread.catch((error: unknown) => this.options.logger?.warn({ sourceId, err: error }, 'safety re-read of a source failed'));
    }
  }

  /** Whether the head is complete: read or relayed since the last reconnect, without a missed version. */
  private trusted(entry: Entry): boolean {
    return entry.head !== undefined && entry.verifiedEpoch === this.epoch && entry.relayedUpTo <= entry.head.version;
  }

  /** Waits up to `relayWaitMs` for the relayed events to bring the head to `version`. */
  private async relayed(entry: Entry, version: number): Promise<void> {
    const waitMs = this.options.relayWaitMs ?? RELAY_WAIT_MS;
    if (waitMs <= 0) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, waitMs);
      const waiter = { version, wake: done };
      entry.waiters.push(waiter);
      function done(): void {
        clearTimeout(timer);
        const i = entry.waiters.indexOf(waiter);
        if (i >= 0) entry.waiters.splice(i, 1);
        resolve();
      }
    });
  }

  /** Reads the events after the head from the log and folds them (one read per source at a time). */
  private catchUp(sourceId: string, entry: Entry): Promise<void> {
    entry.reading ??= (async () => {
      const epoch = this.epoch;
      const relayedBefore = entry.relayedUpTo;
      const from = entry.head ?? { version: 0, state: initialState() };
      this.stats.catchUpReads += 1;
      const events = await this.store.readStream(sourceStreamId(sourceId), { fromVersion: from.version + 1 });
      let { version, state } = from;
      const folded: Array<[number, SourceState]> = [];
      for (const event of events) {
        if (event.version !== version + 1) break;
        if (TERMINAL_EVENTS.has(event.type)) entry.terminal = true;
        state = fold(state, event);
        version = event.version;
        folded.push([version, state]);
      }
      // Relayed events may have moved the head meanwhile; both folds are exact, the longer one wins.
      if (!entry.head || version >= entry.head.version) {
        for (const [v, s] of folded) this.advance(entry, v, s);
        entry.head = { version, state };
      }
      entry.verifiedEpoch = epoch;
      entry.readAtMs = this.nowMs();
      if (relayedBefore > entry.head.version) {
        // Relayed before the read began, so committed before it: a version the log does not have
        // came from elsewhere. The log is the truth, and must not make every record read again.
        this.options.logger?.warn({ sourceId, relayed: relayedBefore, read: entry.head.version }, 'a relayed source version is not in the log');
        entry.relayedUpTo = Math.max(entry.head.version, entry.relayedUpTo === relayedBefore ? 0 : entry.relayedUpTo);
      }
    })().finally(() => {
      entry.reading = undefined;
    });
    return entry.reading;
  }

  private advance(entry: Entry, version: number, state: SourceState): void {
    entry.head = { version, state };
    if (state.status === 'Stopping' || state.status === 'Deleted') entry.terminal = true;
    entry.recent.set(version, state);
    if (entry.recent.size > RECENT_VERSIONS) entry.recent.delete(entry.recent.keys().next().value!);
    for (const waiter of [...entry.waiters]) if (waiter.version <= version) waiter.wake();
  }

  private async load(sourceId: string, version: number): Promise<SourceAtVersion> {
    const entry = this.entry(sourceId);
    await this.current(sourceId, entry, version);
    const head = entry.head!;
    if (head.version < version) {
      throw new SourceVersionError(`source ${sourceId} has no version ${version} in the log (it is at ${head.version})`, true);
    }
    let state = entry.recent.get(version);
    if (state === undefined) {
      // A version older than what memory holds: fold the stream up to it (once while it stays cached).
      this.stats.versionReads += 1;
      const events = await this.store.readStream(sourceStreamId(sourceId), { toVersion: version });
      if ((events.at(-1)?.version ?? 0) < version) {
        throw new SourceVersionError(`source ${sourceId} has no version ${version} in the log`, true);
      }
      state = events.reduce<SourceState>((s, e) => fold(s, e), initialState());
    }
    if (state.status === 'Nonexistent' || state.status === 'Deleted') {
      throw new SourceVersionError(`source ${sourceId} has no configuration at version ${version} (${state.status})`, false);
    }
    return this.view(sourceId, version, state.collectorId, state.config);
  }

  /** The configuration's view at a version; the metadata memos are shared by every version of one configuration. */
  private view(sourceId: string, version: number, collectorId: string, config: SourceConfig): SourceAtVersion {
    let shared = this.views.get(config);
    if (!shared || shared.collectorId !== collectorId) {
      shared = new ConfigView(collectorId, config);
      this.views.set(config, shared);
    }
    const memo = shared;
    return {
      sourceId,
      version,
      collectorId,
      name: config.name,
      category: config.category,
      metadataFor: (api) => memo.metadataFor(api),
      metadataJson: (api, record) => memo.metadataJson(api, record),
    };
  }
}

/** Metadata of one configuration, memoised per API and `_siemEventID`. */
class ConfigView {
  private readonly about: { collectorId: string; config: SourceConfig };
  private readonly forwarded: boolean;
  private readonly perApi = new Map<SourceApi, RecordMetadata>();
  private readonly json = new Map<string, string>();

  constructor(
    readonly collectorId: string,
    config: SourceConfig,
  ) {
    this.about = { collectorId, config };
    this.forwarded = isSiemForwarded(this.about);
  }

  metadataFor(api: SourceApi): RecordMetadata {
    let m = this.perApi.get(api);
    if (!m) {
      m = sourceMetadata(this.about, api);
      this.perApi.set(api, m);
    }
    return m;
  }

  metadataJson(api: SourceApi, record: Readonly<Record<string, unknown>>): string {
    const eventId = this.forwarded && api !== 'agents' ? siemEventId(api, record) : undefined;
    const key = eventId === undefined ? api : `${api}\u0000${eventId}`;
    let text = this.json.get(key);
    if (text === undefined) {
      text = JSON.stringify(recordMetadata(this.about, api, record));
      // Threat ids are unbounded: memoise only a bounded number of variants.
      if (this.json.size < MAX_METADATA_VARIANTS) this.json.set(key, text);
    }
    return text;
  }
}

/** Folds one event of a source stream (events of other kinds in the stream only count as versions). */
function fold(state: SourceState, event: SourceStreamEvent): SourceState {
  return isSourceEvent(event) ? evolve(state, event as unknown as SourceEvent) : state;
}
