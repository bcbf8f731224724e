const ISO = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:?\d{2})?$/;

/**
 * Microseconds since the epoch of an ISO-8601 timestamp (`Z`, an offset, or none for UTC), or
 * undefined when it is not one. SentinelOne timestamps carry microseconds, which a JS Date drops.
 */
export function parseMicros(value: string): number | undefined {
  const match = ISO.exec(value.trim());
  if (!match) return undefined;
  const [, date, time, fraction = '', zone = 'Z'] = match;
  // Date.parse rolls an impossible day over (2026-02-30 becomes March 2) instead of refusing it.
  const day = Date.parse(`${date}T00:00:00Z`);
  if (Number.isNaN(day) || new Date(day).toISOString().slice(0, 10) !== date) return undefined;
  const seconds = Date.parse(`${date}T${time}${zone === 'Z' ? 'Z' : zone.replace(/^([+-]\d{2})(\d{2})$/, '$1:$2')}`);
  if (Number.isNaN(seconds)) return undefined;
  return seconds * 1000 + Number(fraction.slice(0, 6).padEnd(6, '0'));
}

/** `YYYY-MM-DDTHH:MM:SS.ffffffZ`: one fixed format, so timestamps compare correctly as strings. */
export function formatMicros(micros: number): string {
  // A fractional input (ms * 1000 from arithmetic) would otherwise print as "000001.5" and break the format.
  const whole = Math.floor(micros);
  const seconds = Math.floor(whole / 1_000_000);
  const fraction = whole - seconds * 1_000_000;
  return `${new Date(seconds * 1000).toISOString().slice(0, 19)}.${String(fraction).padStart(6, '0')}Z`;
}

/**
 * An ISO-8601 timestamp in {@link formatMicros}'s format, or undefined when it is not one:
 * `formatMicros(parseMicros(value))`. A value already in that format (SentinelOne's own) is
 * checked and returned as it is, without parsing it into a number and printing it again.
 */
export function microIsoOf(value: string): string | undefined {
  if (isCanonical(value)) return value;
  const micros = parseMicros(value);
  return micros === undefined ? undefined : formatMicros(micros);
}

const DIGIT_AT = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18, 20, 21, 22, 23, 24, 25];
const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** `YYYY-MM-DDTHH:MM:SS.ffffffZ` naming a real instant (a day the month has, hours to 23, seconds to 59) of 1900–2199. */
function isCanonical(v: string): boolean {
  if (v.length !== 27 || v[4] !== '-' || v[7] !== '-' || v[10] !== 'T' || v[13] !== ':' || v[16] !== ':' || v[19] !== '.' || v[26] !== 'Z') return false;
  for (const i of DIGIT_AT) {
    const c = v.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return false;
  }
  const two = (i: number): number => (v.charCodeAt(i) - 0x30) * 10 + v.charCodeAt(i + 1) - 0x30;
  const year = two(0) * 100 + two(2);
  const month = two(5);
  const day = two(8);
  // Microseconds beyond 2^53 (after 2255) lose digits in parseMicros: those years take its path.
  if (year < 1900 || year > 2199 || month < 1 || month > 12 || day < 1 || two(11) > 23 || two(14) > 59 || two(17) > 59) return false;
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  return day <= (month === 2 && leap ? 29 : DAYS_IN_MONTH[month - 1]!);
}

/** Normalises a Date or an ISO-8601 string to {@link formatMicros}'s format. */
export function toMicroIso(value: Date | string): string {
  if (value instanceof Date) return formatMicros(value.getTime() * 1000);
  const iso = microIsoOf(value);
  if (iso === undefined) throw new RangeError(`not an ISO-8601 timestamp: ${JSON.stringify(value)}`);
  return iso;
}

/** A normalised timestamp moved by `ms` milliseconds (negative moves back). */
export function shiftMicroIso(value: string, ms: number): string {
  return formatMicros(parseMicros(value)! + Math.round(ms * 1000));
}

/** Milliseconds from `a` to `b` (positive when b is later). */
export function millisBetween(a: string, b: string): number {
  return (parseMicros(b)! - parseMicros(a)!) / 1000;
}
