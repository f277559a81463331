/**
 * The `email.received` webhook event of pop3-bridge, as TypeScript types.
 *
 * Generated from the zod schema in functions/events/schema.ts (the same source as docs/event.schema.json)
 * by `npx tsx functions/events/write-json-schema.ts`: do not edit it by hand.
 *
 * Self-contained (no imports): copy this file into your project and
 * `import type { EmailReceivedEvent } from './event.js';`. Fields may be added to the event later; these
 * types leave them out, so ignore fields you do not know. Types check nothing at run time: verify the
 * webhook signature, and validate with docs/event.schema.json if you want the shape checked.
 */

/**
 * pop3-bridge webhook event: one stored message. Receivers must ignore fields they do not know.
 */
export interface EmailReceivedEvent {
  type: 'email.received';
  /**
   * When the bridge stored the message (UTC): the same on every retry and replay, so the body is too.
   */
  timestamp: string;
  data: EmailReceivedData;
}
export interface EmailReceivedData {
  /**
   * Mailbox name from the configuration.
   */
  mailbox: string;
  /**
   * Identity of the message in the mailbox: the UIDL; `<UIDL>#h:<hash>` for a duplicated or reused UIDL; `h:<hash>` without UIDL (hash: of the headers); `#2`, `#3` appended for byte-identical copies.
   */
  uid: string;
  /**
   * Message-ID with angle brackets.
   */
  messageId: string | null;
  /**
   * Date header in UTC; null when missing or unparseable.
   */
  date: string | null;
  /**
   * Subject, encoded-words decoded.
   */
  subject: string | null;
  /**
   * Addresses of the From header, groups flattened.
   */
  from: EmailAddress[];
  /**
   * Addresses of the To header, groups flattened.
   */
  to: EmailAddress[];
  /**
   * Addresses of the Cc header, groups flattened.
   */
  cc: EmailAddress[];
  /**
   * Addresses of the Bcc header, groups flattened.
   */
  bcc: EmailAddress[];
  /**
   * Addresses of the Reply-To header, groups flattened.
   */
  replyTo: EmailAddress[];
  /**
   * In-Reply-To.
   */
  inReplyTo: string | null;
  /**
   * Message-IDs of References, oldest first.
   */
  references: string[];
  /**
   * Top-level headers in order (capped).
   */
  headers: Header[];
  /**
   * Plain-text body (HTML converted when there is no text part); null when none or truncated.
   */
  text: string | null;
  /**
   * Link to the full plain-text body (UTF-8) when `truncated.text`.
   */
  textUrl: string | null;
  /**
   * HTML body; null when none or truncated.
   */
  html: string | null;
  /**
   * Link to the full HTML body (UTF-8) when `truncated.html`.
   */
  htmlUrl: string | null;
  /**
   * `text` without quoted replies and separators (heuristic, see docs).
   */
  replyText: string | null;
  /**
   * Generated automatically (auto-reply, vacation, bounce): do not answer.
   */
  autoReply: boolean;
  attachments: Attachment[];
  raw: RawMessage;
  truncated: Truncated;
  /**
   * What went wrong while parsing; the event holds what could be parsed.
   */
  parseErrors: ParseError[];
}
export interface EmailAddress {
  /**
   * The addr-spec as the header carried it (internationalized domains in Unicode). Never taken from a display name. May be empty.
   */
  address: string;
  /**
   * The display name, encoded-words decoded. Empty when there is none.
   */
  name: string;
}
export interface Header {
  /**
   * Header name as written.
   */
  name: string;
  /**
   * Unfolded value, encoded-words not decoded, 8-bit bytes read as UTF-8; cut at a length cap.
   */
  value: string;
}
export interface Attachment {
  /**
   * File name the part declares (untrusted: never use it as a path).
   */
  filename: string | null;
  /**
   * MIME type, lower case, without parameters.
   */
  contentType: string;
  /**
   * Decoded size in bytes.
   */
  size: number;
  /**
   * Hex SHA-256 of the decoded content; null when it could not be stored.
   */
  sha256: string | null;
  /**
   * Content-ID without angle brackets, to match `cid:` URLs in `html`.
   */
  contentId: string | null;
  /**
   * Content-Disposition as mailparser reads it.
   */
  disposition: 'attachment' | 'inline';
  /**
   * Link to the decoded content; null when it could not be stored.
   */
  url: string | null;
  /**
   * Local mode with `links.inlineMaxBytes` > 0 only: the decoded content as base64, for attachments of at most that size while the event stays under its size limit. Absent otherwise; `url` is there either way.
   */
  content?: string;
}
export interface RawMessage {
  /**
   * Size of the raw message in bytes.
   */
  size: number;
  /**
   * Hex SHA-256 of the raw message.
   */
  sha256: string;
  /**
   * Link to the raw message (message/rfc822).
   */
  url: string;
}
/**
 * What the event leaves out; the raw message (`raw.url`) always has it all.
 */
export interface Truncated {
  /**
   * `text` is null because it was too large: fetch it from `textUrl`.
   */
  text: boolean;
  /**
   * `html` is null because it was too large: fetch it from `htmlUrl`.
   */
  html: boolean;
  /**
   * `replyText` is null because the event had no room for it.
   */
  replyText: boolean;
  /**
   * `subject` was cut at its length cap.
   */
  subject: boolean;
  /**
   * `headers` lists only some of the headers, or cut values.
   */
  headers: boolean;
  /**
   * An address list lists only some of its addresses, or cut names.
   */
  addresses: boolean;
  /**
   * `references` lists only the most recent ids.
   */
  references: boolean;
  /**
   * `attachments` lists only some of the attachments.
   */
  attachments: boolean;
}
export interface ParseError {
  /**
   * Stable code (docs/webhooks.md lists them; new ones may be added).
   */
  code: string;
  /**
   * Human-readable detail; not stable.
   */
  message: string;
}
