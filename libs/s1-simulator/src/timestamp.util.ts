/**
 * Timestamps are carried as integer microseconds since the Unix epoch. A JS number holds
 * them exactly until the year 2255, and unlike `Date` it keeps the microseconds that
 * SentinelOne returns and that collectors compare on.
 */
export type Micros = number;

export const MICROS_PER_MS = 1_000;
export const MICROS_PER_SECOND = 1_000_000;

// Date, optional time, optional fraction (up to 9 digits), optional zone. A space before the
// offset is accepted because an unencoded `+` in a query string arrives as a space.
const TIMESTAMP_PATTERN =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?(?:(Z|z)|([+\- ])(\d{2}):?(\d{2}))?$/;

/**
 * Parses the forms collectors send: `2022-04-06T08:45:54.519988Z`, `...+00:00`, no fraction,
 * and `2020-08-14 14:09:44.959263` (no zone means UTC). Digits past microseconds are dropped.
 * Returns undefined when the value is not a valid timestamp.
 */
export function parseTimestampMicros(value: string): Micros | undefined {
  const m = TIMESTAMP_PATTERN.exec(value.trim());
  if (!m) return undefined;
  const [, y, mo, d, h = '0', mi = '0', s = '0', frac = '', , sign, offH, offM] = m;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  const ms = Date.UTC(year, month - 1, day, Number(h), Number(mi), Number(s));
  const check = new Date(ms);
  if (
    check.getUTCFullYear() !== year ||
    check.getUTCMonth() !== month - 1 ||
    check.getUTCDate() !== day ||
    Number(h) > 23 ||
    Number(mi) > 59 ||
    Number(s) > 59
  ) {
    return undefined;
  }
  const fraction = Number(frac.padEnd(6, '0').slice(0, 6));
  let offsetMinutes = 0;
  if (sign !== undefined) {
    if (Number(offH) > 23 || Number(offM) > 59) return undefined;
    offsetMinutes = (Number(offH) * 60 + Number(offM)) * (sign === '-' ? -1 : 1);
  }
  return (ms - offsetMinutes * 60_000) * MICROS_PER_MS + fraction;
}

/** `2022-04-06T08:45:54.519988Z`: always six fraction digits, always UTC. */
export function formatMicros(micros: Micros): string {
  const ms = Math.floor(micros / MICROS_PER_MS);
  const iso = new Date(ms).toISOString();
  return `${iso.slice(0, 23)}${String(micros - ms * MICROS_PER_MS).padStart(3, '0')}Z`;
}

/** `2022-04-06T08:27:14Z`: some S1 fields (e.g. `osStartTime`) have second precision. */
export function formatSeconds(micros: Micros): string {
  return `${new Date(Math.floor(micros / MICROS_PER_MS)).toISOString().slice(0, 19)}Z`;
}

export function msToMicros(ms: number): Micros {
  return Math.round(ms * MICROS_PER_MS);
}
