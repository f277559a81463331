/**
 * Local-mode `RawStore`: content-addressed files under one folder.
 *
 *   <dir>/raw/<sha[0..2]>/<sha>.eml     raw messages
 *   <dir>/att/<sha[0..2]>/<sha>.bin     attachments
 *   <dir>/tmp/<uuid>.part               writes in progress
 *
 * A put streams into a temp file in the same file system, hashing on the way
 * (one chunk in flight: the sink's callback waits for the disk write, so
 * backpressure reaches the source), fsyncs it, renames it into place and
 * fsyncs the directory: after the promise resolves the object survives a
 * crash. A rename is atomic, so a reader never sees a partial object.
 */
import { createHash, randomUUID } from 'node:crypto';
import { type FileHandle, mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { type Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { BridgeError, isBridgeError } from '../core/errors.js';
import type { ObjectKind, RawStore, StoredObject } from '../core/ports.js';

const LAYOUT = {
  raw: { prefix: 'raw', ext: '.eml' },
  attachment: { prefix: 'att', ext: '.bin' },
} as const satisfies Record<ObjectKind, { prefix: string; ext: string }>;

const KEY = /^(raw\/[0-9a-f]{2}\/[0-9a-f]{64}\.eml|att\/[0-9a-f]{2}\/[0-9a-f]{64}\.bin)$/;

/** Bytes the sink accepts before it pushes back on the source. */
export const WRITE_HIGH_WATER_MARK = 64 * 1024;
const FILE_MODE = 0o600;
const DIR_MODE = 0o700;

export function keyFor(sha256: string, kind: ObjectKind): string {
  const { prefix, ext } = LAYOUT[kind];
  return `${prefix}/${sha256.slice(0, 2)}/${sha256}${ext}`;
}

/** True for keys this store could have produced (anything else cannot name a file in it). */
export function isValidKey(key: string): boolean {
  return KEY.test(key) && key.slice(4, 6) === key.slice(7, 9);
}

async function fsyncDir(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Writes every chunk fully before accepting the next, hashing and counting as it goes. */
class HashingFileSink extends Writable {
  readonly #file: FileHandle;
  readonly #hash = createHash('sha256');
  #size = 0;

  constructor(file: FileHandle) {
    super({ highWaterMark: WRITE_HIGH_WATER_MARK });
    this.#file = file;
  }

  get size(): number {
    return this.#size;
  }

  digest(): string {
    return this.#hash.digest('hex');
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.#writeAll(chunk).then(() => callback(), callback);
  }

  /**
   * TLS hands us records of at most 16 KiB (Dovecot's are ~4 KiB): while one write is in flight the
   * next chunks queue up, and this writes them all with one writev instead of one thread-pool trip each.
   */
  override _writev(chunks: Array<{ chunk: Buffer }>, callback: (error?: Error | null) => void): void {
    this.#writeAll(chunks.length === 1 ? chunks[0]!.chunk : Buffer.concat(chunks.map((c) => c.chunk))).then(
      () => callback(),
      callback,
    );
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.#file.sync().then(() => callback(), callback);
  }

  async #writeAll(chunk: Buffer): Promise<void> {
    this.#hash.update(chunk);
    this.#size += chunk.length;
    let offset = 0;
    while (offset < chunk.length) {
      const { bytesWritten } = await this.#file.write(chunk, offset, chunk.length - offset);
      offset += bytesWritten;
    }
  }
}

export class FolderRawStore implements RawStore {
  readonly dir: string;
  /** Directories known to exist (tmp/ and the shards): created once, not once per message. */
  readonly #madeDirs = new Set<string>();

  constructor(dir: string) {
    this.dir = dir;
  }

  /** mkdir -p, remembered; returns the first directory created (as fs.mkdir does) or undefined. */
  async #ensureDir(path: string): Promise<string | undefined> {
    if (this.#madeDirs.has(path)) return undefined;
    const created = await mkdir(path, { recursive: true, mode: DIR_MODE });
    this.#madeDirs.add(path);
    return created;
  }

  /** Absolute path of a key; STORE_ERR_NOT_FOUND for a key this store cannot hold (no path escapes). */
  pathOf(key: string): string {
    if (!isValidKey(key)) throw new BridgeError('STORE_ERR_NOT_FOUND', 'not a key of this store', { context: { key } });
    return join(this.dir, key);
  }

  async put(input: Readable, kind: ObjectKind): Promise<StoredObject> {
    const tmpDir = join(this.dir, 'tmp');
    let tmp: string | undefined;
    let file: FileHandle | undefined;
    try {
      await this.#ensureDir(tmpDir);
      tmp = join(tmpDir, `${randomUUID()}.part`);
      file = await open(tmp, 'wx', FILE_MODE);
      const sink = new HashingFileSink(file);
      await pipeline(input, sink);
      await file.close();
      file = undefined;

      const sha256 = sink.digest();
      const key = keyFor(sha256, kind);
      const target = join(this.dir, key);
      const shardDir = dirname(target);
      const created = await this.#ensureDir(shardDir);
      if (await exists(target)) {
        // Same key, same content: keep the copy we have.
        await rm(tmp, { force: true });
      } else {
        await rename(tmp, target);
        await fsyncDir(shardDir);
        if (created !== undefined) {
          // New shard (and maybe kind) directories: make their entries durable too.
          await fsyncDir(dirname(shardDir));
          await fsyncDir(this.dir);
        }
      }
      tmp = undefined;
      return { key, sha256, size: sink.size };
    } catch (err) {
      await file?.close().catch(() => {});
      if (tmp !== undefined) await rm(tmp, { force: true }).catch(() => {});
      if (isBridgeError(err)) throw err;
      throw new BridgeError('STORE_ERR_IO', `could not store a ${kind} object`, { cause: err, context: { kind } });
    } finally {
      if (!input.destroyed && !input.readableEnded) input.destroy();
    }
  }

  async get(key: string): Promise<Readable> {
    const path = this.pathOf(key);
    try {
      const handle = await open(path, 'r');
      return handle.createReadStream();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new BridgeError('STORE_ERR_NOT_FOUND', 'no stored object with that key', { context: { key } });
      }
      throw new BridgeError('STORE_ERR_IO', 'could not open a stored object', { cause: err, context: { key } });
    }
  }

  async has(key: string): Promise<boolean> {
    if (!isValidKey(key)) return false;
    return exists(join(this.dir, key));
  }

  /**
   * Removes temp files older than `olderThanMs` (left by a process that died
   * mid-put). Returns how many were removed. Safe while other puts run, as
   * long as the age exceeds the longest put.
   */
  async sweepTemp(olderThanMs: number, now: number = Date.now()): Promise<number> {
    const tmpDir = join(this.dir, 'tmp');
    let names: string[];
    try {
      names = await readdir(tmpDir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
      throw new BridgeError('STORE_ERR_IO', 'could not list temp files', { cause: err });
    }
    let removed = 0;
    for (const name of names) {
      const path = join(tmpDir, name);
      const info = await stat(path).catch(() => undefined);
      if (info !== undefined && now - info.mtimeMs > olderThanMs) {
        await rm(path, { force: true });
        removed++;
      }
    }
    return removed;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw new BridgeError('STORE_ERR_IO', 'could not check a stored object', { cause: err });
  }
}
