import { deliveryHealthDecider, deliveryStreamId, isDeliveryHealthEvent, parseMicros, type DeliveryHealthCommand, type DeliveryHealthEvent, type DeliveryHealthState, type RetryInfo, type SourceApi } from '@s1c/domain';
import { AggregateRepository, type LoadedAggregate, type MongoEventStore } from '@s1c/event-store';
import type { Logger } from '@s1c/logger';

export { deliveryStreamId };

/**
 * The HTTP delivery's health per source, in `delivery-<sourceId>` ({@link deliveryHealthDecider}).
 * A source's stream is folded the first time it is seen and kept, so a restart neither loses the
 * streak's start nor leaves an event open; another writer's events (a second enricher) are read
 * only when an append finds them.
 */
export class DeliveryHealth {
  private readonly repository: AggregateRepository<DeliveryHealthState, DeliveryHealthCommand, DeliveryHealthEvent>;
  private readonly folded = new Map<string, LoadedAggregate<DeliveryHealthState>>();

  constructor(
    store: MongoEventStore,
    private readonly clock: () => Date,
    private readonly logger: Logger,
  ) {
    this.repository = new AggregateRepository(store, deliveryHealthDecider, isDeliveryHealthEvent);
  }

  /** When the current streak of refusals began (ms), or undefined. */
  async streakStart(sourceId: string): Promise<number | undefined> {
    const since = (await this.current(sourceId)).state.open?.since;
    return since === undefined ? undefined : Math.floor((parseMicros(since) ?? 0) / 1000);
  }

  /** Records a refusal: raises (or repeats) the source's delivery error. */
  async refused(sourceId: string, api: SourceApi, reason: string, retry: RetryInfo): Promise<void> {
    const { state } = await this.execute(sourceId, { type: 'RecordRefusal', data: { sourceId, api, reason, retry, at: this.clock() } });
    this.logger.warn({ sourceId, api, healthEventId: state.open?.healthEventId, reason }, 'HTTP delivery refused; health event raised');
  }

  /** Records an accepted batch: resolves the open delivery error, if any. */
  async accepted(sourceId: string, api: SourceApi): Promise<void> {
    const { events } = await this.execute(sourceId, { type: 'RecordAcceptance', data: { sourceId, api, at: this.clock() } });
    if (events.length > 0) this.logger.info({ sourceId }, 'HTTP delivery accepted again; health event resolved');
  }

  private async execute(sourceId: string, command: DeliveryHealthCommand) {
    const from = await this.current(sourceId);
    const result = await this.repository.execute(deliveryStreamId(sourceId), () => command, { from });
    // A command that changed nothing reports no position: the fold from before still holds.
    if (result.events.length > 0) this.folded.set(sourceId, result);
    return result;
  }

  private async current(sourceId: string): Promise<LoadedAggregate<DeliveryHealthState>> {
    let known = this.folded.get(sourceId);
    if (!known) {
      known = await this.repository.load(deliveryStreamId(sourceId));
      this.folded.set(sourceId, known);
    }
    return known;
  }
}
