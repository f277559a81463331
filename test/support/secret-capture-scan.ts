/**
 * The suite-wide secret-leak check, main-process side: every test worker (test/support/secret-capture.ts)
 * appends what it saw to one capture file per process — the secrets the tests handed to the code, and every
 * log line, console/stdout/stderr write, protocol trace line and BridgeError message — and this module scans
 * all of them together once the run has ended, so a secret registered in one file and leaked in another is
 * still found.
 *
 * Why a registry of secrets taken at the code's entry points rather than a marker every test secret carries:
 * the registry needs no discipline from the author of the next test (any password given to `login`, any
 * config secret given to `parseConfig`, any webhook secret given to `signWebhook` is picked up), and it also
 * catches Dovecot's random per-account passwords. A pattern for webhook secrets (`whsec_` + base64) covers the
 * code that runs bundled or in a child process, where no entry point is hooked.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The capture directory, passed to the workers in their environment. */
export const CAPTURE_DIR_ENV = 'POP3_BRIDGE_SECRET_CAPTURE_DIR';

/**
 * Shorter secrets are not scanned for: tests use one-letter passwords (`p`) against the scripted server, and
 * a short string matches innocent text. Every secret the product handles in earnest is longer.
 */
export const MIN_SECRET_LENGTH = 8;

/** Key names that hold a credential (as in the logger's redaction, minus `url`, which is not itself secret). */
export const SECRET_KEY = /pass(word)?|secret|token|credential|authorization/i;

/** A Standard Webhooks signing secret: `whsec_` and the base64 of at least 24 bytes. */
export const WEBHOOK_SECRET_PATTERN = /whsec_[A-Za-z0-9+/]{32,}={0,2}/g;

/** One line of a capture file. */
export type CaptureRecord =
  | { readonly kind: 'secret'; readonly value: string; readonly via: string }
  | { readonly kind: 'text'; readonly source: string; readonly file: string; readonly text: string };

export interface Leak {
  readonly secretPreview: string;
  readonly via: string;
  readonly source: string;
  readonly file: string;
  readonly excerpt: string;
}

/** Every string under a credential key, anywhere in `value` (bounded depth: configs are shallow). */
export function secretsIn(value: unknown, underSecret = false, depth = 0, into: string[] = []): string[] {
  if (depth > 8) return into;
  if (typeof value === 'string') {
    if (underSecret) into.push(value);
  } else if (Array.isArray(value)) {
    for (const item of value) secretsIn(item, underSecret, depth + 1, into);
  } else if (typeof value === 'object' && value !== null) {
    for (const [key, item] of Object.entries(value))
      secretsIn(item, underSecret || SECRET_KEY.test(key), depth + 1, into);
  }
  return into;
}

/** Enough of a secret to recognise it in a report, not enough to use it. */
function preview(secret: string): string {
  return `${secret.slice(0, 4)}…(${secret.length} chars)`;
}

/** The text around the first occurrence, with every occurrence (of this secret, or of any signing secret) masked. */
function excerptAround(text: string, at: number, secret: string): string {
  const window = text.slice(Math.max(0, at - 60), at + secret.length + 60);
  return window
    .split(secret)
    .join('[SECRET]')
    .replace(new RegExp(WEBHOOK_SECRET_PATTERN.source, 'g'), '[SECRET]')
    .replace(/\s+/g, ' ');
}

/** Reads every capture file in `dir`. */
export function readCaptures(dir: string): CaptureRecord[] {
  const records: CaptureRecord[] = [];
  for (const name of readdirSync(dir)) {
    if (!name.endsWith('.jsonl')) continue;
    for (const line of readFileSync(join(dir, name), 'utf8').split('\n')) {
      if (line.length > 0) records.push(JSON.parse(line) as CaptureRecord);
    }
  }
  return records;
}

/** Every captured text that holds a registered secret or a webhook signing secret; at most one leak per text. */
export function findLeaks(records: ReadonlyArray<CaptureRecord>): Leak[] {
  const secrets = new Map<string, string>();
  for (const r of records) {
    if (r.kind === 'secret' && r.value.length >= MIN_SECRET_LENGTH && !secrets.has(r.value))
      secrets.set(r.value, r.via);
  }
  const leaks: Leak[] = [];
  for (const r of records) {
    if (r.kind !== 'text') continue;
    let found: Leak | undefined;
    for (const [secret, via] of secrets) {
      const at = r.text.indexOf(secret);
      if (at >= 0) {
        found = {
          secretPreview: preview(secret),
          via,
          source: r.source,
          file: r.file,
          excerpt: excerptAround(r.text, at, secret),
        };
        break;
      }
    }
    if (!found) {
      const match = new RegExp(WEBHOOK_SECRET_PATTERN.source).exec(r.text);
      if (match) {
        found = {
          secretPreview: preview(match[0]),
          via: 'whsec_ pattern',
          source: r.source,
          file: r.file,
          excerpt: excerptAround(r.text, match.index, match[0]),
        };
      }
    }
    if (found) leaks.push(found);
  }
  return leaks;
}

/** Counts for the run's closing line, so a scan that saw nothing is visible as such. */
export function captureStats(records: ReadonlyArray<CaptureRecord>): { secrets: number; texts: number } {
  const secrets = new Set<string>();
  let texts = 0;
  for (const r of records) {
    if (r.kind === 'secret' && r.value.length >= MIN_SECRET_LENGTH) secrets.add(r.value);
    else if (r.kind === 'text') texts += 1;
  }
  return { secrets: secrets.size, texts };
}
