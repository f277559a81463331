/**
 * The behaviour every `RawStore` adapter must have (local folder, S3, …).
 * Adapter test files call `describeRawStoreContract` with a factory; nothing
 * here knows how an adapter stores its bytes.
 */
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BridgeError, isBridgeError } from '../../functions/core/errors.js';
import type { RawStore } from '../../functions/core/ports.js';

export interface RawStoreHarness {
  readonly store: RawStore;
  /**
   * Every object the adapter holds, temp or partial uploads included (a
   * folder's files, a bucket's keys and pending multipart uploads), so the
   * contract can check that a failed put leaves nothing behind.
   */
  listObjects(): Promise<string[]>;
  cleanup(): Promise<void>;
}

export const sha256Hex = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

/** A stream of `bytes` in chunks of `chunkSize`, produced on demand. */
export function chunked(bytes: Buffer, chunkSize = 16 * 1024): Readable {
  let offset = 0;
  return new Readable({
    read() {
      if (offset >= bytes.length) {
        this.push(null);
        return;
      }
      const end = Math.min(offset + chunkSize, bytes.length);
      this.push(bytes.subarray(offset, end));
      offset = end;
    },
  });
}

/** Sends `bytes`, then fails with `error` instead of ending. */
export function failingAfter(bytes: Buffer, error: Error): Readable {
  let sent = false;
  return new Readable({
    read() {
      if (!sent) {
        sent = true;
        this.push(bytes);
      } else {
        setImmediate(() => this.destroy(error));
      }
    },
  });
}

export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
  return Buffer.concat(chunks);
}

async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

export function describeRawStoreContract(name: string, makeStore: () => Promise<RawStoreHarness>): void {
  describe(`RawStore contract: ${name}`, () => {
    let h: RawStoreHarness;
    beforeEach(async () => {
      h = await makeStore();
    });
    afterEach(async () => {
      await h.cleanup();
    });

    it('stores bytes under a key derived from their SHA-256 and reports sha256 and size', async () => {
      const bytes = Buffer.from('From: a@example.com\r\nSubject: hi\r\n\r\nbody\r\n');
      const stored = await h.store.put(chunked(bytes, 7), 'raw');
      expect(stored.sha256).toBe(sha256Hex(bytes));
      expect(stored.size).toBe(bytes.length);
      expect(stored.key).toContain(stored.sha256);
    });

    it('stores an empty input', async () => {
      const stored = await h.store.put(Readable.from([]), 'raw');
      expect(stored).toMatchObject({ sha256: sha256Hex(Buffer.alloc(0)), size: 0 });
      expect(await readAll(await h.store.get(stored.key))).toEqual(Buffer.alloc(0));
    });

    it('get returns exactly the stored bytes (multi-megabyte, binary, many chunks)', async () => {
      const bytes = randomBytes(5 * 1024 * 1024 + 13);
      const stored = await h.store.put(chunked(bytes, 50_000), 'raw');
      expect(stored.size).toBe(bytes.length);
      const back = await readAll(await h.store.get(stored.key));
      expect(back.length).toBe(bytes.length);
      expect(back.equals(bytes)).toBe(true);
    });

    it('same bytes give the same key and one copy', async () => {
      const bytes = randomBytes(100_000);
      const first = await h.store.put(chunked(bytes, 1000), 'raw');
      const before = await h.listObjects();
      const second = await h.store.put(chunked(bytes, 33_333), 'raw');
      expect(second).toEqual(first);
      expect(await h.listObjects()).toEqual(before);
      expect(before).toHaveLength(1);
    });

    it('concurrent puts of the same bytes agree and keep one copy', async () => {
      const bytes = randomBytes(300_000);
      const results = await Promise.all([1, 2, 3, 4].map((n) => h.store.put(chunked(bytes, 10_000 * n), 'raw')));
      expect(new Set(results.map((r) => r.key)).size).toBe(1);
      expect(await h.listObjects()).toHaveLength(1);
      expect((await readAll(await h.store.get(results[0]!.key))).equals(bytes)).toBe(true);
    });

    it('different content gets a different key', async () => {
      const a = await h.store.put(chunked(Buffer.from('a')), 'raw');
      const b = await h.store.put(chunked(Buffer.from('b')), 'raw');
      expect(a.key).not.toBe(b.key);
    });

    it('keeps raw messages and attachments apart', async () => {
      const bytes = Buffer.from('same bytes');
      const raw = await h.store.put(chunked(bytes), 'raw');
      const att = await h.store.put(chunked(bytes), 'attachment');
      expect(att.sha256).toBe(raw.sha256);
      expect(att.key).not.toBe(raw.key);
      expect((await readAll(await h.store.get(att.key))).equals(bytes)).toBe(true);
    });

    it('has() is false before and true after a put', async () => {
      const bytes = Buffer.from('has me');
      const stored = await h.store.put(chunked(bytes), 'raw');
      expect(await h.store.has(stored.key)).toBe(true);
      const other = stored.key.replace(stored.sha256, sha256Hex(Buffer.from('not stored')));
      expect(await h.store.has(other)).toBe(false);
    });

    it('get of an unknown key fails with STORE_ERR_NOT_FOUND', async () => {
      const stored = await h.store.put(chunked(Buffer.from('x')), 'raw');
      const unknown = stored.key.replace(stored.sha256, sha256Hex(Buffer.from('never')));
      const err = await rejectionOf(h.store.get(unknown));
      expect(isBridgeError(err, 'STORE_ERR_NOT_FOUND')).toBe(true);
    });

    it.each(['', '../../etc/passwd', 'raw/../../x', 'raw/ab/not-a-hash.eml'])(
      'a key it cannot have produced (%j) is not found, never a path outside the store',
      async (key) => {
        expect(await h.store.has(key)).toBe(false);
        expect(isBridgeError(await rejectionOf(h.store.get(key)), 'STORE_ERR_NOT_FOUND')).toBe(true);
      },
    );

    it('a failing input leaves nothing behind and its BridgeError comes back as it was', async () => {
      const cause = new BridgeError('POP3_ERR_CLOSED', 'connection closed mid-message');
      const err = await rejectionOf(h.store.put(failingAfter(randomBytes(200_000), cause), 'raw'));
      expect(err).toBe(cause);
      expect(await h.listObjects()).toEqual([]);
    });

    it('a failing input with a plain error becomes STORE_ERR_IO with the error as cause', async () => {
      const cause = new Error('socket hang up');
      const err = await rejectionOf(h.store.put(failingAfter(Buffer.from('partial'), cause), 'raw'));
      expect(isBridgeError(err, 'STORE_ERR_IO')).toBe(true);
      expect((err as BridgeError).cause).toBe(cause);
      expect(await h.listObjects()).toEqual([]);
    });

    it('an input that stops without ending is a failure, not a short object', async () => {
      const input = new Readable({ read() {} });
      input.push(Buffer.from('half a message'));
      setImmediate(() => input.destroy());
      const err = await rejectionOf(h.store.put(input, 'raw'));
      expect(isBridgeError(err)).toBe(true);
      expect(await h.listObjects()).toEqual([]);
    });
  });
}
