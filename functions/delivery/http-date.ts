/**
 * HTTP-date (RFC 9110 §5.6.7), strictly: the preferred IMF-fixdate and the two
 * obsolete forms a recipient must still accept.
 *
 *   Sun, 06 Nov 1994 08:49:37 GMT    IMF-fixdate
 *   Sunday, 06-Nov-94 08:49:37 GMT   rfc850-date
 *   Sun Nov  6 08:49:37 1994         asctime-date
 *
 * Why not `Date.parse`: V8's parser accepts nearly anything. A receiver's
 * `Retry-After: 45.2` (delay-seconds written as a float) parses as 1 February
 * 2045, and `3600.5` as the year 3600 — a retry pushed to the 24 h cap where
 * the header was unreadable and the normal schedule should have applied.
 */

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'] as const;
const DAY = '(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)';
const LONG_DAY = '(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)';
const MONTH = `(${MONTHS.join('|')})`;
const TIME = '(\\d{2}):(\\d{2}):(\\d{2})';

const IMF_FIXDATE = new RegExp(`^${DAY}, (\\d{2}) ${MONTH} (\\d{4}) ${TIME} GMT$`);
const RFC850_DATE = new RegExp(`^${LONG_DAY}, (\\d{2})-${MONTH}-(\\d{2}) ${TIME} GMT$`);
const ASCTIME_DATE = new RegExp(`^${DAY} ${MONTH} ([ \\d]\\d) ${TIME} (\\d{4})$`);

/** Milliseconds since the epoch of an HTTP-date, or undefined when `value` is not one (or names no real time). */
export function parseHttpDate(value: string, now: number = Date.now()): number | undefined {
  let match = IMF_FIXDATE.exec(value);
  if (match) return utc(Number(match[3]), match[2]!, match[1]!, match[4]!, match[5]!, match[6]!);
  match = RFC850_DATE.exec(value);
  if (match) return utc(fullYear(Number(match[3]), now), match[2]!, match[1]!, match[4]!, match[5]!, match[6]!);
  match = ASCTIME_DATE.exec(value);
  if (match) return utc(Number(match[6]), match[1]!, match[2]!.trim(), match[3]!, match[4]!, match[5]!);
  return undefined;
}

/**
 * RFC 9110 §5.6.7: a two-digit year that would be more than 50 years in the future is the most recent
 * year in the past with those last two digits.
 */
function fullYear(twoDigits: number, now: number): number {
  const thisYear = new Date(now).getUTCFullYear();
  let year = thisYear - (thisYear % 100) + twoDigits;
  if (year > thisYear + 50) year -= 100;
  return year;
}

function utc(
  year: number,
  month: string,
  day: string,
  hour: string,
  minute: string,
  second: string,
): number | undefined {
  const m = MONTHS.indexOf(month as (typeof MONTHS)[number]);
  const [d, h, min, s] = [Number(day), Number(hour), Number(minute), Number(second)];
  // 60 is a leap second (RFC 9110 allows it): taken as the last second of the minute.
  if (d < 1 || h > 23 || min > 59 || s > 60) return undefined;
  // setUTCFullYear, not Date.UTC: Date.UTC takes a year 0–99 for 1900–1999.
  const date = new Date(0);
  date.setUTCFullYear(year, m, d);
  date.setUTCHours(h, min, Math.min(s, 59), 0);
  // 31 Feb and the like roll over into the next month: not a date.
  return date.getUTCMonth() === m && date.getUTCDate() === d ? date.getTime() : undefined;
}
