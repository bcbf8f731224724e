import { describe, expect, it } from 'vitest';
import { ConsoleRateLimiter, type LimiterClock } from './console.rate-limiter';

function fakeClock(): LimiterClock & { sleeps: number[]; t: number } {
  const clock = {
    t: 1_000,
    sleeps: [] as number[],
    now: () => clock.t,
    sleep: (ms: number) => {
      clock.sleeps.push(ms);
      return Promise.resolve();
    },
  };
  return clock;
}

describe('ConsoleRateLimiter', () => {
  it('spaces requests at the configured rate once the burst is spent', async () => {
    const clock = fakeClock();
    const limiter = new ConsoleRateLimiter({ requestsPerSecond: 10, burst: 3, clock });
    for (let i = 0; i < 6; i += 1) await limiter.acquire();
    // Concurrent callers all at t=1000: 3 pass at once, then one every 100 ms.
    expect(clock.sleeps).toEqual([100, 200, 300]);
  });

  it('refills while idle, up to the burst', async () => {
    const clock = fakeClock();
    const limiter = new ConsoleRateLimiter({ requestsPerSecond: 2, burst: 2, clock });
    await limiter.acquire();
    await limiter.acquire();
    clock.t += 10_000;
    await limiter.acquire();
    await limiter.acquire();
    await limiter.acquire();
    expect(clock.sleeps).toEqual([500]);
  });

  it('holds every caller back after a pause (Retry-After)', async () => {
    const clock = fakeClock();
    const limiter = new ConsoleRateLimiter({ requestsPerSecond: 10, burst: 5, clock });
    limiter.pause(2_000);
    await limiter.acquire();
    await limiter.acquire();
    expect(clock.sleeps).toEqual([2_000, 2_100]);
  });

  it('rejects a wait when the signal aborts', async () => {
    const limiter = new ConsoleRateLimiter({ requestsPerSecond: 1, burst: 1 });
    await limiter.acquire();
    const controller = new AbortController();
    const waiting = limiter.acquire(controller.signal);
    controller.abort(new Error('stop'));
    await expect(waiting).rejects.toThrow('stop');
  });

  it('really waits on the system clock', async () => {
    const limiter = new ConsoleRateLimiter({ requestsPerSecond: 20, burst: 1 });
    const started = performance.now();
    for (let i = 0; i < 5; i += 1) await limiter.acquire();
    expect(performance.now() - started).toBeGreaterThanOrEqual(190);
  });

  it('slows down to a lower budget, never speeds up, and the lowest shared budget wins', async () => {
    const clock = fakeClock();
    const limiter = new ConsoleRateLimiter({ requestsPerSecond: 10, burst: 1, clock });
    limiter.lowerTo(2);
    limiter.lowerTo(50);
    expect(limiter.requestsPerSecond).toBe(2);
    for (let i = 0; i < 3; i += 1) await limiter.acquire();
    expect(clock.sleeps).toEqual([500, 1000]);

    const shared = ConsoleRateLimiter.shared('budget.example.com:443', 10);
    expect(ConsoleRateLimiter.shared('budget.example.com:443', 4)).toBe(shared);
    expect(shared.requestsPerSecond).toBe(4);
    ConsoleRateLimiter.shared('budget.example.com:443', 10);
    expect(shared).toMatchObject({ requestsPerSecond: 4, burst: 4 });
  });

  it('is shared per console, case-insensitively', () => {
    const a = ConsoleRateLimiter.shared('Console.Example.com:443');
    expect(ConsoleRateLimiter.shared('console.example.com:443')).toBe(a);
    expect(ConsoleRateLimiter.shared('other.example.com:443')).not.toBe(a);
    expect(a.requestsPerSecond).toBe(10);
  });

  it('refuses a rate that is not positive', () => {
    expect(() => new ConsoleRateLimiter({ requestsPerSecond: 0 })).toThrow(RangeError);
  });
});
