import {
  foldSource,
  INVENTORY_APIS,
  isSiemForwarded,
  isSourceEvent,
  recordMetadataWith,
  sourceMetadata,
  sourceStreamId,
  type RecordMetadata,
  type SourceApi,
  type SourceEvent,
  type SourceState,
} from '@s1c/domain';
import type { FoldedStreams, MongoEventStore } from '@s1c/event-store';
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
  /** `JSON.stringify(recordMetadata(...))` of a record given its `_siemEventID`, memoised per API and `_siemEventID`. */
  metadataJson(api: SourceApi, eventId: string): string;
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

interface Liveness {
  /** Stopping or Deleted: terminal, so it never needs checking again. */
  terminal: boolean;
  /** The stream version read so far. */
  version: number;
  checkedAtMs: number;
  refreshing: Promise<void> | undefined;
}

const MAX_METADATA_VARIANTS = 4096;
const TERMINAL_EVENTS: ReadonlySet<string> = new Set(['SourceDeletionRequested', 'SourceDeleted']);

/** The sources folded from their relayed events (the process's reader of `S1C_EVENTS`). */
export type SourceFolds = Pick<FoldedStreams<SourceState>, 'atLeast' | 'at' | 'offer'>;

/** Options of {@link SourceDirectory}. */
export interface SourceDirectoryOptions {
  /** (source, version) configurations kept. */
  readonly cacheSize: number;
  /** How often the state of a source the folds do not cover is re-read from the log, at most. */
  readonly refreshIntervalMs: number;
  /** The sources folded from the relayed events; without them every answer comes from the log. */
  readonly folds?: SourceFolds;
  /** How long a record waits for the folds to reach its source version before the log is read. Default 2000 ms. */
  readonly relayWaitMs?: number;
  readonly nowMs?: () => number;
}

/** Counters for logs and tests: what had to be read from the log. */
export interface SourceDirectoryStats {
  /** Reads of a stream up to a version the folds did not hold. */
  versionReads: number;
  /** Reads of a source's newer events to know whether it is Stopping or Deleted. */
  refreshReads: number;
}

/**
 * What the enricher knows about sources, from memory when it can:
 * - the configuration at a given stream version (the version a record was fetched at), cached per
 *   (source, version) in a bounded LRU: a later update never changes the metadata of a record
 *   fetched before it, and one record never mixes two versions. It comes from the folds of the
 *   relayed source events (which keep each source's last few versions), or, when they do not
 *   hold that version within `relayWaitMs`, from the log;
 * - whether a source is now Stopping or Deleted (terminal states): from the folds once they reach
 *   the version the record shows (they follow every relayed event, a deletion included); otherwise
 *   from the log, re-read at most every `refreshIntervalMs` per source and at once when a record
 *   shows a version newer than read.
 */
export class SourceDirectory {
  readonly stats: SourceDirectoryStats = { versionReads: 0, refreshReads: 0 };
  private readonly configs: LruCache<string, Promise<SourceAtVersion>>;
  private readonly liveness = new Map<string, Liveness>();

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
   * Whether the source is Stopping or Deleted now. Reads the log when the source was not checked
   * for `refreshIntervalMs` or when `seenVersion` is newer than what was read.
   */
  async isTerminal(sourceId: string, seenVersion: number): Promise<boolean> {
    const folds = this.options.folds;
    if (folds) {
      const head = await folds.atLeast(sourceStreamId(sourceId), seenVersion, this.relayWaitMs());
      if (head && head.version >= seenVersion) return head.state.status === 'Stopping' || head.state.status === 'Deleted';
    }
    const now = this.nowMs();
    let entry = this.liveness.get(sourceId);
    if (!entry) {
      entry = { terminal: false, version: 0, checkedAtMs: -Infinity, refreshing: undefined };
      this.liveness.set(sourceId, entry);
    }
    if (entry.terminal) return true;
    if (seenVersion > entry.version || now - entry.checkedAtMs >= this.options.refreshIntervalMs) {
      entry.refreshing ??= this.refresh(sourceId, entry).finally(() => {
        entry.refreshing = undefined;
      });
      await entry.refreshing;
    }
    return entry.terminal;
  }

  private nowMs(): number {
    return this.options.nowMs ? this.options.nowMs() : Date.now();
  }

  private relayWaitMs(): number {
    return this.options.relayWaitMs ?? 2_000;
  }

  private async refresh(sourceId: string, entry: Liveness): Promise<void> {
    const checkedAt = this.nowMs();
    this.stats.refreshReads += 1;
    const events = await this.store.readStream(sourceStreamId(sourceId), { fromVersion: entry.version + 1 });
    for (const event of events) {
      if (TERMINAL_EVENTS.has(event.type)) entry.terminal = true;
      entry.version = Math.max(entry.version, event.version);
    }
    entry.checkedAtMs = checkedAt;
  }

  private async load(sourceId: string, version: number): Promise<SourceAtVersion> {
    const streamId = sourceStreamId(sourceId);
    const folds = this.options.folds;
    let state: SourceState | undefined;
    if (folds) {
      await folds.atLeast(streamId, version, this.relayWaitMs());
      state = folds.at(streamId, version);
    }
    if (!state) {
      this.stats.versionReads += 1;
      const recorded = await this.store.readStream(streamId, { toVersion: version });
      const last = recorded.at(-1)?.version ?? 0;
      if (last < version) {
        throw new SourceVersionError(`source ${sourceId} has no version ${version} in the log (it is at ${last})`, true);
      }
      state = foldSource(recorded.filter(isSourceEvent) as unknown as SourceEvent[]);
      folds?.offer(streamId, { state, version, position: recorded.at(-1)!.position });
    }
    if (state.status === 'Nonexistent' || state.status === 'Deleted') {
      throw new SourceVersionError(`source ${sourceId} has no configuration at version ${version} (${state.status})`, false);
    }
    const { collectorId, config } = state;
    const about = { collectorId, config };
    const forwarded = isSiemForwarded(about);
    const perApi = new Map<SourceApi, RecordMetadata>();
    const json = new Map<string, string>();
    const metadataFor = (api: SourceApi): RecordMetadata => {
      let m = perApi.get(api);
      if (!m) {
        m = sourceMetadata(about, api);
        perApi.set(api, m);
      }
      return m;
    };
    return {
      sourceId,
      version,
      collectorId,
      name: config.name,
      category: config.category,
      metadataFor,
      metadataJson(api, eventId) {
        // An inventory's _siemEventID is constant: it is in the per-API part already.
        const perRecord = forwarded && !INVENTORY_APIS.has(api);
        const key = perRecord ? `${api}\u0000${eventId}` : api;
        let text = json.get(key);
        if (text === undefined) {
          text = JSON.stringify(recordMetadataWith(about, api, eventId));
          // Threat ids are unbounded: memoise only a bounded number of variants.
          if (json.size < MAX_METADATA_VARIANTS) json.set(key, text);
        }
        return text;
      },
    };
  }
}
