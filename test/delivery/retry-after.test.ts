/**
 * Retry-After (RFC 9110 §10.2.3) and the HTTP-date it may carry (§5.6.7): what a receiver's 429 or 503 can
 * say, read strictly. Before http-date.ts the date branch was `Date.parse`, which read `45.2` as 1 Feb 2045
 * and put the retry off by the 24 h cap.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseHttpDate } from '../../functions/delivery/http-date.js';
import { parseRetryAfter } from '../../functions/delivery/retry-schedule.js';

const NOW = Date.UTC(2026, 10, 29, 12, 0, 0);
const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const LONG_DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const two = (n: number) => String(n).padStart(2, '0');
const clock = (d: Date) => `${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())}`;

function rfc850(d: Date): string {
  return `${LONG_DAYS[d.getUTCDay()]}, ${two(d.getUTCDate())}-${MONTHS[d.getUTCMonth()]}-${two(d.getUTCFullYear() % 100)} ${clock(d)} GMT`;
}
function asctime(d: Date): string {
  return `${DAYS[d.getUTCDay()]} ${MONTHS[d.getUTCMonth()]} ${String(d.getUTCDate()).padStart(2, ' ')} ${clock(d)} ${d.getUTCFullYear()}`;
}

/** Whole seconds from 1970 to 9999 (what an IMF-fixdate can name). */
const seconds = fc.integer({ min: 0, max: Math.floor(Date.UTC(9999, 11, 31, 23, 59, 59) / 1000) }).map((s) => s * 1000);

describe('parseHttpDate', () => {
  it('reads the three forms of the RFC example', () => {
    const expected = Date.UTC(1994, 10, 6, 8, 49, 37);
    expect(parseHttpDate('Sun, 06 Nov 1994 08:49:37 GMT')).toBe(expected);
    expect(parseHttpDate('Sunday, 06-Nov-94 08:49:37 GMT', NOW)).toBe(expected);
    expect(parseHttpDate('Sun Nov  6 08:49:37 1994')).toBe(expected);
  });

  it('reads any IMF-fixdate as the time it names (Date#toUTCString writes that form)', () => {
    fc.assert(fc.property(seconds, (t) => parseHttpDate(new Date(t).toUTCString()) === t));
  });

  it('reads any asctime-date, and any rfc850-date within 50 years ahead or 49 behind', () => {
    fc.assert(fc.property(seconds, (t) => parseHttpDate(asctime(new Date(t))) === t));
    const window = fc.integer({ min: Date.UTC(1977, 0, 1) / 1000, max: Date.UTC(2076, 11, 31) / 1000 });
    fc.assert(fc.property(window, (s) => parseHttpDate(rfc850(new Date(s * 1000)), NOW) === s * 1000));
  });

  it('takes a two-digit year more than 50 years ahead as the past century (RFC 9110 §5.6.7)', () => {
    expect(parseHttpDate('Thursday, 01-Jan-76 00:00:00 GMT', NOW)).toBe(Date.UTC(2076, 0, 1));
    expect(parseHttpDate('Friday, 01-Jan-77 00:00:00 GMT', NOW)).toBe(Date.UTC(1977, 0, 1));
  });

  it('refuses what is not an HTTP-date, and dates that name no real time', () => {
    for (const value of [
      '45.2',
      '3600.5',
      '7200.5',
      '120',
      '-5',
      '2026-11-29T12:00:00Z',
      'Sun, 06 Nov 1994 08:49:37 UTC',
      'sun, 06 Nov 1994 08:49:37 GMT',
      'Sun, 6 Nov 1994 08:49:37 GMT',
      'Sun, 31 Feb 1994 08:49:37 GMT',
      'Sun, 06 Nov 1994 24:00:00 GMT',
      'Sun, 06 Nov 1994 08:60:00 GMT',
      'Sun, 00 Nov 1994 08:49:37 GMT',
      ' Sun, 06 Nov 1994 08:49:37 GMT',
      '',
      'tomorrow',
    ]) {
      expect([value, parseHttpDate(value, NOW)]).toEqual([value, undefined]);
    }
  });

  it('never throws and returns a finite time or undefined, for any string', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 64 }), (value) => {
        const t = parseHttpDate(value, NOW);
        return t === undefined || Number.isFinite(t);
      }),
    );
  });
});

describe('parseRetryAfter', () => {
  it('reads delay-seconds and HTTP-dates, a date in the past as 0', () => {
    expect(parseRetryAfter('120', NOW)).toBe(120_000);
    expect(parseRetryAfter(' 7 ', NOW)).toBe(7_000);
    expect(parseRetryAfter(new Date(NOW + 90_000).toUTCString(), NOW)).toBe(90_000);
    expect(parseRetryAfter('Sun, 06 Nov 1994 08:49:37 GMT', NOW)).toBe(0);
  });

  it('is undefined (the schedule applies) when absent or unreadable: a float is not delay-seconds', () => {
    for (const value of [undefined, '', '45.2', '3600.5', '1.5', '-1', 'soon', '1e3']) {
      expect([value, parseRetryAfter(value, NOW)]).toEqual([value, undefined]);
    }
  });
});
