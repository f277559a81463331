/**
 * The known-uid set of a mailbox as one gzip blob: the uids joined by
 * newlines (RFC 1939 §7: a UIDL is 1..70 characters 0x21..0x7E, never a
 * newline). The same format as the local store's `known_uids` column; kept
 * here so the Lambda bundle does not pull in better-sqlite3.
 */
import { promisify } from 'node:util';
import { gunzip, gzip } from 'node:zlib';
import { BridgeError } from '../core/errors.js';

const gzipAsync = promisify(gzip);
const gunzipAsync = promisify(gunzip);

export async function encodeKnownUids(uids: ReadonlySet<string>): Promise<Buffer> {
  for (const uid of uids) {
    if (uid.length === 0 || uid.includes('\n')) {
      throw new BridgeError('STATE_ERR_IO', 'a uid must be non-empty and contain no newline', { retryable: false });
    }
  }
  return gzipAsync([...uids].join('\n'), { level: 1 });
}

export async function decodeKnownUids(blob: Uint8Array): Promise<Set<string>> {
  const text = (await gunzipAsync(blob)).toString('utf8');
  return new Set(text === '' ? [] : text.split('\n'));
}
