import { describe, expect, it } from 'vitest';
import { formatMicros, formatSeconds, parseTimestampMicros } from './timestamp.util.js';

const BASE = Date.UTC(2020, 7, 14, 14, 9, 44) * 1000;

describe('parseTimestampMicros', () => {
  it.each([
    ['2020-08-14T14:09:44.959263Z', BASE + 959_263],
    ['2020-08-14T14:09:44.959263+00:00', BASE + 959_263],
    ['2020-08-14 14:09:44.959263', BASE + 959_263],
    ['2020-08-14T14:09:44Z', BASE],
    ['2020-08-14T14:09:44.959Z', BASE + 959_000],
    ['2020-08-14T16:09:44.959263+02:00', BASE + 959_263],
    ['2020-08-14T12:09:44.959263-0200', BASE + 959_263],
    ['2020-08-14T14:09:44.959263 00:00', BASE + 959_263],
    ['2020-08-14T14:09:44.9592639Z', BASE + 959_263],
    ['2020-08-14', Date.UTC(2020, 7, 14) * 1000],
  ])('reads %s as UTC with microseconds', (text, micros) => {
    expect(parseTimestampMicros(text)).toBe(micros);
  });

  it.each(['', 'yesterday', '2020-13-01T00:00:00Z', '2021-02-29T00:00:00Z', '2020-08-14T25:00:00Z', '2020-08-14T14:09:44.Z', '1597414184'])(
    'rejects %j',
    (text) => {
      expect(parseTimestampMicros(text)).toBeUndefined();
    },
  );

  it('keeps a one-microsecond difference that a JS Date would lose', () => {
    const a = parseTimestampMicros('2020-08-14T14:09:44.959263Z')!;
    const b = parseTimestampMicros('2020-08-14T14:09:44.959264Z')!;
    expect(b - a).toBe(1);
    expect(new Date('2020-08-14T14:09:44.959263Z').getTime()).toBe(new Date('2020-08-14T14:09:44.959264Z').getTime());
  });
});

describe('formatMicros', () => {
  it('always writes six fraction digits and Z, and round-trips', () => {
    expect(formatMicros(BASE + 5)).toBe('2020-08-14T14:09:44.000005Z');
    expect(formatMicros(BASE + 959_263)).toBe('2020-08-14T14:09:44.959263Z');
    for (const micros of [0, BASE, BASE + 1, BASE + 999_999, 1_717_243_200_123_456]) expect(parseTimestampMicros(formatMicros(micros))).toBe(micros);
  });

  it('writes second precision for fields that have it', () => {
    expect(formatSeconds(BASE + 959_263)).toBe('2020-08-14T14:09:44Z');
  });
});
