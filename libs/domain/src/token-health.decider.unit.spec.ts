import { describe, expect, it } from 'vitest';
import { decideAll } from './testing/decide-all';
import { isTokenHealthEvent, TOKEN_EXPIRING, tokenHealthDecider, tokenStreamId, type RecordTokenExpiry, type TokenHealthState } from './token-health.decider';

const { initialState } = tokenHealthDecider;
const NOW = new Date('2026-12-05T10:00:00.000Z');
const at = (days: number) => new Date(NOW.getTime() + days * 86_400_000);
const iso = (days: number) => `${at(days).toISOString().slice(0, -1)}000Z`;

const check = (expiresAt: string | null, when: Date = NOW, warningDays = 14): RecordTokenExpiry => ({
  type: 'RecordTokenExpiry',
  data: { sourceId: 's1', expiresAt, warningDays, at: when },
});
const run = (commands: RecordTokenExpiry[], from: TokenHealthState = initialState()) => decideAll(tokenHealthDecider, commands, from);

describe('tokenHealthDecider', () => {
  it('names its stream after the source, and folds only health events', () => {
    expect(tokenStreamId('s1')).toBe('token-s1');
    expect(isTokenHealthEvent({ type: 'HealthEventRaised' })).toBe(true);
    expect(isTokenHealthEvent({ type: 'HealthEventResolved' })).toBe(true);
    expect(isTokenHealthEvent({ type: 'SourceCreated' })).toBe(false);
    expect(initialState()).toEqual({ open: null });
  });

  it('raises a TokenExpiring warning when the token expires within the warning days, saying when and what to do', () => {
    const { events, state } = run([check(iso(10))]);
    expect(events).toEqual([
      {
        type: 'HealthEventRaised',
        data: {
          sourceId: 's1',
          at: '2026-12-05T10:00:00.000000Z',
          healthEventId: `health-s1-token-${TOKEN_EXPIRING}-${NOW.getTime() * 1000}`,
          severity: 'Warning',
          errorType: 'TokenExpiring',
          eventName: 'TokenExpiringWarning',
          description: expect.stringContaining('will expire at 2026-12-15T10:00:00.000000Z (in 10 days)'),
          retry: { retrying: false },
          expiresAt: '2026-12-15T10:00:00.000000Z',
        },
      },
    ]);
    expect((events[0]!.data as { description: string }).description).toContain("update the source's api_secret");
    expect(state.open).toEqual({ healthEventId: events[0]!.data.healthEventId, expiresAt: '2026-12-15T10:00:00.000000Z', day: '2026-12-05' });
  });

  it('warns exactly at the boundary, not a moment before it', () => {
    expect(run([check(iso(14))]).events).toHaveLength(1);
    expect(run([check(new Date(at(14).getTime() + 1).toISOString())]).events).toEqual([]);
  });

  it('says nothing of a token far from its expiry, of an unknown expiry, or with warnings off', () => {
    expect(run([check(iso(100))]).events).toEqual([]);
    expect(run([check(null)]).events).toEqual([]);
    expect(run([check('not a time')]).events).toEqual([]);
    expect(run([check(iso(1), NOW, 0)]).events).toEqual([]);
  });

  it('raises it once a day: again on a later UTC day (the same event, the days left updated), not twice the same day', () => {
    const first = run([check(iso(10))]);
    expect(run([check(iso(10), at(0.5))], first.state).events).toEqual([]);
    const nextDay = run([check(iso(10), at(1))], first.state);
    expect(nextDay.events).toHaveLength(1);
    expect(nextDay.events[0]!.data.healthEventId).toBe(first.events[0]!.data.healthEventId);
    expect((nextDay.events[0]!.data as { description: string }).description).toContain('(in 9 days)');
    expect(nextDay.state.open?.day).toBe('2026-12-06');
  });

  it('raises the same event again the same day when the expiry moved but is still soon', () => {
    const first = run([check(iso(10))]);
    const moved = run([check(iso(12), at(0.1))], first.state);
    expect(moved.events).toHaveLength(1);
    expect(moved.events[0]!.data.healthEventId).toBe(first.events[0]!.data.healthEventId);
    expect(moved.state.open?.expiresAt).toBe('2026-12-17T10:00:00.000000Z');
  });

  it('counts the last two days in hours, and says when the token has expired', () => {
    const hours = run([check(new Date(NOW.getTime() + 5 * 3_600_000).toISOString())]).events[0]!.data as { description: string };
    expect(hours.description).toContain('(in 5 hours)');
    const expired = run([check(iso(-3))]).events[0]!.data as { description: string };
    expect(expired.description).toContain('has expired (at 2026-12-02T10:00:00.000000Z, 3 days ago)');
    expect(expired.description).toContain('SentinelOne refuses it');
  });

  it('resolves the open warning when a check finds the expiry further away (a new token), and only then', () => {
    const first = run([check(iso(10))]);
    const replaced = run([check(iso(180), at(2))], first.state);
    expect(replaced.events).toEqual([
      { type: 'HealthEventResolved', data: { sourceId: 's1', at: '2026-12-07T10:00:00.000000Z', healthEventId: first.events[0]!.data.healthEventId } },
    ]);
    expect(replaced.state).toEqual({ open: null });
    expect(run([check(null, at(2))], first.state).events).toEqual([]);
    // Warnings turned off resolve it too: the operator asked for none.
    expect(run([check(iso(10), at(0.1), 0)], first.state).events.map((e) => e.type)).toEqual(['HealthEventResolved']);
  });

  it('opens a new event after a resolved one', () => {
    const first = run([check(iso(10))]);
    const later = run([check(iso(200), at(1)), check(iso(20), at(190))], first.state);
    expect(later.events.map((e) => e.type)).toEqual(['HealthEventResolved', 'HealthEventRaised']);
    expect(later.events[1]!.data.healthEventId).not.toBe(first.events[0]!.data.healthEventId);
  });
});
