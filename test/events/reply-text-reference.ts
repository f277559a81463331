/**
 * extractReplyText as it was at commit 0c1dc9b, without its first-character gate (which only skipped the
 * patterns for lines none of them can match) and with regular expressions, String#trim and Array#map where
 * the current one tests character codes: the reference model the property test in reply-text.test.ts holds it
 * to. The marker tests themselves (separator, Outlook header, attribution) are the product's, unchanged since.
 * Not used by the product.
 */
import { attributionLength, isOutlookHeader, probe, RULE, SEPARATOR } from '../../functions/events/reply-text.js';

const QUOTED = /^[ \t]*>/;
const BLANK = /^[ \t]*$/;

export function referenceExtractReplyText(text: string): string {
  const lines = text.includes('\r') ? text.split(/\r?\n/) : text.split('\n');
  const kept: string[] = [];
  for (let i = 0; i < lines.length; i += 1) {
    const line = lines[i] ?? '';
    if (QUOTED.test(line)) continue;
    const head = probe(line);
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
