import { HEALTH_EVENT_NAMES, toMicroIso, type HealthEventRaised, type HealthEventResolved, type SourceApi } from '@s1c/domain';
import { ConcurrencyError, type MongoEventStore, type RecordedEvent } from '@s1c/event-store';
import type { Logger } from '@s1c/logger';

/** The log stream of a source's delivery health: `delivery-<sourceId>`. */
export const deliveryStreamId = (sourceId: string): string => `delivery-${sourceId}`;

interface OpenEvent {
  readonly healthEventId: string;
  /** When the streak of refusals began (ms). */
  readonly firstAtMs: number;
}

/** A source's delivery stream folded: its version, last position and open event. */
interface DeliveryState {
  readonly version: number;
  readonly position: number;
  readonly open: OpenEvent | null;
}

/** Counters for logs and tests. */
export interface DeliveryHealthStats {
  /** Reads of a delivery stream: the first use of a source in this process, and lost races. */
  reads: number;
  appends: number;
  conflicts: number;
}

const MAX_ATTEMPTS = 5;

/**
 * Health events of the HTTP delivery, per source, in `delivery-<sourceId>` (DESIGN.md shape, as
 * in the collection streams): a collector refusing a batch (4xx other than 429) raises a
 * `FirstPartyGenericError` (one per streak; a repeat is another occurrence of the same id), the
 * first accepted batch resolves it.
 *
 * Each source's stream is kept folded in memory (version, position, open event): it is read once,
 * the first time the process sees the source (so a restart neither loses the streak's start nor
 * leaves an event open), and appended to at the version it knows, without reading the log. A lost
 * race (another replica appended first) is a `ConcurrencyError`: only then are the newer events
 * read, folded, and the refusal or acceptance decided again on them. Calls for one source are
 * serialized in the process, so its own batches never race each other.
 */
export class DeliveryHealth {
  readonly stats: DeliveryHealthStats = { reads: 0, appends: 0, conflicts: 0 };
  private readonly states = new Map<string, DeliveryState>();
  private readonly queues = new Map<string, Promise<unknown>>();

  constructor(
    private readonly store: MongoEventStore,
    private readonly clock: () => Date,
    private readonly logger: Logger,
  ) {}

  /** When the current streak of refusals began (ms), or undefined. */
  async streakStart(sourceId: string): Promise<number | undefined> {
    return this.serialized(sourceId, async () => (await this.state(sourceId)).open?.firstAtMs);
  }

  /** Records a refusal: raises (or repeats) the source's delivery error. */
  refused(sourceId: string, api: SourceApi, reason: string, retry: { retrying: boolean; nextAttemptAt?: string; until?: string }): Promise<void> {
    return this.serialized(sourceId, async () => {
      const now = this.clock();
      const description = retry.retrying
        ? `${reason}. The HTTP collector refuses the records; retrying with backoff (next attempt ${retry.nextAttemptAt}, until ${retry.until}). Check S1C_SINK_HTTP_URL and the collector's source.`
        : `${reason}. The HTTP collector kept refusing the records until ${retry.until}: they were moved to the dead-letter stream. Fix the collector's source, then replay them from S1C_DLQ.`;
      const healthEventId = await this.append(sourceId, (state) => {
        const id = state.open?.healthEventId ?? `health-${sourceId}-delivery-FirstPartyGeneric-${now.getTime()}`;
        const event: HealthEventRaised = {
          type: 'HealthEventRaised',
          data: {
            sourceId,
            api,
            at: toMicroIso(now),
            healthEventId: id,
            severity: 'Error',
            errorType: 'FirstPartyGeneric',
            eventName: HEALTH_EVENT_NAMES.FirstPartyGeneric,
            description,
            retry,
          },
        };
        return { event, result: id };
      });
      this.logger.warn({ sourceId, api, healthEventId, reason }, 'HTTP delivery refused; health event raised');
    });
  }

  /** Records an accepted batch: resolves the open delivery error, if any (no write, and no read after the first, when none is open). */
  accepted(sourceId: string, api: SourceApi): Promise<void> {
    return this.serialized(sourceId, async () => {
      const resolved = await this.append(sourceId, (state) => {
        if (!state.open) return undefined;
        const event: HealthEventResolved = {
          type: 'HealthEventResolved',
          data: { sourceId, api, at: toMicroIso(this.clock()), healthEventId: state.open.healthEventId },
        };
        return { event, result: state.open.healthEventId };
      });
      if (resolved !== undefined) this.logger.info({ sourceId, healthEventId: resolved }, 'HTTP delivery accepted again; health event resolved');
    });
  }

  /**
   * Decides on the state held in memory and appends at its version; on a lost race reads the newer
   * events, folds them and decides again. Returns the decision's result (undefined: nothing to append).
   */
  private async append<R>(
    sourceId: string,
    decide: (state: DeliveryState) => { event: HealthEventRaised | HealthEventResolved; result: R } | undefined,
  ): Promise<R | undefined> {
    const streamId = deliveryStreamId(sourceId);
    for (let attempt = 1; ; attempt++) {
      const state = await this.state(sourceId);
      const decision = decide(state);
      if (!decision) return undefined;
      try {
        const appended = await this.store.appendToStream(streamId, [decision.event], {
          expectedVersion: state.version === 0 ? 'no_stream' : state.version,
          lastPosition: state.position,
        });
        this.stats.appends += 1;
        this.states.set(sourceId, foldAll(state, appended.events));
        return decision.result;
      } catch (error) {
        if (!(error instanceof ConcurrencyError) || attempt >= MAX_ATTEMPTS) throw error;
        this.stats.conflicts += 1;
        this.stats.reads += 1;
        const newer = await this.store.readStream(streamId, { fromVersion: state.version + 1 });
        this.states.set(sourceId, foldAll(state, newer));
      }
    }
  }

  /** The source's folded stream: from memory, or read once. */
  private async state(sourceId: string): Promise<DeliveryState> {
    const known = this.states.get(sourceId);
    if (known) return known;
    this.stats.reads += 1;
    const state = foldAll({ version: 0, position: 0, open: null }, await this.store.readStream(deliveryStreamId(sourceId)));
    this.states.set(sourceId, state);
    return state;
  }

  private serialized<T>(sourceId: string, work: () => Promise<T>): Promise<T> {
    const previous = this.queues.get(sourceId) ?? Promise.resolve();
    const next = previous.then(work, work);
    const tail = next.catch(() => undefined);
    this.queues.set(sourceId, tail);
    void tail.then(() => {
      if (this.queues.get(sourceId) === tail) this.queues.delete(sourceId);
    });
    return next;
  }
}

function foldAll(state: DeliveryState, events: readonly RecordedEvent[]): DeliveryState {
  let { version, position, open } = state;
  for (const event of events) {
    if (event.version <= version) continue;
    version = event.version;
    position = Math.max(position, event.position);
    if (event.type === 'HealthEventRaised') {
      const data = event.data as HealthEventRaised['data'];
      if (open?.healthEventId !== data.healthEventId) open = { healthEventId: data.healthEventId, firstAtMs: microsToMs(data.at) };
    } else if (event.type === 'HealthEventResolved') {
      open = null;
    }
  }
  return { version, position, open };
}

function microsToMs(at: string): number {
  const ms = Date.parse(at);
  return Number.isNaN(ms) ? Date.now() : ms;
}
