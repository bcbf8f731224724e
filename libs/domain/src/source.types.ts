import type { SourceOptions } from './source.options';
/** The SentinelOne APIs a source can collect. */
export const SOURCE_APIS = ['activities', 'agents', 'threats', 'alerts', 'groups'] as const;
export type SourceApi = (typeof SOURCE_APIS)[number];
/** The hosted product's three; `alerts` and `groups` are ours, opt-in through `supported_apis`. */
export const HOSTED_APIS: readonly SourceApi[] = ['activities', 'agents', 'threats'];
/** Inventories: collected whole by periodic snapshots plus `updatedAt` deltas, with no backfill. */
export const INVENTORY_APIS: ReadonlySet<SourceApi> = new Set(['agents', 'groups']);

/** A custom metadata value copied onto every record of a source. */
export type FieldValue = string | number | boolean | null;

/**
 * One entry of a source's `fields` map. Kept as ordered key/value pairs, never as an object:
 * keys are user input (`team.name`, `$x`) that a document database cannot take as keys.
 */
export interface CustomField {
  readonly key: string;
  readonly value: FieldValue;
}

/** An API token encrypted with AES-256-GCM; `kid` names the key so keys can be rotated. */
export interface EncryptedSecret {
  readonly alg: 'A256GCM';
  readonly kid: string;
  readonly iv: string;
  readonly ct: string;
  readonly tag: string;
}

/** A source's configuration, as validated from the hosted product's document. */
export interface SourceConfig {
  readonly name: string;
  readonly description: string | null;
  readonly category: string | null;
  readonly fields: readonly CustomField[];
  readonly baseUrl: string;
  readonly supportedApis: readonly SourceApi[];
  /** Our extension: the source's own collection settings (absent: the process's). */
  readonly options?: SourceOptions;
}

/** The kinds of failure of docs/DESIGN.md; each decides how a source retries. */
export const ERROR_TYPES = ['ThirdPartyConfig', 'ThirdPartyGeneric', 'FirstPartyGeneric'] as const;
export type ErrorType = (typeof ERROR_TYPES)[number];

/** The health event name the hosted product shows for each error type. */
export const HEALTH_EVENT_NAMES: Readonly<Record<ErrorType, string>> = {
  ThirdPartyConfig: 'ThirdPartyConfigError',
  ThirdPartyGeneric: 'ThirdPartyGenericError',
  FirstPartyGeneric: 'FirstPartyGenericError',
};

/** Why a source went to Error: the failure that made it quit. */
export interface SourceFailure {
  readonly errorType: ErrorType;
  readonly reason: string;
  readonly api?: SourceApi;
}
