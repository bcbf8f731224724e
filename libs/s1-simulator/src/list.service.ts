import { IMMUTABLE_APIS, type Dataset, type DataApi } from './dataset.store.js';
import type { ListFilters, TimeRange } from './list.query.js';
import { lowerBound, type RecordLog } from './record.log.js';
import type { JsonRecord } from './records.generator.js';
import type { Micros } from './timestamp.util.js';

/**
 * A walk order over "slots". In version order (activities, or sortBy=updatedAt) a slot is a
 * log position and superseded versions are skipped; in entity order (sortBy=createdAt|id on
 * agents and threats) a slot is an entity index. Either way the sort key is non-decreasing
 * in the slot and ties are in id order, so [lo, hi) for a time range is a binary search.
 */
interface WalkOrder {
  readonly length: number;
  keyAt(slot: number): Micros;
  /** Entity at the slot, or -1 for a superseded version. */
  entityAt(slot: number): number;
  posAt(slot: number): number;
  slotOfEntity(entity: number): number;
}

function versionOrder(log: RecordLog): WalkOrder {
  return {
    length: log.length,
    keyAt: (slot) => log.timeAt(slot),
    entityAt: (slot) => (log.isCurrent(slot) ? log.entityAt(slot) : -1),
    posAt: (slot) => slot,
    slotOfEntity: (entity) => log.currentPos(entity),
  };
}

function entityOrder(log: RecordLog): WalkOrder {
  return {
    length: log.entityCount,
    keyAt: (entity) => log.createdAt(entity),
    entityAt: (entity) => entity,
    posAt: (entity) => log.currentPos(entity),
    slotOfEntity: (entity) => entity,
  };
}

/** Global site indexes a token may see; undefined means all. */
export type SiteScope = ReadonlySet<number> | undefined;

export interface PageRequest {
  readonly api: DataApi;
  readonly filters: ListFilters;
  readonly limit: number;
  readonly scope: SiteScope;
  /** Slot after which (asc) or before which (desc) to continue. */
  readonly after?: number;
  readonly countOnly: boolean;
  /** Count to report; computed when undefined, omitted when null. */
  readonly total?: number | null;
  readonly skipCount: boolean;
}

export interface Page {
  readonly data: JsonRecord[];
  /** Slot of the last item when more items follow, else undefined. */
  readonly nextAfter?: number;
  readonly total: number | null;
}

/** Runs one list request against the data set. Pure apart from reading the logs. */
export function listPage(dataset: Dataset, req: PageRequest): Page {
  const { api, filters } = req;
  const log = dataset.logs[api];
  const immutable = IMMUTABLE_APIS.has(api);
  const byVersion = immutable || filters.sortBy === 'updatedAt';
  const order = byVersion ? versionOrder(log) : entityOrder(log);
  const keyRange = immutable || !byVersion ? filters.createdAt : filters.updatedAt;
  const otherRange = immutable ? {} : byVersion ? filters.createdAt : filters.updatedAt;
  const lo = bound(order, keyRange.from, 0);
  const hi = bound(order, keyRange.to, order.length);
  const allowedSites = siteFilter(dataset, filters, req.scope);
  const types = filters.activityTypes ? new Set(filters.activityTypes) : undefined;
  const checkOther = otherRange.from !== undefined || otherRange.to !== undefined;
  const otherKey = (entity: number): Micros => (byVersion ? log.createdAt(entity) : log.timeAt(log.currentPos(entity)));

  const matches = (slot: number): boolean => {
    const entity = order.entityAt(slot);
    if (entity < 0) return false;
    if (allowedSites && !allowedSites[dataset.siteIndexOf(api, entity)]) return false;
    if (types && !types.has(dataset.activityTypeOf(entity))) return false;
    return !checkOther || inRange(otherKey(entity), otherRange);
  };
  const hasPredicate = allowedSites !== undefined || types !== undefined || checkOther;

  // `ids` turns the range into an explicit, sorted list of candidate slots.
  const candidates = filters.ids ? idSlots(dataset, api, order, filters.ids, lo, hi) : undefined;
  const asc = filters.sortOrder === 'asc';
  const slots = candidates ? listCursor(candidates, asc) : rangeCursor(lo, hi, asc);

  const total =
    req.total !== undefined
      ? req.total
      : req.skipCount && !req.countOnly
        ? null
        : countMatches(candidates, lo, hi, hasPredicate, matches, () => (byVersion ? log.supersededIn(lo, hi) : 0));
  if (req.countOnly) return { data: [], total };

  const data: JsonRecord[] = [];
  let last: number | undefined;
  let slot = slots.first(req.after);
  for (; slot !== undefined && data.length < req.limit; slot = slots.next(slot)) {
    if (!matches(slot)) continue;
    data.push(dataset.record(api, order.entityAt(slot), order.posAt(slot)));
    last = slot;
  }
  // Look ahead so the last page says nextCursor: null instead of leading to an empty page.
  while (slot !== undefined && !matches(slot)) slot = slots.next(slot);
  return { data, total, ...(slot !== undefined && last !== undefined && { nextAfter: last }) };
}

interface SlotCursor {
  first(after: number | undefined): number | undefined;
  next(slot: number): number | undefined;
}

function rangeCursor(lo: number, hi: number, asc: boolean): SlotCursor {
  const inside = (s: number): number | undefined => (s >= lo && s < hi ? s : undefined);
  return asc
    ? { first: (after) => inside(after === undefined ? lo : Math.max(lo, after + 1)), next: (s) => inside(s + 1) }
    : { first: (after) => inside(after === undefined ? hi - 1 : Math.min(hi - 1, after - 1)), next: (s) => inside(s - 1) };
}

function listCursor(sorted: readonly number[], asc: boolean): SlotCursor {
  // Slots are unique, so the successor of a slot is found by binary search.
  const at = (i: number): number | undefined => sorted[i];
  const indexAfter = (s: number): number => lowerBound(sorted.length, (i) => (sorted[i] ?? Infinity) > s);
  const indexBefore = (s: number): number => lowerBound(sorted.length, (i) => (sorted[i] ?? Infinity) >= s) - 1;
  return asc
    ? { first: (after) => at(after === undefined ? 0 : indexAfter(after)), next: (s) => at(indexAfter(s)) }
    : { first: (after) => at(after === undefined ? sorted.length - 1 : indexBefore(after)), next: (s) => at(indexBefore(s)) };
}

function countMatches(
  candidates: readonly number[] | undefined,
  lo: number,
  hi: number,
  hasPredicate: boolean,
  matches: (slot: number) => boolean,
  superseded: () => number,
): number {
  if (candidates) return candidates.filter(matches).length;
  // Without predicates only superseded versions drop out, and only live updates make those.
  if (!hasPredicate) return hi - lo - superseded();
  let n = 0;
  for (let slot = lo; slot < hi; slot += 1) if (matches(slot)) n += 1;
  return n;
}

function bound(order: WalkOrder, micros: Micros | undefined, fallback: number): number {
  return micros === undefined ? fallback : lowerBound(order.length, (slot) => order.keyAt(slot) >= micros);
}

function inRange(micros: Micros, range: TimeRange): boolean {
  return (range.from === undefined || micros >= range.from) && (range.to === undefined || micros < range.to);
}

function idSlots(dataset: Dataset, api: DataApi, order: WalkOrder, ids: readonly string[], lo: number, hi: number): number[] {
  const slots = new Set<number>();
  for (const id of ids) {
    const entity = dataset.entityOf(api, id);
    if (entity === undefined) continue;
    const slot = order.slotOfEntity(entity);
    if (slot >= lo && slot < hi) slots.add(slot);
  }
  return [...slots].sort((a, b) => a - b);
}

/** Sites allowed by token scope ∩ siteIds ∩ accountIds, as a lookup table; undefined = all. */
function siteFilter(dataset: Dataset, filters: ListFilters, scope: SiteScope): boolean[] | undefined {
  if (!scope && !filters.siteIds && !filters.accountIds) return undefined;
  const siteIds = filters.siteIds ? new Set(filters.siteIds) : undefined;
  const accountIds = filters.accountIds ? new Set(filters.accountIds) : undefined;
  return dataset.ctx.sites.map(
    (site) => (!scope || scope.has(site.index)) && (!siteIds || siteIds.has(site.id)) && (!accountIds || accountIds.has(site.accountId)),
  );
}
