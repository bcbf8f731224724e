import { SOURCE_STATES, type SourceStateName } from '@s1c/contracts';
import { z } from 'zod';
import type { Style } from './style';
import { shortTime } from './time.format';

/** The body of a relayed event on `S1C_EVENTS` (`@s1c/event-store` RelayedEventPayload); only what watch reads. */
export const relayedEventSchema = z.object({
  streamId: z.string(),
  version: z.number(),
  type: z.string(),
  data: z.record(z.string(), z.unknown()),
  time: z.string(),
});

/** A relayed domain event from a JetStream message body, or undefined when it is not one (skipped). */
export function relayedEventOf(message: { json<T>(): T }): RelayedEvent | undefined {
  let body: unknown;
  try {
    body = message.json<unknown>();
  } catch {
    return undefined;
  }
  const parsed = relayedEventSchema.safeParse(body);
  return parsed.success ? parsed.data : undefined;
}
export type RelayedEvent = z.infer<typeof relayedEventSchema>;

/** The state each source event leads to (libs/domain's source decider). */
const STATE_AFTER: Record<string, SourceStateName> = {
  SourceCreated: 'Pending',
  SourceUpdated: 'Pending',
  SourceRestarted: 'Pending',
  CollectionStarted: 'Started',
  CollectionInitialized: 'Initialized',
  SourceAuthenticated: 'Authenticated',
  CollectionBegan: 'Collecting',
  SourceFailed: 'Error',
  SourceDeletionRequested: 'Stopping',
  SourceDeleted: 'Deleted',
};

/** One line of `s1c watch`; with `--json`, this object is printed as is (never an event's raw data: it may hold the encrypted token). */
export type WatchEvent =
  | { kind: 'state'; time: string; sourceId: string; name: string | null; event: string; from: SourceStateName | null; to: SourceStateName; reason?: string }
  | {
      kind: 'health';
      time: string;
      sourceId: string;
      name: string | null;
      event: 'HealthEventRaised' | 'HealthEventResolved';
      healthEventId: string;
      eventName: string | null;
      severity: 'Error' | 'Warning' | null;
      api: string | null;
      description?: string;
    };

const SOURCE_PREFIX = 'source-';
const COLLECTION_PREFIX = 'collection-';

const str = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);

/**
 * Follows the event stream: remembers names, last states and raised health events, and turns
 * each relevant event into a {@link WatchEvent}. Pure apart from its own memory.
 */
export class WatchTracker {
  private readonly names = new Map<string, string>();
  private readonly states = new Map<string, SourceStateName>();
  private readonly raised = new Map<string, { eventName: string; severity: 'Error' | 'Warning'; api: string | null }>();

  /** A name learnt elsewhere (e.g. from a `get`). */
  learn(sourceId: string, name: string, state?: SourceStateName): void {
    this.names.set(sourceId, name);
    if (state && !this.states.has(sourceId)) this.states.set(sourceId, state);
  }

  nameOf(sourceId: string): string | undefined {
    return this.names.get(sourceId);
  }

  /** The source an event belongs to, or undefined when it is about no source (e.g. name reservations). */
  static sourceIdOf(event: RelayedEvent): string | undefined {
    if (event.streamId.startsWith(SOURCE_PREFIX)) return event.streamId.slice(SOURCE_PREFIX.length);
    if (event.streamId.startsWith(COLLECTION_PREFIX)) {
      return str(event.data.sourceId) ?? event.streamId.slice(COLLECTION_PREFIX.length).replace(/-(activities|agents|threats)$/, '');
    }
    return str(event.data.sourceId);
  }

  /** The line for `event`, or undefined for the many events watch does not show (pages, jobs, ...). */
  apply(event: RelayedEvent): WatchEvent | undefined {
    const sourceId = WatchTracker.sourceIdOf(event);
    if (!sourceId) return undefined;
    const time = str(event.data.at) ?? event.time;
    const to = STATE_AFTER[event.type];
    if (to && event.streamId.startsWith(SOURCE_PREFIX)) {
      const config = event.data.config as { name?: unknown } | undefined;
      const name = str(config?.name);
      if (name) this.names.set(sourceId, name);
      const from = this.states.get(sourceId) ?? null;
      this.states.set(sourceId, to);
      const line: WatchEvent = { kind: 'state', time, sourceId, name: this.names.get(sourceId) ?? null, event: event.type, from, to };
      const reason = reasonOf(event);
      if (reason) line.reason = reason;
      return line;
    }
    if (event.type === 'HealthEventRaised') {
      const healthEventId = str(event.data.healthEventId) ?? '(unknown)';
      const severity = event.data.severity === 'Warning' ? 'Warning' : 'Error';
      const api = str(event.data.api) ?? null;
      const eventName = str(event.data.eventName) ?? str(event.data.errorType) ?? 'HealthEvent';
      this.raised.set(healthEventId, { eventName, severity, api });
      const line: WatchEvent = { kind: 'health', time, sourceId, name: this.names.get(sourceId) ?? null, event: 'HealthEventRaised', healthEventId, eventName, severity, api };
      const description = str(event.data.description);
      if (description) line.description = description;
      return line;
    }
    if (event.type === 'HealthEventResolved') {
      const healthEventId = str(event.data.healthEventId) ?? '(unknown)';
      const known = this.raised.get(healthEventId);
      this.raised.delete(healthEventId);
      return {
        kind: 'health',
        time,
        sourceId,
        name: this.names.get(sourceId) ?? null,
        event: 'HealthEventResolved',
        healthEventId,
        eventName: known?.eventName ?? null,
        severity: known?.severity ?? null,
        api: known?.api ?? null,
      };
    }
    return undefined;
  }
}

function reasonOf(event: RelayedEvent): string | undefined {
  if (event.type === 'SourceFailed') {
    const failure = event.data.failure as { reason?: unknown; errorType?: unknown; api?: unknown } | undefined;
    const api = str(failure?.api);
    return `${str(failure?.errorType) ?? 'failure'}${api ? ` (${api})` : ''}: ${str(failure?.reason) ?? 'no reason given'}`;
  }
  if (event.type === 'SourceUpdated' && Array.isArray(event.data.changes)) return `updated: ${event.data.changes.join(', ')}`;
  if (event.type === 'SourceRestarted') return 'restarted by an operator';
  return undefined;
}

/** One human line of `s1c watch`. */
export function renderWatchLine(e: WatchEvent, style: Style): string {
  const who = e.name ? `${e.name} (${e.sourceId})` : e.sourceId;
  const when = style.dim(shortTime(e.time));
  if (e.kind === 'state') {
    const change = e.from && e.from !== e.to ? `${style.state(e.from)} → ${style.state(e.to)}` : `→ ${style.state(e.to)}`;
    return `${when}  ${who}  ${change}${e.reason ? `  ${e.reason.replace(/[\r\n]+/g, ' ')}` : ''}\n`;
  }
  const what = `${e.eventName ?? e.healthEventId}${e.api ? ` (${e.api})` : ''}`;
  if (e.event === 'HealthEventResolved') return `${when}  ${who}  ${style.green('resolved')} ${what}\n`;
  const severity = e.severity === 'Warning' ? style.yellow('Warning') : style.red('Error');
  return `${when}  ${who}  ${severity} ${what}${e.description ? `: ${e.description.replace(/[\r\n]+/g, ' ')}` : ''}\n`;
}

export const isSourceState = (value: string): value is SourceStateName => (SOURCE_STATES as readonly string[]).includes(value);
