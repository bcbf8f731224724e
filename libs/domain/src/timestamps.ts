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

/** Normalises a Date or an ISO-8601 string to {@link formatMicros}'s format. */
export function toMicroIso(value: Date | string): string {
  if (value instanceof Date) return formatMicros(value.getTime() * 1000);
  const micros = parseMicros(value);
  if (micros === undefined) throw new RangeError(`not an ISO-8601 timestamp: ${JSON.stringify(value)}`);
  return formatMicros(micros);
}

/** A normalised timestamp moved by `ms` milliseconds (negative moves back). */
export function shiftMicroIso(value: string, ms: number): string {
  return formatMicros(parseMicros(value)! + Math.round(ms * 1000));
}

/** Milliseconds from `a` to `b` (positive when b is later). */
export function millisBetween(a: string, b: string): number {
  return (parseMicros(b)! - parseMicros(a)!) / 1000;
}
