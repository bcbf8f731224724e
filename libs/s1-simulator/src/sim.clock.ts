import { performance } from 'node:perf_hooks';
import { MICROS_PER_MS, msToMicros, type Micros } from './timestamp.util.js';

/**
 * The simulator's notion of now. `real` flows with wall time from the start time; `manual`
 * stands still. Both can be moved forward (never back), which keeps live data monotonic.
 */
export class SimClock {
  private offset: Micros = 0;
  private readonly t0 = performance.now();

  constructor(
    readonly start: Micros,
    private readonly mode: 'real' | 'manual',
  ) {}

  now(): Micros {
    const flowed = this.mode === 'real' ? Math.floor((performance.now() - this.t0) * MICROS_PER_MS) : 0;
    return this.start + this.offset + flowed;
  }

  advance(ms: number): Micros {
    if (ms < 0) throw new RangeError('the clock only moves forward');
    this.offset += msToMicros(ms);
    return this.now();
  }
}
