/**
 * Header-derived fields that are read from the raw header lines rather than
 * from mailparser's parsed map: the `headers` list, `date` (mailparser turns
 * an unparseable Date into the current time) and the auto-reply markers.
 */
import type { HeaderLines } from 'mailparser';
import type { EventHeader } from './schema.js';

/** One top-level header, unfolded; 8-bit bytes decoded as UTF-8 (RFC 6532), invalid sequences as U+FFFD. */
export interface RawHeader {
  /** Lower-case name, for look-ups. */
  readonly key: string;
  readonly name: string;
  readonly value: string;
}

/** mailsplit hands header lines over as binary (latin1) strings, folding CRLFs included. */
export function unfoldHeaderLines(lines: HeaderLines): RawHeader[] {
  return lines.map(({ key, line }) => {
    const text = Buffer.from(line, 'latin1').toString('utf8');
    const colon = text.indexOf(':');
    const name = (colon < 0 ? text : text.slice(0, colon)).trim();
    // RFC 5322 §2.2.3: unfolding removes the CRLF in front of the whitespace, not the whitespace.
    const value =
      colon < 0
        ? ''
        : text
            .slice(colon + 1)
            .replace(/\r?\n(?=[ \t])/g, '')
            .replace(/\r?\n$/, '')
            .trim();
    return { key, name, value };
  });
}

/** Cuts `text` to at most `max` UTF-16 units without splitting a surrogate pair. */
export function capString(text: string, max: number): { value: string; cut: boolean } {
  if (text.length <= max) return { value: text, cut: false };
  let end = max;
  const last = text.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end -= 1;
  return { value: text.slice(0, end), cut: true };
}

/** The `headers` list: the first `maxHeaders` named headers in order, each value cut at `maxValueChars`. */
export function headerList(
  headers: ReadonlyArray<RawHeader>,
  maxHeaders: number,
  maxValueChars: number,
): { list: EventHeader[]; truncated: boolean } {
  const named = headers.filter((h) => h.name !== '');
  let truncated = named.length > maxHeaders;
  const list = named.slice(0, maxHeaders).map(({ name, value }) => {
    const capped = capString(value, maxValueChars);
    if (capped.cut) truncated = true;
    return { name: capString(name, 200).value, value: capped.value };
  });
  return { list, truncated };
}

/**
 * The first Date header as an ISO string (UTC), `null` when there is none, or
 * `invalid` when it cannot be parsed. V8's Date parser reads RFC 5322 dates
 * (and the obsolete zone names of §4.3) and skips comments such as `(UTC)`.
 */
export function parseDateHeader(headers: ReadonlyArray<RawHeader>): string | null | 'invalid' {
  const raw = headers.find((h) => h.key === 'date')?.value;
  if (raw === undefined || raw === '') return null;
  const value = withoutComments(raw.slice(0, 200)).trim();
  // V8's fallback parser also takes text that is no date at all (`1` is 2001-01-01, `Version 2` 2001-02-01):
  // an RFC 5322 date-time (§3.3, with the obsolete forms of §4.3) has a day, a month name and a time of day.
  // (ISO 8601, which some senders put there, is read too.)
  const iso = ISO_DATE_TIME_SHAPE.test(value);
  if (!iso && !DATE_TIME_SHAPE.test(value)) return 'invalid';
  // Without a zone V8 reads the time in the host's zone, so one message would get another date on another
  // host. RFC 5322 requires a zone; one left out is taken as -0000 (UTC, local zone unknown, §3.3).
  const zoned = HAS_ZONE.test(value) ? value : iso ? `${value}Z` : `${value} +0000`;
  const time = new Date(zoned).getTime();
  // Years outside 0000–9999 have no RFC 3339 form.
  if (Number.isNaN(time) || time < Date.UTC(0, 0, 1) || time > Date.UTC(9999, 11, 31, 23, 59, 59)) return 'invalid';
  return new Date(time).toISOString();
}

const MONTH_NAMES = 'jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec';
/** Day before month (RFC 5322), or month before day (asctime-like, from some old mailers). */
const DATE_TIME_SHAPE = new RegExp(
  `\\b\\d{1,2}[\\s-]*(?:${MONTH_NAMES})[a-z]*\\.?[\\s-]*\\d{2,4}\\s+\\d{1,2}:\\d{2}\\b|` +
    `\\b(?:${MONTH_NAMES})[a-z]*\\.?\\s+\\d{1,2},?\\s+(?:\\d{4}\\s+)?\\d{1,2}:\\d{2}\\b`,
  'i',
);
const ISO_DATE_TIME_SHAPE = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}/;
const HAS_ZONE = /(?:[+-]\d{2}:?\d{2}|\b(?:UTC?|GMT|[ECMP][SD]T)|\dZ)\s*$/i;

/**
 * `value` with its RFC 5322 comments (§3.2.2: parenthesised, nestable, with quoted-pairs) replaced by a space.
 * An unclosed comment runs to the end.
 */
export function withoutComments(value: string): string {
  if (!value.includes('(')) return value;
  let out = '';
  let depth = 0;
  for (let i = 0; i < value.length; i += 1) {
    const c = value[i]!;
    if (depth > 0 && c === '\\') i += 1;
    else if (c === '(') {
      if (depth === 0) out += ' ';
      depth += 1;
    } else if (c === ')' && depth > 0) depth -= 1;
    else if (depth === 0) out += c;
  }
  return out;
}

const NEGATIVE = /^(?:no|false|0)$/i;

/**
 * True when the message was generated automatically, so answering it risks a
 * mail loop (RFC 3834 §2). Markers, any one of which counts:
 *
 * - `Auto-Submitted` with a value other than `no` (RFC 3834 §5: auto-replied,
 *   auto-generated, auto-notified, …; comments and parameters after `;` are ignored);
 * - `X-Autoreply` or `X-Autorespond` with a value other than no/false/0
 *   (vacation responders that predate RFC 3834);
 * - `Precedence: auto_reply` (older responders);
 * - a top-level `multipart/report` (RFC 6522: bounces, read receipts, feedback reports);
 * - an empty reverse-path, `Return-Path: <>` (RFC 5321 §4.5.5: bounces and other
 *   notifications; RFC 3834 §2 says never to answer them).
 *
 * Not markers: `Precedence: bulk|junk|list` (mass or list mail, not an automatic
 * reply; receivers that want to skip it can read `headers`) and
 * `X-Auto-Response-Suppress` (a request to other responders, set by Exchange on
 * ordinary mail).
 */
export function isAutoReply(headers: ReadonlyArray<RawHeader>, contentType: string | undefined): boolean {
  if (contentType === 'multipart/report') return true;
  for (const { key, value } of headers) {
    // RFC 3834 §5: the keyword may have comments around it (`no (sent by a person)`).
    const token = (withoutComments(value).split(';', 1)[0] ?? '').trim().toLowerCase();
    switch (key) {
      case 'auto-submitted':
        if (token !== '' && token !== 'no') return true;
        break;
      case 'x-autoreply':
      case 'x-autorespond':
        if (!NEGATIVE.test(token)) return true;
        break;
      case 'precedence':
        if (token === 'auto_reply') return true;
        break;
      case 'return-path':
        if (/^<\s*>$/.test(value.trim())) return true;
        break;
    }
  }
  return false;
}
