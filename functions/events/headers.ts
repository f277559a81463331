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
  const time = new Date(raw.slice(0, 200)).getTime();
  // Years outside 0000–9999 have no RFC 3339 form.
  if (Number.isNaN(time) || time < Date.UTC(0, 0, 1) || time > Date.UTC(9999, 11, 31, 23, 59, 59)) return 'invalid';
  return new Date(time).toISOString();
}

const NEGATIVE = /^(?:no|false|0)$/i;

/**
 * True when the message was generated automatically, so answering it risks a
 * mail loop (RFC 3834 §2). Markers, any one of which counts:
 *
 * - `Auto-Submitted` with a value other than `no` (RFC 3834 §5: auto-replied,
 *   auto-generated, auto-notified, …; parameters after `;` are ignored);
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
    const token = (value.split(';', 1)[0] ?? '').trim().toLowerCase();
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
