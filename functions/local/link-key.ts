/**
 * The HMAC key that signs local mode's links (link-server.ts), kept in the
 * store directory as `link.key` (base64, mode 0600) so links survive restarts
 * and no secret is ever put in the config.
 *
 * Why it is written the way it is:
 * - A key is written to a temp file, fsynced, then hard-linked into place:
 *   `link(2)` never replaces an existing name, so two processes starting
 *   together (`run` beside a `poll`) cannot end up with different keys — the
 *   second gets EEXIST and reads the first's — and a crash never leaves a
 *   `link.key` that is empty or short, since the name appears only once the
 *   bytes are on disk. (Until 2026-11-29 the key was written in place without
 *   an fsync, which a crash could leave empty.)
 * - A `link.key` that does not hold a base64 key of at least LINK_KEY_BYTES
 *   bytes is replaced, never used: an empty key signs with a key everyone
 *   knows, so anyone holding one link could re-sign it with any expiry, and a
 *   short one is guessable. Links signed with the bad key stop working, which
 *   is what should happen to them.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { closeSync, fsyncSync, linkSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import path from 'node:path';
import { fsyncPathSync } from './fsync-path.js';

/** 256 bits: RFC 2104 §3 asks for a key at least as long as the hash's output (SHA-256: 32 bytes). */
export const LINK_KEY_BYTES = 32;

const KEY_FILE = 'link.key';
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** The store's link key; created on first use, replaced when the file holds no usable key (see the header). */
export function loadOrCreateLinkKey(storeDir: string): Buffer {
  const file = path.join(storeDir, KEY_FILE);
  const existing = readKeyFile(file);
  if (existing === 'missing') {
    const key = randomBytes(LINK_KEY_BYTES);
    const tmp = writeTempKey(storeDir, key);
    try {
      linkSync(tmp, file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      // Another process created it first: use its key, so links signed by either verify in both.
      return usableOrReplaced(storeDir, file, readKeyFile(file));
    } finally {
      rmSync(tmp, { force: true });
    }
    fsyncPathSync(storeDir);
    return key;
  }
  return usableOrReplaced(storeDir, file, existing);
}

/**
 * `existing` when it is a key; otherwise a new key, renamed over the file in one step. ('missing' gets here only
 * when another process's file vanished between its link and our read.) Two processes that find the same damaged
 * file at once each write a key and the later rename wins; each reads the file back, so they agree unless one
 * read it back before the other's rename — then that one's links are refused (403) until it restarts, never
 * accepted wrongly.
 */
function usableOrReplaced(storeDir: string, file: string, existing: Buffer | 'missing' | 'unusable'): Buffer {
  if (Buffer.isBuffer(existing)) return existing;
  const tmp = writeTempKey(storeDir, randomBytes(LINK_KEY_BYTES));
  renameSync(tmp, file);
  fsyncPathSync(storeDir);
  const written = readKeyFile(file);
  if (written === 'missing' || written === 'unusable') throw new Error(`${file} could not be written`);
  return written;
}

/** The key in `file`, or why there is none. */
function readKeyFile(file: string): Buffer | 'missing' | 'unusable' {
  let text: string;
  try {
    text = readFileSync(file, 'utf8').trim();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 'missing';
    throw error;
  }
  if (!BASE64.test(text)) return 'unusable';
  const key = Buffer.from(text, 'base64');
  return key.length >= LINK_KEY_BYTES ? key : 'unusable';
}

/** A new file in `dir` holding `key` in base64, fsynced; returns its path. */
function writeTempKey(dir: string, key: Buffer): string {
  const tmp = path.join(dir, `${KEY_FILE}.${randomUUID()}.tmp`);
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    writeSync(fd, key.toString('base64'));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return tmp;
}
