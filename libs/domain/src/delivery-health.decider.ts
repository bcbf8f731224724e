import type { Decider } from './decider';
import type { HealthEventRaised, HealthEventResolved } from './collection.events';
import type { RetryInfo } from './collection.types';
import { HEALTH_EVENT_NAMES, type SourceApi } from './source.types';
import { toMicroIso } from './timestamps';

/** The log stream of a source's delivery health: `delivery-<sourceId>`. */
export const deliveryStreamId = (sourceId: string): string => `delivery-${sourceId}`;

/** Events of a `delivery-<sourceId>` stream: the health events of the HTTP delivery. */
export type DeliveryHealthEvent = HealthEventRaised | HealthEventResolved;

/** A source's delivery health: the open error, if any, and when its streak of refusals began. */
export interface DeliveryHealthState {
  readonly open: { readonly healthEventId: string; readonly since: string } | null;
}

export type DeliveryHealthCommand =
  /** The HTTP collector refused a batch of the source (a 4xx other than 408 and 429). */
  | {
      readonly type: 'RecordRefusal';
      readonly data: { readonly sourceId: string; readonly api: SourceApi; readonly reason: string; readonly retry: RetryInfo; readonly at: Date };
    }
  /** The HTTP collector accepted a batch of the source. */
  | { readonly type: 'RecordAcceptance'; readonly data: { readonly sourceId: string; readonly api: SourceApi; readonly at: Date } };

/**
 * The HTTP delivery's health per source: a collector refusing a batch raises a
 * `FirstPartyGenericError` (one per streak: a repeat is another occurrence of the same id, with
 * the latest retry facts), the first accepted batch resolves it, and an acceptance with nothing
 * open records nothing.
 */
export const deliveryHealthDecider: Decider<DeliveryHealthState, DeliveryHealthCommand, DeliveryHealthEvent> = {
  initialState(): DeliveryHealthState {
    return { open: null };
  },

  decide(command: DeliveryHealthCommand, state: DeliveryHealthState): DeliveryHealthEvent[] {
    const { sourceId, api } = command.data;
    const at = toMicroIso(command.data.at);
    if (command.type === 'RecordAcceptance') {
      return state.open ? [{ type: 'HealthEventResolved', data: { sourceId, api, at, healthEventId: state.open.healthEventId } }] : [];
    }
    const { reason, retry } = command.data;
    const healthEventId = state.open?.healthEventId ?? `health-${sourceId}-delivery-FirstPartyGeneric-${command.data.at.getTime()}`;
    const description = retry.retrying
      ? `${reason}. The HTTP collector refuses the records; retrying with backoff (next attempt ${retry.nextAttemptAt}, until ${retry.until}). Check S1C_SINK_HTTP_URL and the collector's source.`
      : `${reason}. The HTTP collector kept refusing the records until ${retry.until}: they were moved to the dead-letter stream. Fix the collector's source, then replay them from S1C_DLQ.`;
    return [
      {
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
      },
    ];
  },

  evolve(state: DeliveryHealthState, event: DeliveryHealthEvent): DeliveryHealthState {
    if (event.type === 'HealthEventResolved') return { open: null };
    // Another occurrence of the open event keeps the streak's start.
    if (state.open?.healthEventId === event.data.healthEventId) return state;
    return { open: { healthEventId: event.data.healthEventId, since: event.data.at } };
  },
};

/** Whether a logged event belongs to a delivery health stream's fold. */
export const isDeliveryHealthEvent = (event: { type: string }): boolean => event.type === 'HealthEventRaised' || event.type === 'HealthEventResolved';
