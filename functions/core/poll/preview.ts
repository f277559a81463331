/**
 * The dry run behind `pop3-bridge ls`: which messages a poll would fetch now,
 * with From, Subject and size read through TOP n 0 — nothing is stored,
 * recorded or deleted, and the session ends with QUIT and no DELE.
 */
import { simpleParser } from 'mailparser';
import type { Pop3Client } from '../../pop3/client.js';
import { isBridgeError } from '../errors.js';
import type { StateStore } from '../ports.js';
import { identitiesFromHeaders, identitiesFromUidl, type ServerMessage } from './identity.js';

export interface PreviewEntry {
  readonly msg: number;
  readonly uid: string;
  readonly size: number;
  readonly from: string;
  readonly subject: string;
  readonly date: string | undefined;
}

/** Headers are small, but a hostile server could send a huge "header": cap what we read. */
const MAX_HEADER_BYTES = 256 * 1024;

async function headersOf(client: Pop3Client, msg: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  const stream = await client.top(msg, 0);
  for await (const chunk of stream) {
    const buf = chunk as Buffer;
    if (total < MAX_HEADER_BYTES) chunks.push(buf.subarray(0, MAX_HEADER_BYTES - total));
    total += buf.length;
  }
  return Buffer.concat(chunks);
}

export async function previewNewMessages(
  client: Pop3Client,
  state: StateStore,
  mailbox: string,
  limit: number,
): Promise<{ total: number; entries: PreviewEntry[] }> {
  let messages: ServerMessage[];
  try {
    messages = await identitiesFromUidl(client, await client.uidl());
  } catch (error) {
    // A server without UIDL (RFC 1939 makes it optional): the same header-hash identities the poll uses.
    if (!isBridgeError(error, 'POP3_ERR_UNSUPPORTED') && !isBridgeError(error, 'POP3_ERR_RESPONSE')) throw error;
    messages = await identitiesFromHeaders(client, (await client.stat()).count);
  }
  const known = await state.getKnownUids(mailbox);
  const candidates = messages.filter((m) => !known.has(m.uid));
  const recorded = await state.getMessages(
    mailbox,
    candidates.map((m) => m.uid),
  );
  const fresh = candidates.filter((m) => !recorded.has(m.uid));
  const entries: PreviewEntry[] = [];
  for (const m of fresh.slice(0, limit)) {
    const [size, headers] = [await client.listOne(m.msg), await headersOf(client, m.msg)];
    const parsed = await simpleParser(headers, { skipHtmlToText: true, skipTextToHtml: true, skipTextLinks: true });
    entries.push({
      msg: m.msg,
      uid: m.uid,
      size: size.size,
      from: parsed.from?.text ?? '',
      subject: parsed.subject ?? '',
      date: parsed.date?.toISOString(),
    });
  }
  return { total: fresh.length, entries };
}
