/**
 * `replyText`: what the sender wrote, without the message they replied to.
 * A small line-based heuristic (no talon-style classifier), linear in the
 * length of the text: each line is looked at a bounded number of times (a
 * one-pass check for text that quotes nothing, then, if that does not decide,
 * once by the line-by-line pass), and the patterns run on at most
 * {@link PROBE_CHARS} characters of up to four lines.
 *
 * 1. Lines quoted with `>` (any depth, leading whitespace allowed) are dropped
 *    wherever they are, so interleaved answers survive.
 * 2. An attribution line — `On <date>, <name> wrote:` (and the German, French,
 *    Spanish and Dutch forms), which clients wrap over up to three lines and
 *    which must contain a digit (a date or time) — is dropped when quoted lines
 *    follow it; when unquoted text follows, that text is the original and
 *    everything from the attribution on is cut.
 * 3. Everything from a separator on is cut: `-----Original Message-----` (and
 *    its German, French and Spanish forms), a forwarded-message marker, and
 *    Outlook's header block — a `From:` line followed within three lines by a
 *    `Sent:` or `Date:` line (or `Von:`/`Gesendet:`, `De :`/`Envoyé :`) —
 *    together with the `____` rule Outlook puts above it.
 * 4. Leading and trailing blank lines are trimmed. Signatures are kept.
 */

const PROBE_CHARS = 400;
/**
 * Attribution forms, matched with plain string tests on the joined, lower-cased,
 * whitespace-collapsed lines (no backtracking regex): it starts with `start`,
 * ends with `end`, and (when given) contains `middle`.
 */
const ATTRIBUTIONS: ReadonlyArray<{ start: string; middle?: string; end: string }> = [
  { start: 'on ', end: ' wrote:' },
  { start: 'am ', middle: ' schrieb ', end: ':' },
  { start: 'am ', end: ' schrieb:' },
  { start: 'le ', end: ' a écrit :' },
  { start: 'le ', end: ' a écrit:' },
  { start: 'el ', end: ' escribió:' },
  { start: 'op ', middle: ' schreef ', end: ':' },
];
const ATTRIBUTION_START = /^(?:On|Am|Le|El|Op)\s/i;
export const SEPARATOR =
  /^(?:-{2,}\s*(?:Original Message|Ursprüngliche Nachricht|Message d'origine|Mensaje original|Forwarded message)\s*-{2,}|Begin forwarded message:)$/i;
const OUTLOOK_FROM = /^\*?(?:From|Von|De)\s?:\*?\s/i;
const OUTLOOK_SENT = /^\*?(?:Sent|Date|Gesendet|Datum|Envoyé|Enviado)\s?:\*?\s/i;
export const RULE = /^_{10,}$/;
/** The patterns `mayStartMarker` gates (exported for the test that proves the gate exact). */
export const MARKER_PATTERNS: ReadonlyArray<RegExp> = [SEPARATOR, OUTLOOK_FROM, ATTRIBUTION_START];

/**
 * The lower-cased ASCII pairs a separator (`--`, `Be`gin), an Outlook `From:` line (`*F`, `*V`, `*D`, `Fr`,
 * `Vo`, `De`) or an attribution (`On`, `Am`, `Le`, `El`, `Op`) can start with, once trimmed. Most lines
 * start with something else and skip the patterns altogether (the first character alone was the gate until
 * 2026-11-27: it let 33 % of the lines of the benchmark mailbox's prose through to three regular expressions,
 * two characters let 7.5 %). The gate is exact because those patterns are case-insensitive without the `u`
 * flag, where no non-ASCII character matches an ASCII letter, and none of them allows whitespace in its first
 * two characters.
 */
const MARKER_PAIRS = new Set(['--', 'be', '*f', '*v', '*d', 'fr', 'vo', 'de', 'on', 'am', 'le', 'el', 'op']);
const MARKER_PAIR_CODES = new Uint8Array(128 * 128);
for (const pair of MARKER_PAIRS) {
  for (const first of caseForms(pair[0]!)) {
    for (const second of caseForms(pair[1]!)) MARKER_PAIR_CODES[first * 128 + second] = 1;
  }
}

function caseForms(char: string): number[] {
  return [...new Set([char.toLowerCase(), char.toUpperCase()])].map((c) => c.charCodeAt(0));
}

function isMarkerPair(first: number, second: number): boolean {
  return first < 128 && second < 128 && MARKER_PAIR_CODES[first * 128 + second] === 1;
}

/** Whether a trimmed line start (`probe`) may begin a separator, an Outlook header or an attribution. */
export function mayStartMarker(head: string): boolean {
  return head.length >= 2 && isMarkerPair(head.charCodeAt(0), head.charCodeAt(1));
}

/** What `String.prototype.trim` removes: ECMAScript WhiteSpace and LineTerminator code units. */
function isTrimmable(code: number): boolean {
  if (code <= 0x20) return code === 0x20 || (code >= 0x09 && code <= 0x0d);
  if (code < 0xa0) return false;
  return (
    code === 0xa0 ||
    code === 0x1680 ||
    (code >= 0x2000 && code <= 0x200a) ||
    code === 0x2028 ||
    code === 0x2029 ||
    code === 0x202f ||
    code === 0x205f ||
    code === 0x3000 ||
    code === 0xfeff
  );
}

/** Index of the first character of `line` that is neither a space nor a tab. */
function indentOf(line: string): number {
  return indentOfAt(line, 0, line.length);
}

/** `indentOf` of the line text[start..stop), counted from `start`, without slicing it. */
function indentOfAt(text: string, start: number, stop: number): number {
  let at = start;
  while (at < stop) {
    const code = text.charCodeAt(at);
    if (code !== 0x20 && code !== 0x09) break;
    at += 1;
  }
  return at - start;
}

/**
 * `mayStartMarker(probe(line))` without building the probe, for the line text[start..stop): the first two
 * characters after the trimmed start, within the line's first PROBE_CHARS (`indent`: the line's indentOf,
 * all of it trimmable).
 */
function lineMayStartMarker(text: string, start: number, stop: number, indent: number): boolean {
  const end = Math.min(stop, start + PROBE_CHARS);
  let at = start + indent;
  while (at < end && isTrimmable(text.charCodeAt(at))) at += 1;
  if (at + 1 >= end) return false;
  // No marker pair has a trimmable second character, so a head of one character (the probe trimmed the
  // rest) and a whitespace second character both answer no, as mayStartMarker(probe(line)) does.
  return isMarkerPair(text.charCodeAt(at), text.charCodeAt(at + 1));
}

/** Only spaces and tabs (or nothing). */
function isBlank(line: string): boolean {
  return indentOf(line) === line.length;
}

/** Quoted with `>`, at any depth, after any spaces and tabs. */
function isQuoted(line: string): boolean {
  return line.charCodeAt(indentOf(line)) === 0x3e; // '>'
}

/** `line.trimEnd()`, returning the line itself when there is nothing to trim. */
function trimEnd(line: string): string {
  return line.length > 0 && isTrimmable(line.charCodeAt(line.length - 1)) ? line.trimEnd() : line;
}

export function probe(line: string | undefined): string {
  return (line ?? '').slice(0, PROBE_CHARS).trim();
}

function isAttribution(text: string): boolean {
  if (!text.endsWith(':') || !/\d/.test(text)) return false;
  const s = text.toLowerCase().replace(/\s+/g, ' ');
  return ATTRIBUTIONS.some(
    (a) => s.startsWith(a.start) && s.endsWith(a.end) && (a.middle === undefined || s.includes(a.middle)),
  );
}

/** How many lines (1–3) from `i` form an attribution, 0 when they do not. */
export function attributionLength(lines: ReadonlyArray<string>, i: number): number {
  const first = probe(lines[i]);
  if (!ATTRIBUTION_START.test(first)) return 0;
  let joined = first;
  for (let k = 1; k <= 3 && i + k <= lines.length; k += 1) {
    if (k > 1) joined = `${joined} ${probe(lines[i + k - 1])}`;
    if (isAttribution(joined)) return k;
  }
  return 0;
}

/** An Outlook header block starts at `i`: a `From:` line and, within three lines, a `Sent:` or `Date:` line. */
export function isOutlookHeader(lines: ReadonlyArray<string>, i: number): boolean {
  if (!OUTLOOK_FROM.test(probe(lines[i]))) return false;
  for (let k = 1; k <= 3 && i + k < lines.length; k += 1) {
    if (OUTLOOK_SENT.test(probe(lines[i + k]))) return true;
  }
  return false;
}

/**
 * The reply text of a message that quotes nothing, in one pass over `text` and without copying it: when no
 * line is quoted, none is a separator, an Outlook header or an attribution, none ends in whitespace and
 * there is no CR, `extractReplyText` keeps every line as it is and only drops blank lines at both ends, which
 * is a slice of the text. Undefined when any of that does not hold; the line-by-line pass below then
 * decides. Most mail that is not a reply takes this path, and a slice also makes the event's serialisation
 * cheaper (fit-event.ts writes a reply text that is a prefix of the text once).
 */
export function unquotedReplyText(text: string): string | undefined {
  if (text.includes('\r')) return undefined;
  let first = -1;
  let end = 0;
  for (let start = 0; start <= text.length; ) {
    let stop = text.indexOf('\n', start);
    if (stop < 0) stop = text.length;
    if (stop > start) {
      if (isTrimmable(text.charCodeAt(stop - 1))) return undefined;
      const indent = indentOfAt(text, start, stop);
      if (text.charCodeAt(start + indent) === 0x3e /* > */) return undefined;
      if (lineMayStartMarker(text, start, stop, indent)) {
        const lines = linesAt(text, start, 4);
        if (SEPARATOR.test(probe(lines[0])) || isOutlookHeader(lines, 0) || attributionLength(lines, 0) > 0) {
          return undefined;
        }
      }
      if (first < 0) first = start;
      end = stop;
    }
    start = stop + 1;
  }
  return first < 0 ? '' : text.slice(first, end);
}

/** Up to `count` lines of `text` from the line starting at `start` (what the marker checks look at). */
function linesAt(text: string, start: number, count: number): string[] {
  const lines: string[] = [];
  let at = start;
  while (lines.length < count && at <= text.length) {
    let stop = text.indexOf('\n', at);
    if (stop < 0) stop = text.length;
    lines.push(text.slice(at, stop));
    at = stop + 1;
  }
  return lines;
}

export function extractReplyText(text: string): string {
  return unquotedReplyText(text) ?? replyTextByLines(text);
}

/** The reply text, line by line: what `extractReplyText` gives for any text (exported for the test). */
export function replyTextByLines(text: string): string {
  // mailparser hands text with LF line ends; split on the plain string unless there is a CR to drop.
  const lines = text.includes('\r') ? text.split(/\r?\n/) : text.split('\n');
  const kept: string[] = [];
  for (let i = 0; i < lines.length; i += 1) {
    const line = lines[i] ?? '';
    // The quote test and the marker gate by character codes: most lines are plain text, and this loop is
    // most of the function's cost (a probe string and regular expressions per line).
    const indent = indentOf(line);
    if (line.charCodeAt(indent) === 0x3e /* > */) continue;
    if (!lineMayStartMarker(line, 0, line.length, indent)) {
      kept.push(line);
      continue;
    }
    const head = probe(line);
    if (SEPARATOR.test(head)) break;
    if (isOutlookHeader(lines, i)) {
      while (kept.length > 0 && isBlank(kept.at(-1) ?? '')) kept.pop();
      if (RULE.test(probe(kept.at(-1)))) kept.pop();
      break;
    }
    const attribution = attributionLength(lines, i);
    if (attribution > 0) {
      let next = i + attribution;
      while (next < lines.length && isBlank(lines[next] ?? '')) next += 1;
      if (next < lines.length && !isQuoted(lines[next] ?? '')) break;
      i += attribution - 1;
      continue;
    }
    kept.push(line);
  }
  let start = 0;
  let end = kept.length;
  while (start < end && isBlank(kept[start] ?? '')) start += 1;
  while (end > start && isBlank(kept[end - 1] ?? '')) end -= 1;
  // Trimmed in place: no second and third array of every line.
  for (let k = start; k < end; k += 1) kept[k - start] = trimEnd(kept[k] ?? '');
  kept.length = end - start;
  return kept.join('\n');
}
