/**
 * One mailbox parameter's JSON document, validated on its own: what the
 * registry stores for dispatch, and what poll and deliver read back from the
 * sealed copy. A problem names the field (`port`, `webhooks[0].url`) and the
 * schema's message, never a value: parseConfig redacts secrets from messages,
 * and a JSON syntax error (whose text would quote the document) is reported
 * without its text.
 */
import type { MailboxConfig } from '../config/schema.js';
import { parseConfig } from '../config/validate.js';

/** Mailbox names as SSM parameter names allow them under the path (and as the state table keys them). */
export const MAILBOX_NAME = /^[A-Za-z0-9._-]{1,64}$/;

export interface ConfigInvalid {
  /** The field, relative to the mailbox document (`port`, `webhooks[0].url`; `(document)` for the whole). */
  readonly path: string;
  readonly message: string;
}

export type MailboxDocument =
  | { readonly ok: true; readonly config: MailboxConfig }
  | { readonly ok: false; readonly invalid: ConfigInvalid };

/**
 * Parses and validates parameter `name`'s value. The mailbox's `name` must be
 * the parameter's: dispatch, poll jobs and the state table key by the
 * parameter name, so a document naming another mailbox would poll one mailbox
 * under another's state.
 */
export function parseMailboxDocument(name: string, text: string): MailboxDocument {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return { ok: false, invalid: { path: '(document)', message: 'not valid JSON' } };
  }
  const parsed = parseConfig({ mailboxes: [raw] });
  const problem = parsed.problems[0];
  if (problem !== undefined) {
    const path = problem.path.replace(/^mailboxes\[0\]\.?/, '') || '(document)';
    return { ok: false, invalid: { path, message: problem.message } };
  }
  const config = parsed.config.mailboxes[0];
  if (config === undefined) return { ok: false, invalid: { path: '(document)', message: 'not a mailbox' } };
  if (config.name !== name) {
    return { ok: false, invalid: { path: 'name', message: 'must equal the parameter name' } };
  }
  return { ok: true, config };
}
