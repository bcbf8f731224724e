import { describe, expect, it } from 'vitest';
import { formatMicros, microIsoOf, millisBetween, parseMicros, shiftMicroIso, toMicroIso } from './timestamps';

// 2026-11-27T10:00:00Z in microseconds since the epoch.
const BASE = Date.UTC(2026, 10, 27, 10, 0, 0) * 1000;

describe('parseMicros', () => {
  describe('given a valid ISO-8601 timestamp', () => {
    const CASES: [string, string, number][] = [
      ['Z, no fraction', '2026-11-27T10:00:00Z', BASE],
      ['no zone means UTC', '2026-11-27T10:00:00', BASE],
      ['a space instead of T', '2026-11-27 10:00:00Z', BASE],
      ['a space and no zone', '2026-11-27 10:00:00.5', BASE + 500_000],
      ['+02:00', '2026-11-27T12:00:00+02:00', BASE],
      ['+0200 (no colon)', '2026-11-27T12:00:00+0200', BASE],
      ['-05:30', '2026-11-27T04:30:00-05:30', BASE],
      ['-0530 (no colon)', '2026-11-27T04:30:00.000001-0530', BASE + 1],
      ['+00:00', '2026-11-27T10:00:00+00:00', BASE],
      ['an offset that crosses midnight', '2026-11-28T00:30:00+14:30', BASE],
      ['1 fraction digit', '2026-11-27T10:00:00.1Z', BASE + 100_000],
      ['2 fraction digits', '2026-11-27T10:00:00.12Z', BASE + 120_000],
      ['3 fraction digits (ms)', '2026-11-27T10:00:00.123Z', BASE + 123_000],
      ['4 fraction digits', '2026-11-27T10:00:00.1234Z', BASE + 123_400],
      ['5 fraction digits', '2026-11-27T10:00:00.12345Z', BASE + 123_450],
      ['6 fraction digits (SentinelOne)', '2026-11-27T10:00:00.123456Z', BASE + 123_456],
      ['7 digits truncate to micros', '2026-11-27T10:00:00.1234567Z', BASE + 123_456],
      ['8 digits truncate to micros', '2026-11-27T10:00:00.12345678Z', BASE + 123_456],
      ['9 digits (nanos) truncate, never round', '2026-11-27T10:00:00.999999999Z', BASE + 999_999],
      ['leading zeros in the fraction', '2026-11-27T10:00:00.000007Z', BASE + 7],
      ['surrounding whitespace', '  2026-11-27T10:00:00Z\n', BASE],
      ['a leap day', '2028-02-29T00:00:00Z', Date.UTC(2028, 1, 29) * 1000],
      ['before the epoch, with a fraction', '1969-12-31T23:59:59.250000Z', -750_000],
      ['the epoch', '1970-01-01T00:00:00Z', 0],
    ];
    for (const [name, input, expected] of CASES) {
      it(`when it has ${name} (${JSON.stringify(input)}), then it gives ${expected} µs`, () => {
        expect(parseMicros(input)).toBe(expected);
      });
    }
  });

  describe('given something that is not a timestamp', () => {
    const INVALID = [
      '',
      'now',
      '2026-11-27',
      '2026-11-27T10:00Z',
      '2026-11-27T10:00:00.Z',
      '2026-11-27T10:00:00.1234567890Z',
      '2026-11-27T10:00:00+2',
      '2026-11-27T10:00:00+02:0',
      '2026-11-27T10:00:00 UTC',
      '2026-11-27T10:00:00z',
      '2026-11-27t10:00:00Z',
      '26-11-27T10:00:00Z',
      '2026-1-27T10:00:00Z',
      '2026-13-01T00:00:00Z',
      '2026-00-10T00:00:00Z',
      '2026-11-00T00:00:00Z',
      '2026-11-32T00:00:00Z',
      '2026-02-30T00:00:00Z',
      '2026-02-29T00:00:00Z',
      '2026-04-31T00:00:00Z',
      '2026-11-27T25:00:00Z',
      '2026-11-27T10:60:00Z',
      '2026-11-27T10:00:60Z',
      '2026-11-27T10:00:00+25:00',
      '1764237600000',
      '2026-11-27T10:00:00Z trailing',
    ];
    for (const input of INVALID) {
      it(`when it is ${JSON.stringify(input)}, then it gives undefined`, () => {
        expect(parseMicros(input)).toBeUndefined();
      });
    }
  });
});

describe('formatMicros', () => {
  const CASES: [number, string][] = [
    [BASE, '2026-11-27T10:00:00.000000Z'],
    [BASE + 1, '2026-11-27T10:00:00.000001Z'],
    [BASE + 123_456, '2026-11-27T10:00:00.123456Z'],
    [BASE + 999_999, '2026-11-27T10:00:00.999999Z'],
    [0, '1970-01-01T00:00:00.000000Z'],
    [-1, '1969-12-31T23:59:59.999999Z'],
    [-750_000, '1969-12-31T23:59:59.250000Z'],
  ];
  for (const [micros, expected] of CASES) {
    it(`given ${micros} µs, then it prints ${expected}`, () => {
      expect(formatMicros(micros)).toBe(expected);
    });
  }

  it('given a fractional microsecond count, then it truncates to whole microseconds and keeps the format', () => {
    expect(formatMicros(1.5)).toBe('1970-01-01T00:00:00.000001Z');
    expect(formatMicros(999_999.9)).toBe('1970-01-01T00:00:00.999999Z');
    expect(formatMicros(-0.5)).toBe('1969-12-31T23:59:59.999999Z');
  });

  it('always has the fixed 27-character shape', () => {
    // Microseconds stay exact integers up to 2^53 µs, i.e. until the year 2255.
    for (const micros of [0, 1, BASE, BASE + 42, Date.UTC(2255, 5, 1) * 1000 + 999_999]) {
      expect(formatMicros(micros)).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/);
    }
  });
});

describe('toMicroIso', () => {
  it('given a Date, then it prints its milliseconds as microseconds', () => {
    expect(toMicroIso(new Date('2026-11-27T10:00:00.123Z'))).toBe('2026-11-27T10:00:00.123000Z');
  });

  it('given strings in any accepted shape, then they normalise to one UTC format', () => {
    for (const input of ['2026-11-27T12:00:00.5+02:00', '2026-11-27 10:00:00.500', '2026-11-27T04:30:00.500000000-0530']) {
      expect(toMicroIso(input)).toBe('2026-11-27T10:00:00.500000Z');
    }
  });

  it('keeps microseconds a JS Date would drop', () => {
    const input = '2026-11-27T10:00:00.123456Z';
    expect(new Date(input).toISOString()).toBe('2026-11-27T10:00:00.123Z');
    expect(toMicroIso(input)).toBe(input);
    expect(toMicroIso('2026-11-27T10:00:00.123457Z')).not.toBe(toMicroIso(input));
  });

  it('given something that is not a timestamp, then it throws a RangeError naming it', () => {
    expect(() => toMicroIso('yesterday')).toThrow(RangeError);
    expect(() => toMicroIso('2026-02-30T00:00:00Z')).toThrow(/2026-02-30/);
    expect(() => toMicroIso(new Date(Number.NaN))).toThrow(RangeError);
  });

  it('is idempotent on normalised values', () => {
    const once = toMicroIso('2026-11-27T12:00:00.000001+02:00');
    expect(toMicroIso(once)).toBe(once);
  });
});

describe('microIsoOf', () => {
  // What it must always give: the general path, parsed to a number and printed again.
  const reference = (value: string): string | undefined => {
    const micros = parseMicros(value);
    return micros === undefined ? undefined : formatMicros(micros);
  };
  // A fixed seed: the same inputs on every run (mulberry32).
  let seed = 0x5eed;
  const random = (): number => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const digits = (n: number, max: number): string => String(Math.floor(random() * (max + 1))).padStart(n, '0');
  // Fields in and out of range, years around the leap-year rules.
  const canonicalShaped = (): string => {
    const year = pick(['1899', '1900', '1969', '1970', '2000', '2024', '2026', '2100', '2199', '2200', '2400', '0000', '0004', '9999', digits(4, 9999)]);
    return `${year}-${digits(2, 13)}-${digits(2, 32)}T${digits(2, 25)}:${digits(2, 61)}:${digits(2, 61)}.${digits(6, 999_999)}Z`;
  };
  const mutate = (value: string): string => {
    const at = Math.floor(random() * value.length);
    return value.slice(0, at) + pick(['0', '9', '-', ':', 'T', 't', ' ', 'Z', 'z', '.', '+', '']) + value.slice(at + 1);
  };

  it('gives what parsing and printing give, for 50,000 timestamps of its form and their mutations', () => {
    let canonical = 0;
    for (let i = 0; i < 25_000; i++) {
      const value = canonicalShaped();
      const expected = reference(value);
      if (expected === value) canonical += 1;
      expect(microIsoOf(value), value).toBe(expected);
      const mutated = mutate(value);
      expect(microIsoOf(mutated), mutated).toBe(reference(mutated));
    }
    // The inputs exercise both outcomes of the fast path, not only refusals.
    expect(canonical).toBeGreaterThan(5_000);
  });

  it.each([
    ['a leap day', '2028-02-29T23:59:59.999999Z', '2028-02-29T23:59:59.999999Z'],
    ['not a leap day', '2026-02-29T00:00:00.000000Z', undefined],
    ['1900, not a leap year', '1900-02-29T00:00:00.000000Z', undefined],
    ['2000, a leap year', '2000-02-29T00:00:00.000000Z', '2000-02-29T00:00:00.000000Z'],
    ['the 31st of a 30-day month', '2026-04-31T00:00:00.000000Z', undefined],
    ['hour 24', '2026-11-27T24:00:00.000000Z', reference('2026-11-27T24:00:00.000000Z')],
    ['second 60', '2026-11-27T23:59:60.000000Z', undefined],
    ['before the epoch', '1969-12-31T23:59:59.250000Z', '1969-12-31T23:59:59.250000Z'],
    ['three fraction digits', '2026-11-27T10:00:00.123Z', '2026-11-27T10:00:00.123000Z'],
    ['an offset', '2026-11-27T12:00:00.000001+02:00', '2026-11-27T10:00:00.000001Z'],
    ['whitespace around it', ' 2026-11-27T10:00:00.000000Z ', '2026-11-27T10:00:00.000000Z'],
    ['not a timestamp', 'yesterday', undefined],
  ])('%s: %s gives %s', (_name, value, expected) => {
    expect(microIsoOf(value)).toBe(expected);
    expect(microIsoOf(value)).toBe(reference(value));
  });
});

describe('round trips', () => {
  it('formatMicros(parseMicros(x)) is x for normalised values, down to the microsecond', () => {
    for (let i = 0; i < 500; i++) {
      const micros = BASE + i * 7_919_999 + (i % 13);
      const text = formatMicros(micros);
      expect(parseMicros(text)).toBe(micros);
      expect(formatMicros(parseMicros(text)!)).toBe(text);
    }
  });

  it('string order equals time order for normalised values', () => {
    // Values spread over decades, including neighbours one microsecond apart and pre-epoch times.
    const micros = [-86_400_000_001, -1, 0, 1, 999_999, 1_000_000, BASE - 1, BASE, BASE + 1, BASE + 10 ** 12, Date.UTC(2100, 0, 1) * 1000];
    let seed = 7;
    for (let i = 0; i < 200; i++) {
      seed = (seed * 48_271) % 2_147_483_647;
      micros.push(BASE + (seed - 1_073_741_823) * 1_000 + (seed % 1_000));
    }
    const byTime = [...micros].sort((a, b) => a - b).map(formatMicros);
    const byString = micros.map(formatMicros).sort();
    expect(byString).toEqual(byTime);
  });

  it('the same instant written with different offsets normalises to the same string', () => {
    const a = toMicroIso('2026-11-27T10:00:00.000042Z');
    const b = toMicroIso('2026-11-27T15:30:00.000042+05:30');
    const c = toMicroIso('2026-11-27 02:00:00.000042-0800');
    expect(new Set([a, b, c]).size).toBe(1);
  });
});

describe('shiftMicroIso', () => {
  const start = '2026-11-27T10:00:00.000000Z';
  const CASES: [number, string][] = [
    [0, start],
    [1, '2026-11-27T10:00:00.001000Z'],
    [-1, '2026-11-27T09:59:59.999000Z'],
    [0.001, '2026-11-27T10:00:00.000001Z'],
    [-0.001, '2026-11-27T09:59:59.999999Z'],
    [90 * 60_000, '2026-11-27T11:30:00.000000Z'],
    [-30 * 24 * 3_600_000, '2026-10-28T10:00:00.000000Z'],
    [14 * 3_600_000, '2026-11-28T00:00:00.000000Z'],
  ];
  for (const [ms, expected] of CASES) {
    it(`given ${start} moved by ${ms} ms, then it is ${expected}`, () => {
      expect(shiftMicroIso(start, ms)).toBe(expected);
    });
  }

  it('keeps the microseconds of the value it moves', () => {
    expect(shiftMicroIso('2026-11-27T10:00:00.123456Z', 1000)).toBe('2026-11-27T10:00:01.123456Z');
  });

  it('accepts any accepted shape and returns the normalised one', () => {
    expect(shiftMicroIso('2026-11-27T12:00:00+02:00', 1)).toBe('2026-11-27T10:00:00.001000Z');
  });

  it('rounds sub-microsecond shifts to the nearest microsecond', () => {
    expect(shiftMicroIso(start, 0.0004)).toBe(start);
    expect(shiftMicroIso(start, 0.0006)).toBe('2026-11-27T10:00:00.000001Z');
  });

  it('given an invalid value, then it throws rather than inventing a time', () => {
    expect(() => shiftMicroIso('nope', 1)).toThrow(RangeError);
  });
});

describe('millisBetween', () => {
  const CASES: [string, string, number][] = [
    ['2026-11-27T10:00:00Z', '2026-11-27T10:00:01Z', 1000],
    ['2026-11-27T10:00:01Z', '2026-11-27T10:00:00Z', -1000],
    ['2026-11-27T10:00:00.000000Z', '2026-11-27T10:00:00.000001Z', 0.001],
    ['2026-11-27T10:00:00Z', '2026-11-27T12:00:00+02:00', 0],
    ['2026-11-27T10:00:00Z', '2026-11-27T11:30:00Z', 90 * 60_000],
    ['1969-12-31T23:59:59.5Z', '1970-01-01T00:00:00.5Z', 1000],
  ];
  for (const [a, b, expected] of CASES) {
    it(`from ${a} to ${b} is ${expected} ms`, () => {
      expect(millisBetween(a, b)).toBeCloseTo(expected, 9);
    });
  }

  it('is the inverse of shiftMicroIso', () => {
    const a = '2026-11-27T10:00:00.123456Z';
    for (const ms of [0, 1, -1, 0.5, 60_000, -86_400_000, 5_400_000.001]) {
      expect(millisBetween(a, shiftMicroIso(a, ms))).toBeCloseTo(ms, 6);
    }
  });
});
