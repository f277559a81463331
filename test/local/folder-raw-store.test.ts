import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { offerChunkRecycling } from '../../functions/core/chunk-recycling.js';
import { FolderRawStore, HOLD_ATTACHMENT_BYTES, isValidKey, keyFor } from '../../functions/local/folder-raw-store.js';
import { chunked, describeRawStoreContract, sha256Hex } from '../contract/raw-store.contract.js';

async function listFiles(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries
    .filter((e) => e.isFile())
    .map((e) => relative(root, join(e.parentPath, e.name)))
    .sort();
}

function listFilesSync(root: string): string[] {
  return readdirSync(root, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => relative(root, join(e.parentPath, e.name)))
    .sort();
}

describeRawStoreContract('FolderRawStore', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'pop3-bridge-raw-'));
  return {
    store: new FolderRawStore(dir),
    listObjects: () => listFiles(dir),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
});

describe('FolderRawStore (local specifics)', () => {
  let dir: string;
  let store: FolderRawStore;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pop3-bridge-raw-'));
    store = new FolderRawStore(dir);
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('files raw messages and attachments under <kind>/<sha[0..2]>/<sha>.<ext>, readable only by the owner', async () => {
    const bytes = Buffer.from('hello');
    const sha = sha256Hex(bytes);
    const raw = await store.put(chunked(bytes), 'raw');
    const att = await store.put(chunked(bytes), 'attachment');
    expect(raw.key).toBe(`raw/${sha.slice(0, 2)}/${sha}.eml`);
    expect(att.key).toBe(`att/${sha.slice(0, 2)}/${sha}.bin`);
    expect(await readFile(join(dir, raw.key))).toEqual(bytes);
    expect((await stat(join(dir, raw.key))).mode & 0o777).toBe(0o600);
    expect(await listFiles(join(dir, 'tmp'))).toEqual([]);
  });

  it.each(['raw', 'attachment'] as const)(
    'gives each %s chunk back to a producer that offers recycling only after hashing and writing it',
    async (kind) => {
      // Chunks of 1 KiB: an attachment's first ones are held until HOLD_ATTACHMENT_BYTES is passed.
      const bytes = randomBytes(HOLD_ATTACHMENT_BYTES + 300 * 1024);
      const pieces = Array.from({ length: Math.ceil(bytes.length / 1024) }, (_, i) =>
        Buffer.from(bytes.subarray(i * 1024, (i + 1) * 1024)),
      );
      const input = Readable.from(pieces, { objectMode: false });
      const returned = new Set<Buffer>();
      offerChunkRecycling(input, () => (chunk) => {
        expect(returned.has(chunk)).toBe(false);
        returned.add(chunk);
        // A producer reuses what comes back at once: poisoned here, so a sink that still needed it shows.
        chunk.fill(0xee);
      });
      const stored = await store.put(input, kind);
      expect(stored.sha256).toBe(sha256Hex(bytes));
      expect((await readFile(join(dir, stored.key))).equals(bytes)).toBe(true);
      expect(returned.size).toBe(pieces.length);
      for (const piece of pieces) expect(returned.has(piece)).toBe(true);
    },
  );

  it('a repeated attachment held in memory is not given back (it is never written)', async () => {
    const bytes = randomBytes(2048);
    await store.put(chunked(bytes), 'attachment');
    const input = Readable.from([Buffer.from(bytes)], { objectMode: false });
    let returns = 0;
    offerChunkRecycling(input, () => () => {
      returns += 1;
    });
    const again = await store.put(input, 'attachment');
    expect(again.sha256).toBe(sha256Hex(bytes));
    expect(returns).toBe(0);
  });

  it('keyFor and isValidKey agree; keys with a mismatched shard are refused', () => {
    const sha = sha256Hex(Buffer.from('x'));
    expect(isValidKey(keyFor(sha, 'raw'))).toBe(true);
    expect(isValidKey(keyFor(sha, 'attachment'))).toBe(true);
    expect(isValidKey(`raw/00/${sha}.eml`)).toBe(sha.startsWith('00'));
    expect(isValidKey(`raw/${sha.slice(0, 2)}/${sha}.bin`)).toBe(false);
  });

  it('streams a 50 MB message without holding more than a few chunks at once', async () => {
    const total = 50 * 1024 * 1024;
    const chunk = randomBytes(64 * 1024);
    const tmpDir = join(dir, 'tmp', 'raw');
    let produced = 0;
    let maxAhead = 0;
    let samples = 0;
    // Pull-based source: read() is only called when the store wants more. Each time, compare
    // what we have produced with what has reached the temp file: the difference is all the
    // store (and the source's own buffer) can be holding.
    const input = new Readable({
      highWaterMark: 64 * 1024,
      read() {
        // The temp file is opened by the first write, which may come after this second read.
        if (produced > 0 && existsSync(tmpDir)) {
          const names = readdirSync(tmpDir);
          if (names.length === 1) {
            const onDisk = statSync(join(tmpDir, names[0]!)).size;
            maxAhead = Math.max(maxAhead, produced - onDisk);
            samples++;
          }
        }
        if (produced >= total) {
          this.push(null);
          return;
        }
        produced += chunk.length;
        this.push(chunk);
      },
    });
    const stored = await store.put(input, 'raw');
    expect(stored.size).toBe(total);
    expect(samples).toBeGreaterThan(700);
    // Source highWaterMark (64 KiB) + sink highWaterMark (64 KiB) + the chunk being written.
    expect(maxAhead).toBeLessThanOrEqual(4 * 64 * 1024);
  });

  it('a store whose directories were removed while in use creates them again on the next put', async () => {
    const first = await store.put(chunked(Buffer.from('before the tidy-up')), 'raw');
    await rm(dir, { recursive: true, force: true });
    const again = await store.put(chunked(Buffer.from('before the tidy-up')), 'raw');
    expect(again.key).toBe(first.key);
    const attachment = await store.put(chunked(Buffer.from('an attachment')), 'attachment');
    for (const key of [again.key, attachment.key]) {
      const chunks: Buffer[] = [];
      for await (const chunk of await store.get(key)) chunks.push(chunk as Buffer);
      expect(Buffer.concat(chunks).length).toBeGreaterThan(0);
    }
    expect(await listFiles(join(dir, 'tmp'))).toEqual([]);
  });

  it('sweepTemp removes only old temp files, from the folder of each kind and from tmp/ itself', async () => {
    await store.put(chunked(Buffer.from('x')), 'raw');
    await store.put(chunked(Buffer.from('y')), 'attachment');
    const hourAgo = new Date(Date.now() - 3_600_000);
    // tmp/old-layout.part: where versions before per-kind folders wrote every temp file.
    for (const name of ['raw/old.part', 'att/old.part', 'old-layout.part', 'raw/fresh.part']) {
      const path = join(dir, 'tmp', name);
      await writeFile(path, 'partial');
      if (name.includes('old')) await utimes(path, hourAgo, hourAgo);
    }
    expect(await store.sweepTemp(600_000)).toBe(3);
    expect(await listFiles(join(dir, 'tmp'))).toEqual(['raw/fresh.part']);
    expect(await new FolderRawStore(join(dir, 'absent')).sweepTemp(0)).toBe(0);
  });

  it('a repeated attachment up to HOLD_ATTACHMENT_BYTES is recognised without a temp file', async () => {
    const logo = randomBytes(HOLD_ATTACHMENT_BYTES);
    const first = await store.put(chunked(logo), 'attachment');
    // A temp folder that cannot hold a file: any put that creates one fails from here on. A new store
    // instance, so no directory is remembered as made.
    await rm(join(dir, 'tmp', 'att'), { recursive: true, force: true });
    await writeFile(join(dir, 'tmp', 'att'), 'not a folder');
    const again = new FolderRawStore(dir);
    expect(await again.put(chunked(logo), 'attachment')).toEqual(first);
    // The check is real: a new attachment, or a repeat past the limit, needs the temp folder and fails.
    await expect(again.put(chunked(randomBytes(1024)), 'attachment')).rejects.toMatchObject({
      code: 'STORE_ERR_IO',
    });
    const large = randomBytes(HOLD_ATTACHMENT_BYTES + 1);
    await rm(join(dir, 'tmp', 'att'));
    const largeFirst = await store.put(chunked(large), 'attachment');
    await rm(join(dir, 'tmp', 'att'), { recursive: true });
    await writeFile(join(dir, 'tmp', 'att'), 'not a folder');
    await expect(new FolderRawStore(dir).put(chunked(large), 'attachment')).rejects.toMatchObject({
      code: 'STORE_ERR_IO',
    });
    expect(await readFile(join(dir, largeFirst.key))).toEqual(large);
    expect(await readFile(join(dir, first.key))).toEqual(logo);
  });

  it('a repeated attachment past HOLD_ATTACHMENT_BYTES leaves no temp file behind', async () => {
    const large = randomBytes(HOLD_ATTACHMENT_BYTES + 64 * 1024);
    const first = await store.put(chunked(large), 'attachment');
    expect(await store.put(chunked(large), 'attachment')).toEqual(first);
    expect(await listFiles(join(dir, 'tmp'))).toEqual([]);
    expect(await readFile(join(dir, first.key))).toEqual(large);
  });

  it('raw messages and attachments are written in separate temp folders', async () => {
    // The poll stores raw messages on the main thread while the event worker stores attachments; files
    // created in one folder wait for each other on that folder's lock.
    const seen: Record<string, string[]> = {};
    for (const kind of ['raw', 'attachment'] as const) {
      let sent = false;
      const input = new Readable({
        read() {
          if (!sent) {
            sent = true;
            // Past what an attachment may hold in memory, so both kinds have their temp file open.
            this.push(randomBytes(HOLD_ATTACHMENT_BYTES + 1));
            return;
          }
          // Once the sink has taken the first chunk.
          setTimeout(() => {
            seen[kind] = listFilesSync(join(dir, 'tmp'));
            this.push(null);
          }, 20);
        },
      });
      await store.put(input, kind);
    }
    expect(seen.raw).toEqual([expect.stringMatching(/^raw\/[0-9a-f-]{36}\.part$/)]);
    expect(seen.attachment).toEqual([expect.stringMatching(/^att\/[0-9a-f-]{36}\.part$/)]);
    expect(await listFiles(join(dir, 'tmp'))).toEqual([]);
  });

  it('a repeated attachment replaces a stored copy of another size (short after an OS crash), keeps one of the same size', async () => {
    for (const bytes of [randomBytes(1000), randomBytes(HOLD_ATTACHMENT_BYTES + 5000)]) {
      const first = await store.put(chunked(bytes), 'attachment');
      const path = join(dir, first.key);
      await writeFile(path, bytes.subarray(0, 10));
      expect(await store.put(chunked(bytes), 'attachment')).toEqual(first);
      expect(await readFile(path)).toEqual(bytes);
      // Same size, other bytes: the repeat keeps it (only serving checks the hash, see isIntact).
      await writeFile(path, Buffer.alloc(bytes.length));
      await store.put(chunked(bytes), 'attachment');
      expect(await readFile(path)).toEqual(Buffer.alloc(bytes.length));
    }
    expect(await listFiles(join(dir, 'tmp'))).toEqual([]);
  });

  it('isIntact: the object is there and hashes to the SHA-256 its key names', async () => {
    const bytes = randomBytes(3 * 64 * 1024 + 17);
    const raw = await store.put(chunked(bytes), 'raw');
    const att = await store.put(chunked(bytes), 'attachment');
    expect(await store.isIntact(raw.key)).toBe(true);
    expect(await store.isIntact(att.key)).toBe(true);
    await writeFile(join(dir, att.key), Buffer.alloc(bytes.length));
    expect(await store.isIntact(att.key)).toBe(false);
    await writeFile(join(dir, att.key), bytes.subarray(0, bytes.length - 1));
    expect(await store.isIntact(att.key)).toBe(false);
    await rm(join(dir, att.key));
    expect(await store.isIntact(att.key)).toBe(false);
    await expect(store.isIntact('att/../../etc/passwd')).rejects.toMatchObject({ code: 'STORE_ERR_NOT_FOUND' });
  });

  it('repairing() puts replace a stored copy even of the same size', async () => {
    const bytes = randomBytes(1000);
    const first = await store.put(chunked(bytes), 'attachment');
    await writeFile(join(dir, first.key), Buffer.alloc(bytes.length));
    expect(await store.repairing().put(chunked(bytes), 'attachment')).toEqual(first);
    expect(await readFile(join(dir, first.key))).toEqual(bytes);
    expect(await store.isIntact(first.key)).toBe(true);
    expect(await listFiles(join(dir, 'tmp'))).toEqual([]);
  });

  it('a put into an unwritable place is STORE_ERR_IO and consumes the input no further', async () => {
    await writeFile(join(dir, 'blocker'), 'a file where the store dir should be');
    const blocked = new FolderRawStore(join(dir, 'blocker'));
    const input = chunked(randomBytes(10_000));
    await expect(blocked.put(input, 'raw')).rejects.toMatchObject({ code: 'STORE_ERR_IO' });
    expect(input.destroyed).toBe(true);
  });
});
