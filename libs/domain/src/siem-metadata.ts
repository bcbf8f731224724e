import { INVENTORY_APIS, type SourceApi, type SourceConfig } from './source.types';
import { fieldsOf, type RecordFields } from './record-fields';

/** The custom field that turns SIEM tagging on (only the boolean `true` does). */
export const SIEM_FORWARD_KEY = '_siemForward';

/** The keys the collector itself writes on every record; no custom field can take them over. */
export const COLLECTOR_METADATA_KEYS = ['_source', '_sourceCategory', '_collector'] as const;

/** The SIEM keys written when `_siemForward` is true. */
export const SIEM_METADATA_KEYS = ['_siemVendor', '_siemProduct', '_siemFormat', '_siemEventID', '_siemDataType'] as const;

const SIEM_PREFIX = '_siem';

/** A record's metadata: string keys to JSON scalars. A null-prototype object (keys are user input). */
export type RecordMetadata = Readonly<Record<string, string | number | boolean | null>>;

/** What the tagging needs to know about a source: its collector and its configuration at fetch time. */
export interface MetadataSource {
  readonly collectorId: string;
  readonly config: Pick<SourceConfig, 'name' | 'category' | 'fields'>;
}

/**
 * The metadata of one output record, per docs/DESIGN.md "Metadata on every output record". Pure.
 *
 * - Custom fields first, in their configured order, except `_siemForward` (a switch, not data).
 * - Then the collector's keys, assigned last so that they always win: `_source` (the source's
 *   name), `_sourceCategory` (its category; **omitted** when the source has none, so that a SIEM
 *   never receives an empty or `null` category), `_collector` (the collector id).
 * - Only when `fields._siemForward === true`: `_siemVendor: "SentinelOne"`,
 *   `_siemProduct: "MGMT API"`, `_siemFormat: "JSON"`, `_siemEventID` (see {@link siemEventId}),
 *   and for the inventories (agents, groups) `_siemDataType: "Inventory"`.
 * - Without `_siemForward: true` there is no `_siem*` key at all: custom fields whose name starts
 *   with `_siem` are dropped too (the registry refuses the reserved ones already).
 *
 * @param record the SentinelOne object, parsed (only `activityType` and `id` are read).
 */
export function recordMetadata(source: MetadataSource, api: SourceApi, record: Readonly<Record<string, unknown>>): RecordMetadata {
  return recordMetadataWith(source, api, siemEventId(api, fieldsOf(record)));
}

/**
 * {@link recordMetadata} of a record whose `_siemEventID` is already known (the fetcher sends it
 * with the record, so that the enricher need not parse the record).
 */
export function recordMetadataWith(source: MetadataSource, api: SourceApi, eventId: string): RecordMetadata {
  const base = sourceMetadata(source, api);
  // An inventory's _siemEventID is constant and already in the source's part.
  if (!isSiemForwarded(source) || INVENTORY_APIS.has(api)) return base;
  const out = copy(base);
  out._siemEventID = eventId;
  return out;
}

/**
 * The part of a record's metadata that depends only on the source and the API (everything but
 * `_siemEventID` of activities and threats). The enricher computes it once per source version and
 * API; {@link recordMetadata} is this plus the record's `_siemEventID`, added last.
 */
export function sourceMetadata(source: MetadataSource, api: SourceApi): RecordMetadata {
  const forwarded = isSiemForwarded(source);
  const out: Record<string, string | number | boolean | null> = Object.create(null) as Record<string, string | number | boolean | null>;
  for (const { key, value } of source.config.fields) {
    if (key === SIEM_FORWARD_KEY) continue;
    if (!forwarded && key.startsWith(SIEM_PREFIX)) continue;
    out[key] = value;
  }
  // Assigned after the custom fields: a custom field can never override them.
  for (const key of COLLECTOR_METADATA_KEYS) delete out[key];
  out._source = source.config.name;
  if (source.config.category !== null && source.config.category !== undefined) out._sourceCategory = source.config.category;
  out._collector = source.collectorId;
  if (forwarded) {
    for (const key of SIEM_METADATA_KEYS) delete out[key];
    out._siemVendor = 'SentinelOne';
    out._siemProduct = 'MGMT API';
    out._siemFormat = 'JSON';
    if (INVENTORY_APIS.has(api)) {
      out._siemEventID = api;
      out._siemDataType = 'Inventory';
    }
  }
  return out;
}

/** Whether the source asked for SIEM tagging: only a boolean `true` counts. */
export function isSiemForwarded(source: MetadataSource): boolean {
  return source.config.fields.some((f) => f.key === SIEM_FORWARD_KEY && f.value === true);
}

/**
 * `_siemEventID` per docs/S1-API.md: `activities - {activityType}`, `threats - {id}` (the top-level
 * threat id), `agents`; ours (docs/COLLECTION.md "Alerts and groups"): `alerts - {ruleInfo.id}`
 * (the custom detection rule that fired: what a SIEM maps an alert by, as it maps an activity by
 * its type; stable where the rule's name is not), `groups`. A record without the value (absent,
 * null, or not a string or number) gets the bare API name, so the SIEM still routes it by API.
 */
export function siemEventId(api: SourceApi, record: RecordFields): string {
  switch (api) {
    case 'activities':
      return withSuffix(api, record.read(['activityType']));
    case 'threats':
      return withSuffix(api, record.read(['id']));
    case 'alerts':
      return withSuffix(api, record.read(['ruleInfo', 'id']));
    case 'agents':
    case 'groups':
      return api;
  }
}

function withSuffix(api: string, value: unknown): string {
  if (typeof value === 'string' && value !== '') return `${api} - ${value}`;
  if (typeof value === 'number' && Number.isFinite(value)) return `${api} - ${String(value)}`;
  return api;
}

function copy(metadata: RecordMetadata): Record<string, string | number | boolean | null> {
  const out = Object.create(null) as Record<string, string | number | boolean | null>;
  for (const key of Object.keys(metadata)) out[key] = metadata[key]!;
  return out;
}
