import { describe, expect, it } from 'vitest';
import { parseRetryAfter } from './retry-after';

const NOW = Date.parse('2024-06-01T12:00:00Z');

describe('parseRetryAfter', () => {
  it('reads seconds and HTTP dates', () => {
    expect(parseRetryAfter('3', NOW)).toBe(3_000);
    expect(parseRetryAfter('Sat, 01 Jun 2024 12:00:05 GMT', NOW)).toBe(5_000);
    expect(parseRetryAfter('Sat, 01 Jun 2024 11:00:00 GMT', NOW)).toBe(0);
    expect(parseRetryAfter(undefined, NOW)).toBeUndefined();
    expect(parseRetryAfter('soon', NOW)).toBeUndefined();
  });

  it.each([
    ['0', 0],
    ['120', 120_000],
    [' 7\t', 7_000],
    ['007', 7_000],
  ] as const)('reads delay-seconds %j as %i ms', (header, ms) => {
    expect(parseRetryAfter(header, NOW)).toBe(ms);
  });

  it('keeps an absurdly long delay finite', () => {
    expect(parseRetryAfter('9'.repeat(400), NOW)).toBe(Number.MAX_SAFE_INTEGER);
  });

  it('reads the first value of a header given as a list', () => {
    expect(parseRetryAfter(['2', '9'], NOW)).toBe(2_000);
    expect(parseRetryAfter([], NOW)).toBeUndefined();
  });

  it.each([
    ['IMF-fixdate', 'Sat, 01 Jun 2024 12:00:05 GMT'],
    ['rfc850-date', 'Saturday, 01-Jun-24 12:00:05 GMT'],
    ['asctime-date', 'Sat Jun  1 12:00:05 2024'],
    ['asctime-date with a two-digit day', 'Sat Jun 01 12:00:05 2024'],
  ])('reads an %s in UTC', (_format, header) => {
    expect(parseRetryAfter(header, NOW)).toBe(5_000);
  });

  it('counts from the given time, a date already past being 0', () => {
    expect(parseRetryAfter('Sat, 01 Jun 2024 13:00:00 GMT', NOW)).toBe(3_600_000);
    expect(parseRetryAfter('Sat, 01 Jun 2024 13:00:00 GMT', NOW + 3_599_000)).toBe(1_000);
    expect(parseRetryAfter('Sun, 06 Nov 1994 08:49:37 GMT', NOW)).toBe(0);
  });

  it('accepts a leap second', () => {
    expect(parseRetryAfter('Sat, 01 Jun 2024 12:00:60 GMT', NOW)).toBe(60_000);
  });

  it('counts from the clock when no time is given', () => {
    const inAMinute = new Date(Date.now() + 60_000).toUTCString(); // whole seconds
    const ms = parseRetryAfter(inAMinute);
    expect(ms).toBeGreaterThan(58_000);
    expect(ms).toBeLessThanOrEqual(60_000);
  });

  it('takes a two-digit year more than 50 years ahead for the most recent past year with those digits', () => {
    expect(parseRetryAfter('Friday, 01-Jun-70 12:00:00 GMT', NOW)).toBe(Date.parse('2070-06-01T12:00:00Z') - NOW);
    expect(parseRetryAfter('Saturday, 01-Jun-80 12:00:00 GMT', NOW)).toBe(0); // 1980, not 2080
    expect(parseRetryAfter('Saturday, 01-Jun-80 12:00:00 GMT', Date.parse('2060-01-01T00:00:00Z'))).toBe(Date.parse('2080-06-01T12:00:00Z') - Date.parse('2060-01-01T00:00:00Z'));
  });

  it('reads the 29th of February of a leap year only', () => {
    expect(parseRetryAfter('Thu, 29 Feb 2024 12:00:00 GMT', Date.parse('2024-02-29T11:59:59Z'))).toBe(1_000);
    expect(parseRetryAfter('Wed, 29 Feb 2023 12:00:00 GMT', Date.parse('2023-02-28T00:00:00Z'))).toBeUndefined();
  });

  it.each([
    ['nothing', null],
    ['an empty value', ''],
    ['blanks', '  '],
    ['a fraction of seconds', '1.5'],
    ['negative seconds', '-5'],
    ['signed seconds', '+5'],
    ['seconds with a unit', '5s'],
    ['two values joined by fetch', '3, 5'],
    ['a bare date', '2024-06-01'],
    ['two numbers', '1 2'],
    ['a word', 'soon'],
    ['an ISO timestamp', '2024-06-01T12:00:05Z'],
    ['a date in another zone than GMT', 'Sat, 01 Jun 2024 12:00:05 UTC'],
    ['a date without its zone', 'Sat, 01 Jun 2024 12:00:05'],
    ['a date in lower case', 'sat, 01 jun 2024 12:00:05 gmt'],
    ['the 31st of June', 'Sun, 31 Jun 2024 12:00:05 GMT'],
    ['the day 0', 'Fri, 00 Jun 2024 12:00:05 GMT'],
    ['the hour 24', 'Sat, 01 Jun 2024 24:00:00 GMT'],
    ['the minute 60', 'Sat, 01 Jun 2024 12:60:00 GMT'],
    ['the second 61', 'Sat, 01 Jun 2024 12:00:61 GMT'],
    ['a one-digit day in an IMF-fixdate', 'Sat, 1 Jun 2024 12:00:05 GMT'],
    ['a full day name in an IMF-fixdate', 'Saturday, 01 Jun 2024 12:00:05 GMT'],
  ])('is undefined for %s', (_what, header) => {
    expect(parseRetryAfter(header, NOW)).toBeUndefined();
  });
});
