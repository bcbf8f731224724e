import type { Actor } from './actor';
import { evolveSource, initialSourceState, type SourceState } from './source.decider';
import type { SourceEvent } from './source.events';
import { optionLeaves, type SourceOptions } from './source.options';
import type { CustomField, EncryptedSecret, FieldValue, SourceConfig } from './source.types';

/** What a history shows instead of a token: never the token, never its ciphertext. */
export const HISTORY_SECRET_MASK = '********';

/** A value a history entry shows. */
export type HistoryValue = FieldValue | string[];

/**
 * One thing an event changed, named by the source document's field (`base_url`,
 * `fields["team.name"]`, `state`). A `masked` change is the API token: it was set or replaced,
 * and both sides show {@link HISTORY_SECRET_MASK}.
 */
export interface HistoryChange {
  readonly path: string;
  readonly from: HistoryValue;
  readonly to: HistoryValue;
  readonly masked?: true;
}

/** One event of a source's log as a person reads it: who, when, what changed. */
export interface HistoryEntry {
  readonly version: number;
  readonly at: string;
  readonly type: SourceEvent['type'];
  readonly actor: Actor;
  readonly correlationId: string | null;
  readonly changes: HistoryChange[];
}

/** A Source event as read from the log, with what its metadata says. */
export type HistoryInput = SourceEvent & { readonly version: number; readonly actor: Actor; readonly correlationId: string | null };

/**
 * A source's change history, derived from its log alone: one entry per event, oldest first, each
 * with the changes it made to the configuration, the token (masked) and the state. Secrets are
 * never copied out: a token change shows only that it happened; a re-encryption under a new key
 * (`SourceSecretReencrypted`) changes nothing visible.
 */
export function sourceHistory(events: Iterable<HistoryInput>): HistoryEntry[] {
  const entries: HistoryEntry[] = [];
  let state: SourceState = initialSourceState();
  for (const event of events) {
    const next = evolveSource(state, event);
    entries.push({
      version: event.version,
      at: event.data.at,
      type: event.type,
      actor: event.actor,
      correlationId: event.correlationId,
      changes: changesBetween(state, next, event),
    });
    state = next;
  }
  return entries;
}

function changesBetween(before: SourceState, after: SourceState, event: SourceEvent): HistoryChange[] {
  const changes: HistoryChange[] = [];
  if (before.status === 'Nonexistent' && event.type === 'SourceCreated') {
    changes.push({ path: 'collectorId', from: null, to: event.data.collectorId });
  }
  const configBefore = 'config' in before ? before.config : undefined;
  const configAfter = 'config' in after ? after.config : undefined;
  if (configAfter) changes.push(...configChanges(configBefore, configAfter));
  const secretBefore = 'secret' in before ? before.secret : undefined;
  const secretAfter = 'secret' in after ? after.secret : undefined;
  if (secretAfter) changes.push(...secretChanges(secretBefore, secretAfter, event));
  const statusBefore = before.status === 'Nonexistent' ? null : before.status;
  if (statusBefore !== after.status) changes.push({ path: 'state', from: statusBefore, to: after.status });
  if (event.type === 'SourceFailed' && after.status === 'Error') {
    const { errorType, reason, api } = event.data.failure;
    changes.push({ path: 'error', from: null, to: `${errorType}${api ? ` (${api})` : ''}: ${reason}` });
  }
  return changes;
}

function configChanges(before: SourceConfig | undefined, after: SourceConfig): HistoryChange[] {
  const changes: HistoryChange[] = [];
  const scalar = (path: string, from: FieldValue | undefined, to: FieldValue) => {
    if (from === undefined ? to !== null : from !== to) changes.push({ path, from: from ?? null, to });
  };
  scalar('name', before?.name, after.name);
  scalar('description', before?.description, after.description);
  scalar('category', before?.category, after.category);
  changes.push(...fieldChanges(before?.fields ?? [], after.fields));
  scalar('base_url', before?.baseUrl, after.baseUrl);
  if (before === undefined || before.supportedApis.join(',') !== after.supportedApis.join(',')) {
    changes.push({ path: 'supported_apis', from: before ? [...before.supportedApis] : null, to: [...after.supportedApis] });
  }
  changes.push(...optionChanges(before?.options, after.options));
  return changes;
}

/** One change per leaf of `config.options` that differs (`options.scope.site_ids`), in document form. */
function optionChanges(before: SourceOptions | undefined, after: SourceOptions | undefined): HistoryChange[] {
  const old = optionLeaves(before);
  const now = optionLeaves(after);
  const changes: HistoryChange[] = [];
  for (const path of new Set([...old.keys(), ...now.keys()])) {
    const from = old.get(path) ?? null;
    const to = now.get(path) ?? null;
    if (JSON.stringify(from) !== JSON.stringify(to)) changes.push({ path, from, to });
  }
  return changes;
}

function fieldChanges(before: readonly CustomField[], after: readonly CustomField[]): HistoryChange[] {
  const old = new Map(before.map((f) => [f.key, f.value]));
  const now = new Map(after.map((f) => [f.key, f.value]));
  const changes: HistoryChange[] = [];
  for (const key of new Set([...old.keys(), ...now.keys()])) {
    const from = old.has(key) ? old.get(key)! : null;
    const to = now.has(key) ? now.get(key)! : null;
    if (old.has(key) !== now.has(key) || from !== to) changes.push({ path: fieldPath(key), from, to });
  }
  return changes;
}

function secretChanges(before: EncryptedSecret | undefined, after: EncryptedSecret, event: SourceEvent): HistoryChange[] {
  // A re-encryption holds the same token (its entry's type says what happened). Nothing of the
  // sealed secret is shown, not even its key id.
  if (before === after || event.type === 'SourceSecretReencrypted') return [];
  return [{ path: 'api_secret', from: before ? HISTORY_SECRET_MASK : null, to: HISTORY_SECRET_MASK, masked: true }];
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

function fieldPath(key: string): string {
  return IDENTIFIER.test(key) ? `fields.${key}` : `fields[${JSON.stringify(key)}]`;
}
