import { describe, expect, it } from 'vitest';
import { DEFAULT_NAK_DELAYS_MS, nakDelayFor } from './nak-delay.policy';

describe('nakDelayFor', () => {
  it('follows the curve by delivery count, then repeats its last step', () => {
    const curve = [100, 500, 2000];
    expect([1, 2, 3, 4, 10].map((n) => nakDelayFor(n, curve))).toEqual([100, 500, 2000, 2000, 2000]);
  });

  it('uses the default curve when none is given', () => {
    expect(nakDelayFor(1)).toBe(DEFAULT_NAK_DELAYS_MS[0]);
    expect(nakDelayFor(99)).toBe(DEFAULT_NAK_DELAYS_MS.at(-1));
  });

  it('redelivers at once with an empty curve', () => {
    expect(nakDelayFor(3, [])).toBe(0);
  });
});
