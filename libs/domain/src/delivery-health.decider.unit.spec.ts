import { describe, expect, it } from 'vitest';
import { decideAll } from './testing/decide-all';
import type { RetryInfo } from './collection.types';
import { deliveryHealthDecider, deliveryStreamId, isDeliveryHealthEvent, type DeliveryHealthCommand, type DeliveryHealthEvent, type DeliveryHealthState } from './delivery-health.decider';

const { decide, evolve, initialState } = deliveryHealthDecider;
const T0 = new Date('2026-12-05T10:00:00.000Z');
const T1 = new Date('2026-12-05T10:05:00.000Z');
const RETRYING = { retrying: true, nextAttemptAt: '2026-12-05T10:00:02.000000Z', until: '2026-12-05T11:30:00.000000Z' };
const GAVE_UP = { retrying: false, until: '2026-12-05T11:30:00.000000Z' };

const refusal = (at: Date, retry: RetryInfo = RETRYING): DeliveryHealthCommand => ({
  type: 'RecordRefusal',
  data: { sourceId: 's1', api: 'threats', reason: 'HTTP collector answered 400', retry, at },
});
const acceptance = (at: Date): DeliveryHealthCommand => ({ type: 'RecordAcceptance', data: { sourceId: 's1', api: 'activities', at } });
const run = (commands: DeliveryHealthCommand[], from: DeliveryHealthState = initialState()) => decideAll(deliveryHealthDecider, commands, from);

describe('deliveryHealthDecider', () => {
  it('starts with nothing open', () => {
    expect(initialState()).toEqual({ open: null });
  });

  it('raises a FirstPartyGenericError on the first refusal, with an id of the source and the time', () => {
    const { events, state } = run([refusal(T0)]);
    expect(events).toEqual([
      {
        type: 'HealthEventRaised',
        data: {
          sourceId: 's1',
          api: 'threats',
          at: '2026-12-05T10:00:00.000000Z',
          healthEventId: `health-s1-delivery-FirstPartyGeneric-${T0.getTime()}`,
          severity: 'Error',
          errorType: 'FirstPartyGeneric',
          eventName: 'FirstPartyGenericError',
          description:
            "HTTP collector answered 400. The HTTP collector refuses the records; retrying with backoff (next attempt 2026-12-05T10:00:02.000000Z, until 2026-12-05T11:30:00.000000Z). Check S1C_SINK_HTTP_URL and the collector's source.",
          retry: RETRYING,
        },
      },
    ]);
    expect(state).toEqual({ open: { healthEventId: `health-s1-delivery-FirstPartyGeneric-${T0.getTime()}`, since: '2026-12-05T10:00:00.000000Z' } });
  });

  it('repeats the same event on later refusals of the streak, keeping when it began', () => {
    const { events, state } = run([refusal(T0), refusal(T1, GAVE_UP)]);
    expect(events).toHaveLength(2);
    const [first, second] = events as [DeliveryHealthEvent, DeliveryHealthEvent];
    expect(second.type).toBe('HealthEventRaised');
    expect((second.data as { healthEventId: string }).healthEventId).toBe((first.data as { healthEventId: string }).healthEventId);
    expect(second.data.at).toBe('2026-12-05T10:05:00.000000Z');
    expect((second.data as { retry: unknown }).retry).toEqual(GAVE_UP);
    expect((second.data as { description: string }).description).toBe(
      'HTTP collector answered 400. The HTTP collector kept refusing the records until 2026-12-05T11:30:00.000000Z: they were moved to the dead-letter stream. Fix the collector\'s source, then replay them from S1C_DLQ.',
    );
    expect(state.open?.since).toBe('2026-12-05T10:00:00.000000Z');
  });

  it('resolves the open event on the first acceptance, and records nothing for later ones', () => {
    const { events, state } = run([refusal(T0), acceptance(T1), acceptance(T1)]);
    expect(events.map((e) => e.type)).toEqual(['HealthEventRaised', 'HealthEventResolved']);
    expect(events[1]).toEqual({
      type: 'HealthEventResolved',
      data: { sourceId: 's1', api: 'activities', at: '2026-12-05T10:05:00.000000Z', healthEventId: `health-s1-delivery-FirstPartyGeneric-${T0.getTime()}` },
    });
    expect(state).toEqual({ open: null });
  });

  it('records nothing for an acceptance with nothing open', () => {
    expect(decide(acceptance(T0), initialState())).toEqual([]);
  });

  it('opens a new event, with a new id and start, for a streak after a resolution', () => {
    const { events, state } = run([refusal(T0), acceptance(T0), refusal(T1)]);
    const ids = events.filter((e) => e.type === 'HealthEventRaised').map((e) => (e.data as { healthEventId: string }).healthEventId);
    expect(ids).toEqual([`health-s1-delivery-FirstPartyGeneric-${T0.getTime()}`, `health-s1-delivery-FirstPartyGeneric-${T1.getTime()}`]);
    expect(state.open?.since).toBe('2026-12-05T10:05:00.000000Z');
  });

  it('folds a raise of another id (another writer\'s streak) as the open event from its time', () => {
    const opened = run([refusal(T0)]).state;
    const other = run([refusal(T1)]).events[0]!;
    expect(evolve(opened, other)).toEqual({ open: { healthEventId: `health-s1-delivery-FirstPartyGeneric-${T1.getTime()}`, since: '2026-12-05T10:05:00.000000Z' } });
  });

  it('names its stream and its events', () => {
    expect(deliveryStreamId('abc')).toBe('delivery-abc');
    expect(isDeliveryHealthEvent({ type: 'HealthEventRaised' })).toBe(true);
    expect(isDeliveryHealthEvent({ type: 'HealthEventResolved' })).toBe(true);
    expect(isDeliveryHealthEvent({ type: 'JobCompleted' })).toBe(false);
  });
});
