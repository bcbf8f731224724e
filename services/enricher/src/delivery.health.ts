import { HEALTH_EVENT_NAMES, toMicroIso, type HealthEventRaised, type HealthEventResolved, type SourceApi } from '@s1c/domain';
import type { MongoEventStore } from '@s1c/event-store';
import type { Logger } from '@s1c/logger';

/** The log stream of a source's delivery health: `delivery-<sourceId>`. */
export const deliveryStreamId = (sourceId: string): string => `delivery-${sourceId}`;

interface OpenEvent {
  readonly healthEventId: string;
  /** When the streak of refusals began (ms). */
  readonly firstAtMs: number;
}

/**
 * Health events of the HTTP delivery, per source, in `delivery-<sourceId>` (docs/DESIGN.md shape, as
 * in the collection streams): a collector refusing a batch (4xx other than 429) raises a
 * `FirstPartyGenericError` (one per streak; a repeat is another occurrence of the same id), the
 * first accepted batch resolves it. The open event is read back from the log the first time a
 * source is seen, so a restart neither loses the streak's start nor leaves an event open.
 */
export class DeliveryHealth {
  private readonly open = new Map<string, OpenEvent | null>();

  constructor(
    private readonly store: MongoEventStore,
    private readonly clock: () => Date,
    private readonly logger: Logger,
  ) {}

  /** When the current streak of refusals began (ms), or undefined. */
  async streakStart(sourceId: string): Promise<number | undefined> {
    return (await this.current(sourceId))?.firstAtMs;
  }

  /** Records a refusal: raises (or repeats) the source's delivery error. */
  async refused(sourceId: string, api: SourceApi, reason: string, retry: { retrying: boolean; nextAttemptAt?: string; until?: string }): Promise<void> {
    const now = this.clock();
    const at = toMicroIso(now);
    const current = await this.current(sourceId);
    const healthEventId = current?.healthEventId ?? `health-${sourceId}-delivery-FirstPartyGeneric-${now.getTime()}`;
    const description = retry.retrying
      ? `${reason}. The HTTP collector refuses the records; retrying with backoff (next attempt ${retry.nextAttemptAt}, until ${retry.until}). Check S1C_SINK_HTTP_URL and the collector's source.`
      : `${reason}. The HTTP collector kept refusing the records until ${retry.until}: they were moved to the dead-letter stream. Fix the collector's source, then replay them from S1C_DLQ.`;
    const event: HealthEventRaised = {
      type: 'HealthEventRaised',
      data: {
        sourceId,
        api,
        at,
        healthEventId,
        severity: 'Error',
        errorType: 'FirstPartyGeneric',
        eventName: HEALTH_EVENT_NAMES.FirstPartyGeneric,
        description,
        retry,
      },
    };
    await this.store.appendToStream(deliveryStreamId(sourceId), [event], { expectedVersion: 'any' });
    this.open.set(sourceId, { healthEventId, firstAtMs: current?.firstAtMs ?? now.getTime() });
    this.logger.warn({ sourceId, api, healthEventId, reason }, 'HTTP delivery refused; health event raised');
  }

  /** Records an accepted batch: resolves the open delivery error, if any. */
  async accepted(sourceId: string, api: SourceApi): Promise<void> {
    const current = await this.current(sourceId);
    if (!current) return;
    const event: HealthEventResolved = {
      type: 'HealthEventResolved',
      data: { sourceId, api, at: toMicroIso(this.clock()), healthEventId: current.healthEventId },
    };
    await this.store.appendToStream(deliveryStreamId(sourceId), [event], { expectedVersion: 'any' });
    this.open.set(sourceId, null);
    this.logger.info({ sourceId, healthEventId: current.healthEventId }, 'HTTP delivery accepted again; health event resolved');
  }

  private async current(sourceId: string): Promise<OpenEvent | null> {
    const known = this.open.get(sourceId);
    if (known !== undefined) return known;
    let open = null as OpenEvent | null;
    for (const event of await this.store.readStream(deliveryStreamId(sourceId))) {
      if (event.type === 'HealthEventRaised') {
        const data = event.data as HealthEventRaised['data'];
        if (open?.healthEventId !== data.healthEventId) open = { healthEventId: data.healthEventId, firstAtMs: microsToMs(data.at) };
      } else if (event.type === 'HealthEventResolved') {
        open = null;
      }
    }
    this.open.set(sourceId, open);
    return open;
  }
}

function microsToMs(at: string): number {
  const ms = Date.parse(at);
  return Number.isNaN(ms) ? Date.now() : ms;
}
