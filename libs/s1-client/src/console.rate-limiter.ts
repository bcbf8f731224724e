/** Time source of a {@link ConsoleRateLimiter}; tests pass a fake one. */
export interface LimiterClock {
  /** Milliseconds, monotonic. */
  now(): number;
  /** Resolves after `ms`, or rejects with the signal's reason when it aborts first. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** Options of a {@link ConsoleRateLimiter}. */
export interface ConsoleRateLimiterOptions {
  /** Sustained rate. */
  readonly requestsPerSecond: number;
  /** Requests allowed back to back after a quiet period; default `requestsPerSecond` (one second's worth). */
  readonly burst?: number;
  readonly clock?: LimiterClock;
}

/** Default per-console rate: what public collectors run at (docs/S1-API.md "Rate limits and failures"). */
export const DEFAULT_REQUESTS_PER_SECOND = 10;

/** The real clock: `performance.now()` and an abortable timer. */
export const systemClock: LimiterClock = {
  now: () => performance.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      const onAbort = (): void => {
        clearTimeout(timer);
        reject(signal?.reason);
      };
      const timer = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      signal?.addEventListener('abort', onAbort, { once: true });
    }),
};

const shared = new Map<string, ConsoleRateLimiter>();

/**
 * A token bucket (as GCRA: one "theoretical arrival time") in front of one SentinelOne console.
 * Each `acquire` reserves the next free slot at once, so concurrent callers are served in call
 * order without a queue or timers of our own.
 */
export class ConsoleRateLimiter {
  #requestsPerSecond: number;
  #burst: number;
  private readonly clock: LimiterClock;
  private intervalMs: number;
  private toleranceMs: number;
  private tat = Number.NEGATIVE_INFINITY;

  constructor(options: ConsoleRateLimiterOptions) {
    if (!(options.requestsPerSecond > 0) || !Number.isFinite(options.requestsPerSecond)) {
      throw new RangeError(`requestsPerSecond must be a positive number (got ${options.requestsPerSecond})`);
    }
    const burst = options.burst ?? Math.max(1, Math.floor(options.requestsPerSecond));
    if (!Number.isInteger(burst) || burst < 1) throw new RangeError(`burst must be a positive integer (got ${burst})`);
    this.#requestsPerSecond = options.requestsPerSecond;
    this.#burst = burst;
    this.clock = options.clock ?? systemClock;
    this.intervalMs = 1000 / options.requestsPerSecond;
    this.toleranceMs = (burst - 1) * this.intervalMs;
  }

  get requestsPerSecond(): number {
    return this.#requestsPerSecond;
  }

  get burst(): number {
    return this.#burst;
  }

  /** Slows the limiter down to `requestsPerSecond` (and a burst of one second's worth) if it is faster; never speeds it up. */
  lowerTo(requestsPerSecond: number): void {
    if (!(requestsPerSecond > 0) || requestsPerSecond >= this.#requestsPerSecond) return;
    this.#requestsPerSecond = requestsPerSecond;
    this.#burst = Math.min(this.#burst, Math.max(1, Math.floor(requestsPerSecond)));
    this.intervalMs = 1000 / requestsPerSecond;
    this.toleranceMs = (this.#burst - 1) * this.intervalMs;
  }

  /**
   * The limiter of a console for the whole process (one per host, shared by every source and
   * API). The lowest rate asked for wins (a source's own budget below the process's slows the
   * console down for every source of it); later calls get the same instance.
   */
  static shared(consoleKey: string, requestsPerSecond: number = DEFAULT_REQUESTS_PER_SECOND): ConsoleRateLimiter {
    const key = consoleKey.toLowerCase();
    let limiter = shared.get(key);
    if (!limiter) {
      limiter = new ConsoleRateLimiter({ requestsPerSecond });
      shared.set(key, limiter);
    }
    limiter.lowerTo(requestsPerSecond);
    return limiter;
  }

  /** Waits for a slot. Rejects with the signal's reason if it aborts while waiting. */
  async acquire(signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    const now = this.clock.now();
    const tat = Math.max(this.tat, now);
    const allowedAt = tat - this.toleranceMs;
    // The slot is reserved even if the wait is aborted: giving it back would be wrong once
    // later callers have reserved theirs, and an aborted wait is rare (shutdown, timeout).
    this.tat = tat + this.intervalMs;
    if (allowedAt > now) await this.clock.sleep(allowedAt - now, signal);
  }

  /**
   * Holds every caller back for `ms` (the console said 429 with Retry-After), without
   * letting the pause add up with slots already reserved.
   */
  pause(ms: number): void {
    if (!(ms > 0)) return;
    this.tat = Math.max(this.tat, this.clock.now() + ms + this.toleranceMs);
  }
}
