/**
 * `replyText`: what the sender wrote, without the message they replied to.
 * A small line-based heuristic (no talon-style classifier), linear in the
 * length of the text: each line is looked at once, and the patterns run on at
 * most {@link PROBE_CHARS} characters of up to three lines.
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
const QUOTED = /^[ \t]*>/;
const BLANK = /^[ \t]*$/;
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
const SEPARATOR =
  /^(?:-{2,}\s*(?:Original Message|Ursprüngliche Nachricht|Message d'origine|Mensaje original|Forwarded message)\s*-{2,}|Begin forwarded message:)$/i;
const OUTLOOK_FROM = /^\*?(?:From|Von|De)\s?:\*?\s/i;
const OUTLOOK_SENT = /^\*?(?:Sent|Date|Gesendet|Datum|Envoyé|Enviado)\s?:\*?\s/i;
const RULE = /^_{10,}$/;
/** The patterns `mayStartMarker` gates (exported for the test that proves the gate exact). */
export const MARKER_PATTERNS: ReadonlyArray<RegExp> = [SEPARATOR, OUTLOOK_FROM, ATTRIBUTION_START];

/**
 * The lower-cased ASCII characters a separator (`-`, `Begin`), an Outlook `From:` line (`*`, `From`, `Von`,
 * `De`) or an attribution (`On`, `Am`, `Le`, `El`, `Op`) can start with, once trimmed. Most lines start with
 * something else and skip the patterns altogether; the gate is exact because those patterns are
 * case-insensitive without the `u` flag, where no non-ASCII character matches an ASCII letter.
 */
const MARKER_START = new Uint8Array(128);
for (const c of '-*abdefloABDEFLOvV') MARKER_START[c.charCodeAt(0)] = 1;

export function mayStartMarker(head: string): boolean {
  const code = head.charCodeAt(0);
  return code < 128 && MARKER_START[code] === 1;
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
function attributionLength(lines: ReadonlyArray<string>, i: number): number {
  const first = probe(lines[i]);
  if (!ATTRIBUTION_START.test(first)) return 0;
  let joined = first;
  for (let k = 1; k <= 3 && i + k <= lines.length; k += 1) {
    if (k > 1) joined = `${joined} ${probe(lines[i + k - 1])}`;
    if (isAttribution(joined)) return k;
  }
  return 0;
}

function isOutlookHeader(lines: ReadonlyArray<string>, i: number): boolean {
  if (!OUTLOOK_FROM.test(probe(lines[i]))) return false;
  for (let k = 1; k <= 3 && i + k < lines.length; k += 1) {
    if (OUTLOOK_SENT.test(probe(lines[i + k]))) return true;
  }
  return false;
}

export function extractReplyText(text: string): string {
  // mailparser hands text with LF line ends; split on the plain string unless there is a CR to drop.
  const lines = text.includes('\r') ? text.split(/\r?\n/) : text.split('\n');
  const kept: string[] = [];
  for (let i = 0; i < lines.length; i += 1) {
    const line = lines[i] ?? '';
    if (QUOTED.test(line)) continue;
    const head = probe(line);
    if (!mayStartMarker(head)) {
      kept.push(line);
      continue;
    }
    if (SEPARATOR.test(head)) break;
    if (isOutlookHeader(lines, i)) {
      while (kept.length > 0 && BLANK.test(kept.at(-1) ?? '')) kept.pop();
      if (RULE.test(probe(kept.at(-1)))) kept.pop();
      break;
    }
    const attribution = attributionLength(lines, i);
    if (attribution > 0) {
      let next = i + attribution;
      while (next < lines.length && BLANK.test(lines[next] ?? '')) next += 1;
      if (next < lines.length && !QUOTED.test(lines[next] ?? '')) break;
      i += attribution - 1;
      continue;
    }
    kept.push(line);
  }
  let start = 0;
  let end = kept.length;
  while (start < end && BLANK.test(kept[start] ?? '')) start += 1;
  while (end > start && BLANK.test(kept[end - 1] ?? '')) end -= 1;
  return kept
    .slice(start, end)
    .map((l) => l.trimEnd())
    .join('\n');
}
