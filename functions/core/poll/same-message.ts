/**
 * Whether the message a server lists under a UIDL is the one we stored under it, when the UIDL alone cannot
 * tell. That is the case for a record whose DELE was sent but whose QUIT was never seen to succeed
 * (`MessageRecord.deleSentAt` without `deletedAt`): either the QUIT did not happen (the message is still
 * there, the common case after a dropped connection), or it was answered +OK just before a crash or a
 * dropped reply kept us from recording it, and the server has since given the removed message's UIDL to a
 * new one (RFC 1939 §7 forbids reuse only while the old message exists). Taking the new message for the old
 * one would DELE it unfetched.
 *
 * The header section of `TOP n 0` (RFC 1939 §7: the headers and the blank line after them) is compared with
 * the stored message's by the fields that say where a message came from, which every later copy keeps: its
 * Message-ID and its Received trace fields (RFC 5322 §3.6.4 and §3.6.7), in order, with folding and runs of
 * white space made one space. A new message has its own: another Message-ID, and Received fields with their
 * own times and queue ids, even when it is a second delivery of the same Message-ID. Everything else may be
 * rewritten while the message sits on the server, and must not make it look new: mbox servers add `Status:
 * RO` to a message once it was read (qpopper, UW ipop3d; RFC 4155), and servers that keep mail in a format of
 * their own and render MIME when a message is fetched (Microsoft Exchange) may pick another multipart boundary
 * in Content-Type or encode a Subject another way the next time. No real Exchange was reachable to test this:
 * the scripted server's test renders one message both ways.
 *
 * 'unknown' (a header section too large to compare, neither Message-ID nor Received on either side, a stored
 * object missing, TOP refused) leads the caller to the safe side: fetch the message as new and match it by
 * content after storing, which never loses it.
 */
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { Pop3Client } from '../../pop3/client.js';
import { isBridgeError } from '../errors.js';
import type { RawStore } from '../ports.js';

export type Sameness = 'same' | 'different' | 'unknown';

/** Header sections above this are not compared ('unknown'); real ones are a few KiB. */
export const MAX_COMPARED_HEADER_BYTES = 1024 * 1024;

/** The fields compared (lower case): where the message came from, kept by every copy of it. */
const ORIGIN_FIELDS: ReadonlySet<string> = new Set(['message-id', 'received']);

/** The identity hash of a message whose TOP was refused: fixed, so the message keeps one identity across polls. */
const TOP_REFUSED_HASH = createHash('sha256').update('TOP refused').digest('hex').slice(0, 32);

export interface ListedHeaders {
  /** SHA-256 of the whole `TOP n 0` reply, as `headerHash` gives it (identity.ts). */
  readonly hash: string;
  /** The header section, or undefined when it was larger than MAX_COMPARED_HEADER_BYTES. */
  readonly section: Buffer | undefined;
}

/**
 * One `TOP n 0`, read to its end (the client takes no other command before), hashed and kept if small. A server
 * that refuses TOP (RFC 1939 §7 makes it optional) gives no section to compare: 'unknown', so the message is
 * fetched and matched by content, where failing the poll would fail every later one the same way.
 */
export async function readListedHeaders(client: Pop3Client, msg: number): Promise<ListedHeaders> {
  let body: Readable;
  try {
    body = await client.top(msg, 0);
  } catch (error) {
    if (!isBridgeError(error, 'POP3_ERR_RESPONSE')) throw error;
    return { hash: TOP_REFUSED_HASH, section: undefined };
  }
  const hash = createHash('sha256');
  const kept: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of body) {
    const buffer = chunk as Buffer;
    hash.update(buffer);
    bytes += buffer.length;
    if (bytes <= MAX_COMPARED_HEADER_BYTES) kept.push(buffer);
  }
  const all = bytes <= MAX_COMPARED_HEADER_BYTES ? Buffer.concat(kept) : undefined;
  return { hash: hash.digest('hex').slice(0, 32), section: all === undefined ? undefined : headerSection(all) };
}

/**
 * The stored message's header section, reading no further than its blank line; undefined when the object is
 * gone or the section is larger than MAX_COMPARED_HEADER_BYTES. Other store errors are thrown: a store that
 * fails should fail the poll, not decide it.
 */
export async function readStoredHeaders(store: RawStore, key: string): Promise<Buffer | undefined> {
  let stream: Readable;
  try {
    stream = await store.get(key);
  } catch (error) {
    if (isBridgeError(error, 'STORE_ERR_NOT_FOUND')) return undefined;
    throw error;
  }
  const kept: Buffer[] = [];
  let bytes = 0;
  let tail = Buffer.alloc(0);
  try {
    for await (const chunk of stream) {
      const buffer = chunk as Buffer;
      // The blank line may begin in the last two bytes of the chunk before.
      const window = Buffer.concat([tail, buffer]);
      const before = bytes - tail.length; // where the window begins in the message
      const end = endOfHeaders(window, 0, before === 0);
      kept.push(buffer);
      bytes += buffer.length;
      if (end >= 0) {
        const length = before + end;
        return length > MAX_COMPARED_HEADER_BYTES ? undefined : Buffer.concat(kept).subarray(0, length);
      }
      if (bytes > MAX_COMPARED_HEADER_BYTES) return undefined;
      tail = window.subarray(Math.max(0, window.length - 2));
    }
  } finally {
    stream.destroy();
  }
  return bytes > MAX_COMPARED_HEADER_BYTES ? undefined : Buffer.concat(kept);
}

/** The bytes up to the end of the first blank line; all of it when there is none. */
export function headerSection(message: Buffer): Buffer {
  const end = endOfHeaders(message, 0, true);
  return end < 0 ? message : message.subarray(0, end);
}

/**
 * Where the header section ends (just after its blank line), searching from `from`; -1 when no blank line is
 * there. CRLF is what POP3 sends (RFC 1939 §3), but servers that store bare LF send it as it is, and the
 * stored message and `TOP` then agree on it.
 */
function endOfHeaders(message: Buffer, from: number, atStart: boolean): number {
  // No header fields at all: the message begins with its blank line.
  if (atStart && message.length > 0 && (message[0] === 0x0a || (message[0] === 0x0d && message[1] === 0x0a))) {
    return message[0] === 0x0a ? 1 : 2;
  }
  let at = message.indexOf(0x0a, from);
  while (at >= 0 && at + 1 < message.length) {
    if (message[at + 1] === 0x0a) return at + 2;
    if (message[at + 1] === 0x0d && message[at + 2] === 0x0a) return at + 3;
    at = message.indexOf(0x0a, at + 1);
  }
  return -1;
}

export function compareHeaderSections(listed: Buffer | undefined, stored: Buffer | undefined): Sameness {
  if (listed === undefined || stored === undefined) return 'unknown';
  const a = originFields(listed);
  const b = originFields(stored);
  // Neither side says where it came from (no fields at all, or none of these): any two such messages would be
  // "the same", and a new one under a reused UIDL DELEted unfetched.
  if (a.length === 0 && b.length === 0) return 'unknown';
  return a.length === b.length && a.every((field, i) => field === b[i]) ? 'same' : 'different';
}

/** The section's Message-ID and Received fields, in order: `name:value`, unfolded, white space made one space. */
function originFields(section: Buffer): string[] {
  // latin1 keeps every byte as one character: 8-bit header bytes compare exactly.
  const lines = section.toString('latin1').split(/\r?\n/);
  const fields: string[] = [];
  for (const line of lines) {
    if (line === '') break;
    const last = fields.length - 1;
    // RFC 5322 §2.2.3: a line that begins with white space continues the field before it.
    if ((line[0] === ' ' || line[0] === '\t') && last >= 0) fields[last] += ` ${line}`;
    else fields.push(line);
  }
  const out: string[] = [];
  for (const field of fields) {
    const colon = field.indexOf(':');
    if (colon < 0) continue;
    const name = field.slice(0, colon).trim().toLowerCase();
    if (!ORIGIN_FIELDS.has(name)) continue;
    const value = field
      .slice(colon + 1)
      .replace(/\s+/g, ' ')
      .trim();
    out.push(`${name}:${value}`);
  }
  return out;
}
