import { microIsoOf, type Lane, type RecordFields, type SourceApi, type TimeWindow } from '@s1c/domain';

/**
 * What differs between the three fetchers: which field a walk filters and sorts on, where a
 * record keeps its id and that timestamp, and how its record id (`Nats-Msg-Id`) is built.
 */
export interface ApiSpec {
  readonly api: SourceApi;
  /** The incremental field of the list filters: `createdAt__gte`. */
  readonly timeField: 'createdAt' | 'updatedAt';
  /** What the list is sorted by on that field: `createdAt`, or for alerts `alertInfoCreatedAt`. */
  readonly sortBy: string;
  /**
   * The record's value of the incremental field, normalised to microsecond ISO form.
   * @throws MalformedRecordError when it is missing or not a timestamp.
   */
  timestampOf(record: RecordFields): string;
  /**
   * The record's id (`Nats-Msg-Id`, header `S1c-Record-Id`), per COLLECTION.md "Record ids".
   * @throws MalformedRecordError when the record has no usable id or timestamp.
   */
  recordIdOf(sourceId: string, record: RecordFields, lane: Lane, window: TimeWindow): string;
  /**
   * {@link recordIdOf} and {@link timestampOf} in one go (the timestamp read and checked once per
   * record); same results, same errors in the same order.
   */
  recordOf(sourceId: string, record: RecordFields, lane: Lane, window: TimeWindow): { readonly id: string; readonly timestamp: string };
}

/**
 * A record SentinelOne sent without its id or its timestamp: the page is a malformed response
 * (ThirdPartyGeneric) and nothing of it is published.
 */
export class MalformedRecordError extends Error {
  override readonly name = 'MalformedRecordError';
  constructor(
    readonly api: SourceApi,
    readonly field: string,
    problem: string,
  ) {
    super(`a ${api} record in SentinelOne's response ${problem} (${field}); the page was not published`);
  }
}

// Ids travel in a NATS header and inside record ids separated by ':': S1 ids are digit strings,
// so anything with separators, spaces or control characters is not an id we can trust.
const RECORD_ID = /^[A-Za-z0-9_-]{1,128}$/;

/** How {@link defineApiSpec} reads one API's records. */
export interface ApiSpecDefinition {
  readonly api: SourceApi;
  readonly timeField: 'createdAt' | 'updatedAt';
  /** The sort on `timeField` when its name differs (`alertInfoCreatedAt`); default `timeField`. */
  readonly sortBy?: string;
  /** Where the record's id lives when it is not the top-level `id`, e.g. `['alertInfo', 'alertId']`. */
  readonly idPath?: readonly string[];
  /** Where the incremental timestamp lives, e.g. `['threatInfo', 'updatedAt']`. */
  readonly timestampPath: readonly string[];
  /**
   * Whether each version of a record is its own record (threats, agents): the timestamp joins the
   * id, so a changed threat is collected again. Activities never change: their id alone.
   */
  readonly versioned: boolean;
}

/**
 * Builds an {@link ApiSpec}. Record ids: `<sourceId>:<api>:<id>` (unversioned),
 * `<sourceId>:<api>:<id>:<timestamp>` (versioned), and in a snapshot
 * `<sourceId>:<api>:snapshot-<window.to>:<id>`, so every snapshot carries the whole inventory.
 */
export function defineApiSpec(definition: ApiSpecDefinition): ApiSpec {
  const { api, timeField, timestampPath, versioned } = definition;
  const idPath = definition.idPath ?? ['id'];
  const fieldName = timestampPath.join('.');
  const idName = idPath.join('.');
  const timestampOf = (record: RecordFields): string => {
    const current = record.read(timestampPath);
    if (typeof current !== 'string') throw new MalformedRecordError(api, fieldName, 'has no timestamp');
    const iso = microIsoOf(current);
    if (iso === undefined) throw new MalformedRecordError(api, fieldName, 'has a timestamp that is not ISO-8601');
    return iso;
  };
  const idOf = (record: RecordFields): string => {
    const raw = record.read(idPath);
    // The page parser turns integers beyond 2^53 into decimal strings; smaller ones stay numbers.
    const id = typeof raw === 'number' && Number.isSafeInteger(raw) && raw >= 0 ? String(raw) : raw;
    if (typeof id !== 'string' || !RECORD_ID.test(id)) throw new MalformedRecordError(api, idName, 'has no usable id');
    return id;
  };
  const recordOf = (sourceId: string, record: RecordFields, lane: Lane, window: TimeWindow): { id: string; timestamp: string } => {
    const id = idOf(record);
    // A record without its timestamp is malformed in every lane, snapshot included.
    const timestamp = timestampOf(record);
    if (lane === 'snapshot') return { id: `${sourceId}:${api}:snapshot-${window.to}:${id}`, timestamp };
    return { id: versioned ? `${sourceId}:${api}:${id}:${timestamp}` : `${sourceId}:${api}:${id}`, timestamp };
  };
  return Object.freeze({
    api,
    timeField,
    sortBy: definition.sortBy ?? timeField,
    timestampOf,
    recordIdOf(sourceId: string, record: RecordFields, lane: Lane, window: TimeWindow): string {
      return recordOf(sourceId, record, lane, window).id;
    },
    recordOf,
  });
}

/** The snapshot a record of a `snapshot` job belongs to (header `S1c-Snapshot-Id`). */
export const snapshotIdOf = (window: TimeWindow): string => `snapshot-${window.to}`;
