import { buildLayout, IdCodec, IdKind, type AccountInfo, type SiteInfo } from './dataset.layout.js';
import { hash32 } from './hash.util.js';
import { RecordLog } from './record.log.js';
import {
  activityTypeOf,
  agentSiteIndex,
  agentSummary,
  buildActivity,
  buildAgent,
  buildAlert,
  buildGroup,
  buildThreat,
  type AgentSummary,
  type GeneratorContext,
  type JsonRecord,
} from './records.generator.js';
import type { ResolvedOptions } from './simulator.options.js';
import { MICROS_PER_SECOND, type Micros } from './timestamp.util.js';

export const DATA_APIS = ['activities', 'agents', 'threats', 'alerts', 'groups'] as const;
export type DataApi = (typeof DATA_APIS)[number];

/** Where each API answers, under `/web/api/v2.1`. */
export const API_ROUTES: Readonly<Record<DataApi, string>> = {
  activities: '/activities',
  agents: '/agents',
  threats: '/threats',
  alerts: '/cloud-detection/alerts',
  groups: '/groups',
};

/** APIs whose rows never change: filtered and sorted by `createdAt` (or `id`) only. */
export const IMMUTABLE_APIS: ReadonlySet<DataApi> = new Set(['activities', 'alerts']);

const API_KIND: Record<DataApi, IdKind> = { activities: IdKind.activity, agents: IdKind.agent, threats: IdKind.threat, alerts: IdKind.alert, groups: IdKind.group };
/** Salt offsets that give each API its own agent for the same entity index. */
const AGENT_LINK_OFFSET: Partial<Record<DataApi, number>> = { activities: 0, threats: 0x4000_0000, alerts: 0x2000_0000 };
const AGENT_LINK_SALT = 40;

/**
 * The three data sets. Nothing per record is stored: a record is rebuilt from its index and
 * its log position whenever it is served.
 */
export class Dataset {
  readonly ctx: GeneratorContext;
  readonly accounts: readonly AccountInfo[];
  readonly logs: Readonly<Record<DataApi, RecordLog>>;
  private readonly historicalAgents: number;

  constructor(options: ResolvedOptions, start: Micros) {
    const ids = new IdCodec(options.seed);
    this.accounts = buildLayout(ids, options.accounts, options.sitesPerAccount);
    this.ctx = { seed: options.seed, ids, sites: this.accounts.flatMap((a) => a.sites) };
    this.historicalAgents = options.agents;
    const window = Math.round(options.historyHours * 3_600 * MICROS_PER_SECOND);
    const half = Math.floor(window / 2);
    const common = { start, seed: options.seed };
    const live = options.live;
    this.logs = {
      // Immutable rows: one version each, created across the whole window.
      activities: new RecordLog({
        ...common,
        salt: 1_000,
        historical: options.activities,
        createdFrom: start - window,
        createdTo: start,
        versionShift: 0,
        shuffle: false,
        createsPerSecond: live.activitiesPerSecond,
        updatesPerSecond: 0,
      }),
      // Mutable rows: created in the first half of the window, last changed in the second half.
      agents: new RecordLog({
        ...common,
        salt: 2_000,
        historical: options.agents,
        createdFrom: start - window,
        createdTo: start - half,
        versionShift: half,
        shuffle: true,
        createsPerSecond: live.agentsPerSecond,
        updatesPerSecond: live.agentUpdatesPerSecond,
      }),
      threats: new RecordLog({
        ...common,
        salt: 3_000,
        historical: options.threats,
        createdFrom: start - window,
        createdTo: start - half,
        versionShift: half,
        shuffle: true,
        createsPerSecond: live.threatsPerSecond,
        updatesPerSecond: live.threatUpdatesPerSecond,
      }),
      // Immutable, like activities.
      alerts: new RecordLog({
        ...common,
        salt: 4_000,
        historical: options.alerts,
        createdFrom: start - window,
        createdTo: start,
        versionShift: 0,
        shuffle: false,
        createsPerSecond: live.alertsPerSecond,
        updatesPerSecond: 0,
      }),
      // The layout's groups (two per site; none created later), changed now and then.
      groups: new RecordLog({
        ...common,
        salt: 5_000,
        historical: this.ctx.sites.length * 2,
        createdFrom: start - window,
        createdTo: start - half,
        versionShift: half,
        shuffle: true,
        createsPerSecond: 0,
        updatesPerSecond: live.groupUpdatesPerSecond,
      }),
    };
  }

  catchUp(now: Micros): void {
    for (const api of DATA_APIS) this.logs[api].catchUp(now);
  }

  idOf(api: DataApi, entity: number): string {
    return this.ctx.ids.encode(API_KIND[api], entity);
  }

  /** Entity index of an id of this API, if it exists. */
  entityOf(api: DataApi, id: string): number | undefined {
    const entity = this.ctx.ids.decode(API_KIND[api], id);
    return entity !== undefined && entity < this.logs[api].entityCount ? entity : undefined;
  }

  /** Global site index of a record: activities, threats and alerts live where their agent lives. */
  siteIndexOf(api: DataApi, entity: number): number {
    if (api === 'agents') return agentSiteIndex(this.ctx, entity);
    if (api === 'groups') return entity >> 1;
    const agent = this.agentIndexOf(api, entity);
    if (agent !== undefined) return agentSiteIndex(this.ctx, agent);
    return hash32(this.ctx.seed, AGENT_LINK_SALT + 1, entity) % this.ctx.sites.length;
  }

  activityTypeOf(entity: number): number {
    return activityTypeOf(this.ctx, entity).id;
  }

  /** The record as served: `pos` is the version (log position) to render. */
  record(api: DataApi, entity: number, pos: number): JsonRecord {
    const log = this.logs[api];
    const site = this.site(this.siteIndexOf(api, entity));
    switch (api) {
      case 'activities':
        return buildActivity(this.ctx, entity, log.createdAt(entity), this.agentOf(api, entity), site, this.logs.threats.entityCount);
      case 'agents':
        return buildAgent(this.ctx, agentSummary(this.ctx, entity), log.createdAt(entity), log.timeAt(pos), this.versionAt(api, entity, pos));
      case 'threats':
        return buildThreat(this.ctx, entity, log.createdAt(entity), log.timeAt(pos), this.versionAt(api, entity, pos), this.agentOf(api, entity), site);
      case 'alerts':
        return buildAlert(this.ctx, entity, log.createdAt(entity), this.agentOf(api, entity), site);
      case 'groups':
        return buildGroup(this.ctx, entity, site, log.createdAt(entity), log.timeAt(pos), this.versionAt(api, entity, pos));
      default: {
        const unknownApi: never = api;
        throw new Error(`unknown api ${String(unknownApi)}`);
      }
    }
  }

  private versionAt(api: DataApi, entity: number, pos: number): number {
    const log = this.logs[api];
    // A superseded position is an older version; only current ones are served in walks.
    return log.currentPos(entity) === pos ? log.version(entity) : 0;
  }

  private agentIndexOf(api: DataApi, entity: number): number | undefined {
    const offset = AGENT_LINK_OFFSET[api];
    if (this.historicalAgents === 0 || offset === undefined) return undefined;
    return hash32(this.ctx.seed, AGENT_LINK_SALT, entity + offset) % this.historicalAgents;
  }

  private agentOf(api: DataApi, entity: number): AgentSummary | undefined {
    const agent = this.agentIndexOf(api, entity);
    return agent === undefined ? undefined : agentSummary(this.ctx, agent);
  }

  private site(index: number): SiteInfo {
    const site = this.ctx.sites[index];
    if (site === undefined) throw new RangeError(`no site ${index}`);
    return site;
  }
}
