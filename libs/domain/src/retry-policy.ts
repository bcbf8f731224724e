import type { ErrorType } from './source.types';

/** How retries of a failure streak are timed. */
export interface RetryPolicy {
  /** How long after the first failure of a streak the source keeps retrying (90 minutes). */
  readonly windowMs: number;
  /** Delay after the first failure; doubles with every attempt. */
  readonly initialDelayMs: number;
  /** The longest delay between two attempts. */
  readonly maxDelayMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { windowMs: 90 * 60_000, initialDelayMs: 5_000, maxDelayMs: 10 * 60_000 };

export interface FailureFacts {
  readonly errorType: ErrorType;
  /** Attempts that failed in this streak, this one included (1 for the first failure). */
  readonly attempt: number;
  /** When the streak's first failure happened (ms since epoch). */
  readonly streakStartedMs: number;
  readonly nowMs: number;
  /** What the server asked for (Retry-After), if anything. */
  readonly retryAfterMs?: number;
  /** A number in [0, 1): the jitter. Passed in so the policy stays pure. */
  readonly random: number;
}

export type RetryDecision = { readonly retry: true; readonly atMs: number } | { readonly retry: false; readonly reason: string };

/**
 * When to try again after a failure, or whether to quit. A configuration error (the token or URL is
 * wrong) never fixes itself: no retry until the source is updated or restarted. Anything else backs
 * off exponentially with jitter, never sooner than Retry-After, for as long as the streak is younger
 * than the window; the first failure at or past the window's end quits.
 */
export function decideRetry(facts: FailureFacts, policy: RetryPolicy = DEFAULT_RETRY_POLICY): RetryDecision {
  if (facts.errorType === 'ThirdPartyConfig') {
    return { retry: false, reason: 'the configuration must be fixed: update or restart the source' };
  }
  const windowEnd = facts.streakStartedMs + policy.windowMs;
  if (facts.nowMs >= windowEnd) {
    return { retry: false, reason: `still failing ${Math.round(policy.windowMs / 60_000)} minutes after the first failure` };
  }
  const exponential = Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** Math.min(30, facts.attempt - 1));
  // "Equal jitter": half fixed, half random, so retries spread out but never collapse to zero.
  const jittered = exponential / 2 + (exponential / 2) * facts.random;
  const delay = Math.max(jittered, facts.retryAfterMs ?? 0);
  // The last attempt happens at the window's end rather than never.
  return { retry: true, atMs: Math.min(facts.nowMs + delay, windowEnd) };
}
