import type { AccountInfo } from './dataset.layout.js';
import type { DataApi } from './dataset.store.js';
import type { FaultSpec, FaultView } from './faults.controller.js';
import { hash32 } from './hash.util.js';
import type { RequestLogEntry } from './request.log.js';
import type { RuntimeSettings, Simulator } from './simulator.core.js';
import type { TokenConfig } from './simulator.options.js';
import { formatMicros } from './timestamp.util.js';
import type { TokenInfo } from './tokens.registry.js';

export type MutableApi = Exclude<DataApi, 'activities' | 'alerts'>;

export interface DatasetCounts {
  /** Records that exist (entities). */
  readonly records: number;
  /** Versions in the log: records plus updates. */
  readonly versions: number;
}

export interface SimulatorState {
  readonly now: string;
  readonly start: string;
  readonly counts: Readonly<Record<DataApi, DatasetCounts>>;
  readonly accounts: readonly AccountInfo[];
  readonly tokens: readonly TokenInfo[];
  readonly faults: readonly FaultView[];
  readonly settings: { readonly rateLimitPerSecond: number | null; readonly cursorTtlMs: number | null };
  readonly memory: { readonly rssBytes: number; readonly heapUsedBytes: number };
}

/**
 * Test-side control of a running simulator. Every method has an HTTP twin under `/_sim/`
 * (see README), so out-of-process tests can do the same.
 */
export class SimulatorAdmin {
  private manualUpdates = 0;

  constructor(private readonly sim: Simulator) {}

  /** Simulator time, ISO-8601 with microseconds. */
  now(): string {
    return formatMicros(this.sim.clock.now());
  }

  /** Moves the simulator clock forward; live records due by then appear. Returns the new now. */
  advanceClock(ms: number): string {
    const now = this.sim.clock.advance(ms);
    this.sim.dataset.catchUp(now);
    return formatMicros(now);
  }

  /** Injects a fault; returns its id. */
  addFault(spec: FaultSpec): number {
    return this.sim.faults.add(spec, this.sim.clock.now());
  }

  removeFault(id: number): boolean {
    return this.sim.faults.remove(id);
  }

  clearFaults(): void {
    this.sim.faults.clear();
  }

  faults(): FaultView[] {
    return this.sim.faults.list(this.sim.clock.now());
  }

  /** Per-token requests per second for tokens without their own limit; null removes it. */
  setRateLimit(perSecond: number | null): void {
    this.sim.settings.rateLimitPerSecond = perSecond ?? undefined;
  }

  /** Cursors older than this are rejected with 400; null: cursors never expire. */
  setCursorTtl(ms: number | null): void {
    this.sim.settings.cursorTtlMs = ms ?? undefined;
  }

  settings(): Readonly<RuntimeSettings> {
    return { ...this.sim.settings };
  }

  addToken(config: TokenConfig): TokenInfo {
    return this.sim.tokens.info(this.sim.tokens.add(config));
  }

  removeToken(label: string): boolean {
    return this.sim.tokens.remove(label);
  }

  /** The token answers 401 from now on. */
  revokeToken(label: string): boolean {
    return this.sim.tokens.revoke(label);
  }

  tokens(): TokenInfo[] {
    return this.sim.tokens.list();
  }

  /** Creates records now (simulator clock); returns their ids. */
  createRecords(api: DataApi, count: number): string[] {
    if (api === 'groups') throw new Error("groups are the console's layout (two per site): they can be updated, not created");
    return this.sim.dataset.logs[api].createNow(this.sim.clock.now(), count).map((e) => this.sim.dataset.idOf(api, e));
  }

  /**
   * Updates agents or threats now: their updatedAt moves to now and their state moves on.
   * Give ids, or a count to update pseudo-random existing records. Returns the ids updated.
   */
  updateRecords(api: MutableApi, target: { readonly ids?: readonly string[]; readonly count?: number }): string[] {
    const log = this.sim.dataset.logs[api];
    const now = this.sim.clock.now();
    log.catchUp(now);
    const entities: number[] = [];
    for (const id of target.ids ?? []) {
      const entity = this.sim.dataset.entityOf(api, id);
      if (entity !== undefined) entities.push(entity);
    }
    for (let i = 0; i < (target.count ?? 0) && log.entityCount > 0; i += 1) {
      this.manualUpdates += 1;
      entities.push(hash32(this.sim.options.seed, 977, this.manualUpdates) % log.entityCount);
    }
    log.updateNow(now, entities);
    return [...new Set(entities)].sort((a, b) => a - b).map((e) => this.sim.dataset.idOf(api, e));
  }

  /** Requests received (API only, not `/_sim`), oldest first; `since` is a `seq`. */
  requests(since?: number): RequestLogEntry[] {
    return this.sim.log.list(since);
  }

  clearRequests(): void {
    this.sim.log.clear();
  }

  /** Clears faults, rate-limit state and the request log; restores start-up settings. Tokens and data stay. */
  reset(): void {
    this.sim.reset();
  }

  state(): SimulatorState {
    const now = this.sim.clock.now();
    this.sim.dataset.catchUp(now);
    const counts = (api: DataApi): DatasetCounts => ({ records: this.sim.dataset.logs[api].entityCount, versions: this.sim.dataset.logs[api].length });
    const memory = process.memoryUsage();
    return {
      now: formatMicros(now),
      start: formatMicros(this.sim.clock.start),
      counts: { activities: counts('activities'), agents: counts('agents'), threats: counts('threats'), alerts: counts('alerts'), groups: counts('groups') },
      accounts: this.sim.dataset.accounts,
      tokens: this.sim.tokens.list(),
      faults: this.faults(),
      settings: { rateLimitPerSecond: this.sim.settings.rateLimitPerSecond ?? null, cursorTtlMs: this.sim.settings.cursorTtlMs ?? null },
      memory: { rssBytes: memory.rss, heapUsedBytes: memory.heapUsed },
    };
  }
}
