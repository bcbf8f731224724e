const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const MONTH = `(?<month>${MONTHS.join('|')})`;
const DAY_NAME = '(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)';
const TIME = '(?<hour>\\d{2}):(?<minute>\\d{2}):(?<second>\\d{2})';
// RFC 9110 §5.6.7: the preferred format and the two obsolete ones a recipient must still accept.
const IMF_FIXDATE = new RegExp(`^${DAY_NAME}, (?<day>\\d{2}) ${MONTH} (?<year>\\d{4}) ${TIME} GMT$`);
const RFC850_DATE = new RegExp(`^(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), (?<day>\\d{2})-${MONTH}-(?<yy>\\d{2}) ${TIME} GMT$`);
const ASCTIME_DATE = new RegExp(`^${DAY_NAME} ${MONTH} (?<day>\\d{2}| \\d) ${TIME} (?<year>\\d{4})$`);
const FIFTY_YEARS_MS = 50 * 365.2425 * 86_400_000;

type DateFields = Partial<Record<'day' | 'month' | 'year' | 'yy' | 'hour' | 'minute' | 'second', string>>;

/**
 * `Retry-After` (RFC 9110 §10.2.3) in ms from `nowMs`: delay-seconds (`120`) or an HTTP-date in
 * any of its three formats, a date already past being 0. Undefined when the header is absent or
 * is neither (`1.5`, `-5`, `soon`, `2024-06-01`), so that the caller falls back to its own backoff.
 * Of a header given as a list (Node's `IncomingHttpHeaders`), the first value counts.
 */
export function parseRetryAfter(header: string | readonly string[] | null | undefined, nowMs: number = Date.now()): number | undefined {
  const value = (typeof header === 'string' ? header : header?.[0])?.trim();
  if (!value) return undefined;
  if (/^\d+$/.test(value)) return Math.min(Number(value) * 1000, Number.MAX_SAFE_INTEGER);
  const at = parseHttpDate(value, nowMs);
  return at === undefined ? undefined : Math.max(0, at - nowMs);
}

/** An HTTP-date (IMF-fixdate, rfc850-date or asctime-date, all in UTC) in ms since the epoch. */
function parseHttpDate(value: string, nowMs: number): number | undefined {
  const fields: DateFields | undefined = (IMF_FIXDATE.exec(value) ?? ASCTIME_DATE.exec(value) ?? RFC850_DATE.exec(value))?.groups;
  if (!fields) return undefined;
  if (fields.year !== undefined) return utc(Number(fields.year), fields);
  // rfc850-date: a two-digit year more than 50 years ahead is the most recent past year with those digits.
  const year = Math.floor(new Date(nowMs).getUTCFullYear() / 100) * 100 + Number(fields.yy);
  const at = utc(year, fields);
  return at !== undefined && at - nowMs > FIFTY_YEARS_MS ? utc(year - 100, fields) : at;
}

function utc(year: number, fields: DateFields): number | undefined {
  const month = MONTHS.indexOf(fields.month ?? '');
  const [day, hour, minute, second] = [fields.day, fields.hour, fields.minute, fields.second].map(Number) as [number, number, number, number];
  // setUTCFullYear, unlike Date.UTC, does not take the years 0-99 for 1900-1999.
  const lastDay = new Date(0);
  lastDay.setUTCFullYear(year, month + 1, 0);
  if (month < 0 || !(day >= 1 && day <= lastDay.getUTCDate() && hour <= 23 && minute <= 59 && second <= 60)) return undefined;
  const at = new Date(0);
  at.setUTCFullYear(year, month, day);
  at.setUTCHours(hour, minute, second, 0);
  return at.getTime();
}
