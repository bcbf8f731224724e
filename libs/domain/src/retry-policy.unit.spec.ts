import { describe, expect, it } from 'vitest';
import { decideRetry, DEFAULT_RETRY_POLICY, type FailureFacts, type RetryDecision, type RetryPolicy } from './retry-policy';
import type { ErrorType } from './source.types';

const T0 = Date.UTC(2026, 10, 27, 10, 0, 0);
const MINUTE = 60_000;
const WINDOW_END = T0 + 90 * MINUTE;
const ALMOST_ONE = 1 - Number.EPSILON;

function facts(overrides: Partial<FailureFacts> = {}): FailureFacts {
  return { errorType: 'ThirdPartyGeneric', attempt: 1, streakStartedMs: T0, nowMs: T0, random: 0, ...overrides };
}

function delayOf(decision: RetryDecision, nowMs: number): number {
  if (!decision.retry) throw new Error(`expected a retry, got a quit: ${decision.reason}`);
  return decision.atMs - nowMs;
}

/** A small deterministic PRNG (mulberry32), so the simulations are repeatable. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

describe('decideRetry', () => {
  it('the default policy is 90 minutes, starting at 5 s, capped at 10 min', () => {
    expect(DEFAULT_RETRY_POLICY).toEqual({ windowMs: 90 * MINUTE, initialDelayMs: 5_000, maxDelayMs: 10 * MINUTE });
  });

  describe('given a ThirdPartyConfig error (bad token, URL or permission)', () => {
    for (const [name, f] of [
      ['the first failure', facts({ errorType: 'ThirdPartyConfig' })],
      ['with Retry-After', facts({ errorType: 'ThirdPartyConfig', retryAfterMs: 1_000 })],
      ['deep in a streak', facts({ errorType: 'ThirdPartyConfig', attempt: 7, nowMs: T0 + 10 * MINUTE })],
      ['past the window', facts({ errorType: 'ThirdPartyConfig', attempt: 30, nowMs: WINDOW_END + 1 })],
    ] as const) {
      it(`when it is ${name}, then it never retries and says the configuration must be fixed`, () => {
        const decision = decideRetry(f);
        expect(decision.retry).toBe(false);
        expect(!decision.retry && decision.reason).toMatch(/configuration.*update or restart/);
      });
    }
  });

  describe.each<ErrorType>(['ThirdPartyGeneric', 'FirstPartyGeneric'])('given a %s error', (errorType) => {
    describe('when the jitter is 0 (equal jitter: half the exponential delay)', () => {
      const CASES: [number, number][] = [
        [1, 2_500],
        [2, 5_000],
        [3, 10_000],
        [4, 20_000],
        [5, 40_000],
        [6, 80_000],
        [7, 160_000],
        [8, 300_000],
        [9, 300_000],
        [20, 300_000],
      ];
      for (const [attempt, delay] of CASES) {
        it(`then attempt ${attempt} waits ${delay} ms`, () => {
          const nowMs = T0 + MINUTE;
          expect(delayOf(decideRetry(facts({ errorType, attempt, nowMs })), nowMs)).toBe(delay);
        });
      }
    });

    describe('when the jitter is just under 1 (the whole exponential delay)', () => {
      const CASES: [number, number][] = [
        [1, 5_000],
        [2, 10_000],
        [3, 20_000],
        [7, 320_000],
        [8, 600_000],
        [12, 600_000],
      ];
      for (const [attempt, delay] of CASES) {
        it(`then attempt ${attempt} waits just under ${delay} ms, never more`, () => {
          const nowMs = T0 + MINUTE;
          const waited = delayOf(decideRetry(facts({ errorType, attempt, nowMs, random: ALMOST_ONE })), nowMs);
          expect(waited).toBeLessThanOrEqual(delay);
          expect(waited).toBeGreaterThan(delay * 0.999);
        });
      }
    });

    it('then the delay grows with every attempt until the cap, for any fixed jitter', () => {
      for (const random of [0, 0.25, 0.5, ALMOST_ONE]) {
        let previous = 0;
        for (let attempt = 1; attempt <= 12; attempt++) {
          const delay = delayOf(decideRetry(facts({ errorType, attempt, random })), T0);
          expect(delay).toBeGreaterThanOrEqual(previous);
          expect(delay).toBeLessThanOrEqual(DEFAULT_RETRY_POLICY.maxDelayMs);
          previous = delay;
        }
      }
    });

    it('then the delay always lies in [half, whole] of the capped exponential', () => {
      const random = prng(42);
      for (let i = 0; i < 1_000; i++) {
        const attempt = 1 + Math.floor(random() * 20);
        const jitter = random();
        const exponential = Math.min(600_000, 5_000 * 2 ** (attempt - 1));
        const delay = delayOf(decideRetry(facts({ errorType, attempt, random: jitter })), T0);
        expect(delay).toBeGreaterThanOrEqual(exponential / 2);
        expect(delay).toBeLessThan(exponential);
      }
    });

    describe('when the server asked for Retry-After', () => {
      it('then a longer Retry-After wins over the backoff', () => {
        expect(delayOf(decideRetry(facts({ errorType, retryAfterMs: 30_000 })), T0)).toBe(30_000);
      });

      it('then a shorter Retry-After does not shorten the backoff', () => {
        expect(delayOf(decideRetry(facts({ errorType, attempt: 4, retryAfterMs: 1_000 })), T0)).toBe(20_000);
      });

      it('then Retry-After beyond the cap is still honoured', () => {
        expect(delayOf(decideRetry(facts({ errorType, retryAfterMs: 15 * MINUTE })), T0)).toBe(15 * MINUTE);
      });

      it('then Retry-After beyond the window end is cut at the window end', () => {
        const nowMs = T0 + 85 * MINUTE;
        const decision = decideRetry(facts({ errorType, nowMs, retryAfterMs: 60 * MINUTE }));
        expect(decision).toEqual({ retry: true, atMs: WINDOW_END });
      });
    });

    describe('when the window is nearly over', () => {
      it('then the retry is never later than the window end (the last attempt happens at it)', () => {
        const nowMs = WINDOW_END - 1_000;
        expect(decideRetry(facts({ errorType, attempt: 20, nowMs, random: ALMOST_ONE }))).toEqual({ retry: true, atMs: WINDOW_END });
      });

      it('then one millisecond before the end still retries', () => {
        expect(decideRetry(facts({ errorType, attempt: 20, nowMs: WINDOW_END - 1 })).retry).toBe(true);
      });
    });

    describe('when the failure happens at or after the window end', () => {
      for (const nowMs of [WINDOW_END, WINDOW_END + 1, WINDOW_END + 24 * 60 * MINUTE]) {
        it(`then it quits (now = end + ${nowMs - WINDOW_END} ms)`, () => {
          const decision = decideRetry(facts({ errorType, attempt: 25, nowMs, retryAfterMs: 1_000 }));
          expect(decision).toEqual({ retry: false, reason: 'still failing 90 minutes after the first failure' });
        });
      }
    });

    it('then large attempt numbers neither overflow nor go beyond the cap', () => {
      for (const attempt of [31, 32, 64, 1_024, 1_000_000, Number.MAX_SAFE_INTEGER]) {
        for (const random of [0, ALMOST_ONE]) {
          const delay = delayOf(decideRetry(facts({ errorType, attempt, random })), T0);
          expect(Number.isFinite(delay)).toBe(true);
          expect(delay).toBeGreaterThanOrEqual(300_000);
          expect(delay).toBeLessThanOrEqual(600_000);
        }
      }
    });

    it('then a large initial delay and huge attempts stay finite under a custom policy', () => {
      const policy: RetryPolicy = { windowMs: 10 * 365 * 24 * 60 * MINUTE, initialDelayMs: 1e12, maxDelayMs: Number.MAX_SAFE_INTEGER };
      const decision = decideRetry(facts({ errorType, attempt: 10_000 }), policy);
      expect(decision.retry && Number.isFinite(decision.atMs)).toBe(true);
    });

    it('then it follows a custom (shortened) policy, as the tests of other services configure it', () => {
      const policy: RetryPolicy = { windowMs: 60_000, initialDelayMs: 100, maxDelayMs: 1_000 };
      expect(delayOf(decideRetry(facts({ errorType, attempt: 1 }), policy), T0)).toBe(50);
      expect(delayOf(decideRetry(facts({ errorType, attempt: 10, random: ALMOST_ONE }), policy), T0)).toBeLessThanOrEqual(1_000);
      expect(decideRetry(facts({ errorType, nowMs: T0 + 60_000 }), policy)).toMatchObject({ retry: false, reason: 'still failing 1 minutes after the first failure' });
    });
  });

  describe('given a 90-minute outage simulated attempt by attempt with a fake clock', () => {
    for (const [name, jitter] of [
      ['jitter always 0', () => 0],
      ['jitter always just under 1', () => ALMOST_ONE],
      ['seeded random jitter (1)', prng(1)],
      ['seeded random jitter (2)', prng(2)],
      ['seeded random jitter (3)', prng(3)],
    ] as const) {
      it(`when every attempt fails (${name}), then it quits at the window's end after a plausible number of attempts`, () => {
        const attemptTimes: number[] = [];
        let clock = T0;
        let outcome: RetryDecision | undefined;
        // Each attempt takes 2 s to fail after it starts (the fetch, the timeout).
        for (let attempt = 1; attempt <= 1_000; attempt++) {
          attemptTimes.push(clock);
          outcome = decideRetry({ errorType: 'ThirdPartyGeneric', attempt, streakStartedMs: T0, nowMs: clock, random: jitter() });
          if (!outcome.retry) break;
          expect(outcome.atMs).toBeGreaterThan(clock);
          expect(outcome.atMs).toBeLessThanOrEqual(WINDOW_END);
          clock = outcome.atMs + 2_000;
        }
        expect(outcome?.retry).toBe(false);
        const quitAt = attemptTimes.at(-1)!;
        expect(quitAt).toBeGreaterThanOrEqual(WINDOW_END);
        // The last retry is scheduled at the window's end at the latest; its failure is the one that quits.
        expect(quitAt).toBeLessThanOrEqual(WINDOW_END + 2_000);
        // 5 s doubling to 10 min within 90 min: about 10 to 30 attempts, not hundreds.
        expect(attemptTimes.length).toBeGreaterThanOrEqual(10);
        expect(attemptTimes.length).toBeLessThanOrEqual(35);
        // No two attempts closer than half the initial delay.
        for (let i = 1; i < attemptTimes.length; i++) expect(attemptTimes[i]! - attemptTimes[i - 1]!).toBeGreaterThanOrEqual(2_500);
      });
    }

    it('when the server keeps asking for a 20-minute Retry-After, then there are only a handful of attempts', () => {
      let clock = T0;
      let attempts = 0;
      for (;;) {
        attempts++;
        const outcome = decideRetry({ errorType: 'ThirdPartyGeneric', attempt: attempts, streakStartedMs: T0, nowMs: clock, retryAfterMs: 20 * MINUTE, random: 0.5 });
        if (!outcome.retry) break;
        clock = outcome.atMs;
      }
      // 0, 20, 40, 60, 80, then 90 (capped), which quits.
      expect(attempts).toBe(6);
      expect(clock).toBe(WINDOW_END);
    });
  });
});
