/**
 * Which message on the server is which: the identity (`uid`) the state store
 * keys records by.
 *
 * - Normally the server's UIDL (RFC 1939 §7), which is stable across sessions.
 * - UIDLs that occur more than once in one listing (a server bug, seen after
 *   mailbox repairs) get the UIDL plus a hash of the message's headers, so both
 *   messages are kept as distinct (a positional `#2` would shift). The identity
 *   still changes when a twin appears or goes (the one left is the bare UIDL
 *   again): poll-mailbox.ts matches such a message by its content to its record
 *   (`shiftingUidls`), so it is not delivered twice.
 * - Servers without UIDL: the hash of the headers (TOP n 0) alone. Costs one
 *   TOP per message per full listing (headers only, pipelined); documented in
 *   docs/engine.md.
 */
import { createHash } from 'node:crypto';
import type { Pop3Client } from '../../pop3/client.js';
import type { UidlEntry } from '../../pop3/types.js';

export interface ServerMessage {
  readonly msg: number;
  readonly uid: string;
  readonly serverUidl: string | undefined;
}

export async function headerHash(client: Pop3Client, msg: number): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of await client.top(msg, 0)) hash.update(chunk as Buffer);
  return hash.digest('hex').slice(0, 32);
}

/** Appends `#2`, `#3`, … to identities that are still equal (byte-identical copies), in server order. */
function disambiguate(messages: ServerMessage[]): ServerMessage[] {
  const seen = new Map<string, number>();
  return messages.map((m) => {
    const n = (seen.get(m.uid) ?? 0) + 1;
    seen.set(m.uid, n);
    return n === 1 ? m : { ...m, uid: `${m.uid}#${n}` };
  });
}

export async function identitiesFromUidl(
  client: Pop3Client,
  entries: ReadonlyArray<UidlEntry>,
): Promise<ServerMessage[]> {
  const counts = new Map<string, number>();
  for (const e of entries) counts.set(e.uidl, (counts.get(e.uidl) ?? 0) + 1);
  const out: ServerMessage[] = [];
  for (const e of entries) {
    if ((counts.get(e.uidl) ?? 0) > 1) {
      out.push({ msg: e.msg, uid: `${e.uidl}#h:${await headerHash(client, e.msg)}`, serverUidl: e.uidl });
    } else {
      out.push({ msg: e.msg, uid: e.uidl, serverUidl: e.uidl });
    }
  }
  return disambiguate(out);
}

export async function identitiesFromHeaders(client: Pop3Client, count: number): Promise<ServerMessage[]> {
  const out: ServerMessage[] = [];
  for (let msg = 1; msg <= count; msg += 1) {
    out.push({ msg, uid: `h:${await headerHash(client, msg)}`, serverUidl: undefined });
  }
  return disambiguate(out);
}
