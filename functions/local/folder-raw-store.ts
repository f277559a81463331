/**
 * Local-mode `RawStore`: content-addressed files under one folder.
 *
 *   <dir>/raw/<sha[0..2]>/<sha>.eml     raw messages
 *   <dir>/att/<sha[0..2]>/<sha>.bin     attachments
 *   <dir>/tmp/raw/<uuid>.part           writes in progress, one folder per kind
 *   <dir>/tmp/att/<uuid>.part
 *
 * A put streams into a temp file in the same file system, hashing on the way,
 * and renames it into place; a rename is atomic, so a reader never sees a
 * partial object. What differs is when the bytes reach the disk:
 *
 * - A raw message is fsynced, renamed and its directory fsynced before the
 *   promise resolves: it is the only copy once the server DELEs it, so it
 *   must survive a power loss (promise 1).
 * - An attachment (or a body too long for its event) is *derived*: a pure
 *   function of a raw message that is already durable. It is renamed into
 *   place without fsyncs, and the kernel writes it back on its own schedule.
 *   A process crash loses nothing (the page cache belongs to the kernel); an
 *   OS crash or power loss in the next seconds can leave it missing, short or
 *   zero-filled, and then the link server rebuilds it from its raw message
 *   when its link is fetched (derived-object-repair.ts; `isIntact` checks an
 *   object against the hash its key names). The two fsyncs it no longer
 *   makes were 6–17 % of the bridge's CPU per message in the e2e benchmark
 *   (docs/performance.md, 2026-11-29 10:39).
 *
 * An attachment whose key is already stored with the same size is discarded
 * (a logo in every signature); one of at most HOLD_ATTACHMENT_BYTES is held in
 * memory until its key is known, so such a repeat never touches the disk.
 *
 * Why the metadata calls and the writes are synchronous and only the fsyncs
 * are not: measured on this machine (Node 20, ext4), an `fs/promises`
 * open + close costs ~78 µs of CPU against ~4 µs for openSync + closeSync, a
 * 64 KiB write ~25 µs against ~4 µs — the thread-pool round trip and the
 * FileHandle machinery cost far more than the system call, and a put made
 * ~11 of them. Opening, writing into the page cache, renaming and closing
 * return in microseconds; the one call that waits for the disk, fsync, stays
 * on the thread pool, so the thread (the poll's socket, a worker's other
 * builds) never waits for the device. Every put still writes, fsyncs and
 * renames exactly as before, so durability is unchanged. Reads are synchronous
 * too: an object is usually read soon after it was written (page cache), and a
 * cold read blocks its thread for one disk read of at most READ_CHUNK_BYTES.
 *
 * Why one temp folder per kind: creating a file takes its folder's lock
 * (i_rwsem) for the whole inode allocation, and the poll stores raw messages
 * on the main thread while the event worker stores attachments. Sharing one
 * folder made each wait for the other; Linux spins for a lock whose holder is
 * running, so the wait burned CPU: 2–3 % of the bridge's CPU in a `perf` run
 * of `bench/threads.ts`, none with a folder per kind (2026-11-27, on ext4
 * without a journal, where allocating an inode also walks the group's
 * recently deleted inodes, so the lock is held longer).
 */
import { createHash, randomUUID } from 'node:crypto';
import {
  closeSync,
  createReadStream,
  existsSync,
  mkdirSync,
  openSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { readdir, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { finished, Readable, Writable } from 'node:stream';
import { type ChunkRecycler, claimChunkRecycling } from '../core/chunk-recycling.js';
import { BridgeError, isBridgeError } from '../core/errors.js';
import type { ObjectKind, RawStore, StoredObject } from '../core/ports.js';
import { fsyncFd, fsyncPath } from './fsync-path.js';

const LAYOUT = {
  raw: { prefix: 'raw', ext: '.eml' },
  attachment: { prefix: 'att', ext: '.bin' },
} as const satisfies Record<ObjectKind, { prefix: string; ext: string }>;

const KEY = /^(raw\/[0-9a-f]{2}\/[0-9a-f]{64}\.eml|att\/[0-9a-f]{2}\/[0-9a-f]{64}\.bin)$/;

/** Bytes the sink accepts before it pushes back on the source. */
export const WRITE_HIGH_WATER_MARK = 64 * 1024;
/**
 * An attachment up to this size is held in memory until its hash is known, and written only if it is new:
 * a repeated one then costs no temp file, no write and no unlink (on ext4 without a journal an unlinked
 * inode also slows every file created near it for the next five minutes). Larger ones stream to a temp
 * file from the first byte past it. One such buffer per attachment being stored.
 */
export const HOLD_ATTACHMENT_BYTES = 256 * 1024;
/** Bytes per read of a stored object (what fs.createReadStream reads, which parse-mime.ts was tuned with). */
export const READ_CHUNK_BYTES = 64 * 1024;
const FILE_MODE = 0o600;
const DIR_MODE = 0o700;

export function keyFor(sha256: string, kind: ObjectKind): string {
  const { prefix, ext } = LAYOUT[kind];
  return `${prefix}/${sha256.slice(0, 2)}/${sha256}${ext}`;
}

/** The SHA-256 a key of this store names (its content address). */
export function sha256OfKey(key: string): string {
  return key.slice(key.lastIndexOf('/') + 1, key.lastIndexOf('.'));
}

/** True for keys this store could have produced (anything else cannot name a file in it). */
export function isValidKey(key: string): boolean {
  return KEY.test(key) && key.slice(4, 6) === key.slice(7, 9);
}

/**
 * `input.pipe(sink)`, settled when the sink has finished or either side failed; on failure both
 * are destroyed. What `stream/promises` `pipeline` does for two streams, without its cost: pipeline makes an
 * AbortController per call and aborts it when done, and the AbortError it creates captures a stack trace —
 * ≈ 70 µs of CPU per call against ≈ 8 µs here (Node 20, measured 2026-11-27), and every stored message and
 * attachment is one call.
 */
function pipeInto(input: Readable, sink: Writable): Promise<void> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const settle = (error: Error | null | undefined): void => {
      if (settled) return;
      settled = true;
      if (error) {
        input.destroy();
        sink.destroy();
        reject(error);
      } else resolve();
    };
    // end-of-stream also reports a source that is already errored, or destroyed before its end (premature close).
    finished(input, { writable: false }, (error) => {
      if (error) settle(error);
    });
    sink.once('error', settle);
    sink.once('finish', () => settle(null));
    input.pipe(sink);
  });
}

/**
 * Hashes and counts every chunk. The first `holdBytes` are held in memory (chunks are kept by reference, as
 * any Writable's buffer keeps them); from the first chunk past them the temp file is opened (`open`), what
 * was held is written, and every chunk is written fully before the next is accepted. It does not fsync:
 * `put` does, once it knows the key (an attachment stored before is discarded unsynced).
 */
class HashingFileSink extends Writable {
  readonly #open: () => number;
  readonly #holdBytes: number;
  readonly #recycle: ChunkRecycler | undefined;
  readonly #hash = createHash('sha256');
  #fd: number | undefined;
  #held: Buffer[] = [];
  #heldBytes = 0;
  #size = 0;

  /** `recycle`: gives a chunk back to its producer once it is hashed and written (core/chunk-recycling.ts). */
  constructor(open: () => number, holdBytes: number, recycle?: ChunkRecycler) {
    super({ highWaterMark: WRITE_HIGH_WATER_MARK });
    this.#open = open;
    this.#holdBytes = holdBytes;
    this.#recycle = recycle;
  }

  get size(): number {
    return this.#size;
  }

  digest(): string {
    return this.#hash.digest('hex');
  }

  /** Opens the temp file if it is not open yet and writes what was held; returns its descriptor. */
  toFile(): number {
    if (this.#fd === undefined) {
      this.#fd = this.#open();
      const held = this.#held;
      this.#held = [];
      this.#heldBytes = 0;
      for (const chunk of held) {
        this.#writeAll(this.#fd, chunk);
        this.#recycle?.(chunk);
      }
    }
    return this.#fd;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    try {
      this.#hash.update(chunk);
      this.#size += chunk.length;
      if (this.#fd === undefined && this.#heldBytes + chunk.length <= this.#holdBytes) {
        this.#held.push(chunk);
        this.#heldBytes += chunk.length;
      } else {
        this.#writeAll(this.toFile(), chunk);
        // Hashed (update copies into the hash's state) and written synchronously: nothing reads it again.
        this.#recycle?.(chunk);
      }
    } catch (error) {
      callback(error as Error);
      return;
    }
    callback();
  }

  #writeAll(fd: number, chunk: Buffer): void {
    let offset = 0;
    while (offset < chunk.length) offset += writeSync(fd, chunk, offset, chunk.length - offset);
  }
}

/** A stored object, read in READ_CHUNK_BYTES pieces; the file is closed at the end or on destroy. */
class StoredObjectReader extends Readable {
  #fd: number | undefined;

  constructor(fd: number) {
    super({ highWaterMark: READ_CHUNK_BYTES });
    this.#fd = fd;
  }

  override _read(size: number): void {
    // One read per turn of the event loop, as fs.createReadStream's thread-pool reads gave: the parser's
    // setImmediate steps (mailsplit, mailparser) run between reads, so a parse stopped at its input cap has
    // got as far through the message as it did before.
    setImmediate(() => this.#readNow(size));
  }

  #readNow(size: number): void {
    if (this.#fd === undefined || this.destroyed) return;
    const buffer = Buffer.allocUnsafe(Math.max(size, READ_CHUNK_BYTES));
    let bytes: number;
    try {
      bytes = readSync(this.#fd, buffer, 0, buffer.length, null);
    } catch (error) {
      this.destroy(error as Error);
      return;
    }
    if (bytes === 0) this.push(null);
    else this.push(bytes === buffer.length ? buffer : buffer.subarray(0, bytes));
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (this.#fd !== undefined) {
      try {
        closeSync(this.#fd);
      } catch {
        // Closing a read-only descriptor cannot lose data; the read's own error, if any, is what matters.
      }
      this.#fd = undefined;
    }
    callback(error);
  }
}

export class FolderRawStore implements RawStore {
  readonly dir: string;
  /**
   * A put here holds no message bytes once its input has ended (they are in the temp file), only a
   * descriptor and a hash, while it waits for its fsyncs and then the record's group commit. With 4 at once
   * (the poll's default) a first poll waited on those most of the time: `bench/local-poll.ts`, 5000 messages,
   * 2026-11-27, old and new alternated: 8.7 / 9.3 s with 4, 6.7 / 5.3 s with 16 (6.4 / 7.0 s with 32).
   */
  readonly putsInFlight = 16;
  /** Directories known to exist (tmp/ and the shards): created once, not once per message. */
  readonly #madeDirs = new Set<string>();

  constructor(dir: string) {
    this.dir = dir;
  }

  /** mkdir -p, remembered; returns the first directory created (as fs.mkdir does) or undefined. */
  #ensureDir(path: string): string | undefined {
    if (this.#madeDirs.has(path)) return undefined;
    const created = mkdirSync(path, { recursive: true, mode: DIR_MODE });
    this.#madeDirs.add(path);
    return created;
  }

  /**
   * Runs `op`; if it fails with ENOENT because `dir` is gone although remembered as made (removed while
   * the process runs, e.g. by an operator tidying up), forgets what was made, creates `dir` again and
   * retries once. Without this every later put into that directory would fail until a restart.
   */
  #retryOnMissingDir<T>(dir: string, op: () => T): { value: T; created: string | undefined } {
    try {
      return { value: op(), created: undefined };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || existsSync(dir)) throw error;
      this.#madeDirs.clear();
      const created = this.#ensureDir(dir);
      return { value: op(), created };
    }
  }

  /** Absolute path of a key; STORE_ERR_NOT_FOUND for a key this store cannot hold (no path escapes). */
  pathOf(key: string): string {
    if (!isValidKey(key)) throw new BridgeError('STORE_ERR_NOT_FOUND', 'not a key of this store', { context: { key } });
    return join(this.dir, key);
  }

  /** Raw messages durably; attachments as derived objects (see the header). */
  put(input: Readable, kind: ObjectKind): Promise<StoredObject> {
    return this.#put(input, kind, kind === 'raw' ? 'durable' : 'derived');
  }

  /**
   * This store with every put durable and replacing whatever is stored under its key: what rebuilding a
   * derived object that a crash left damaged needs (a damaged copy can have the right size, so the
   * repeat check of a derived put would keep it).
   */
  repairing(): RawStore {
    return {
      put: (input, kind) => this.#put(input, kind, 'repair'),
      get: (key) => this.get(key),
      has: (key) => this.has(key),
    };
  }

  async #put(input: Readable, kind: ObjectKind, mode: 'durable' | 'derived' | 'repair'): Promise<StoredObject> {
    const tmpDir = join(this.dir, 'tmp', LAYOUT[kind].prefix);
    let tmp: string | undefined;
    let fd: number | undefined;
    const openTemp = (): number => {
      this.#ensureDir(tmpDir);
      tmp = join(tmpDir, `${randomUUID()}.part`);
      fd = this.#retryOnMissingDir(tmpDir, () => openSync(tmp!, 'wx', FILE_MODE)).value;
      return fd;
    };
    try {
      // Raw messages are unique, so they go to disk from the first byte; small attachments wait for their key.
      // The sink is the input's one reader (pipeInto), so it may give chunks back to a producer that offers it.
      const sink = new HashingFileSink(
        openTemp,
        kind === 'attachment' ? HOLD_ATTACHMENT_BYTES : 0,
        claimChunkRecycling(input),
      );
      await pipeInto(input, sink);

      const sha256 = sink.digest();
      const key = keyFor(sha256, kind);
      const target = join(this.dir, key);
      const shardDir = dirname(target);
      // Same key and size: keep the copy we have and discard this one (a logo in every signature). The size
      // check costs what an existence check does and replaces a copy an OS crash left short or empty; one
      // damaged at full length is caught when its link is served (isIntact). Raw messages are unique (a
      // re-fetch after a crash is the only repeat), so for them the check is skipped: a rename over an
      // identical object is harmless.
      if (mode === 'derived' && sizeOf(target) === sink.size) {
        if (fd !== undefined) {
          closeSync(fd);
          fd = undefined;
          rmSync(tmp!, { force: true });
        }
        tmp = undefined;
        return { key, sha256, size: sink.size };
      }
      let created = this.#ensureDir(shardDir);
      const durable = mode !== 'derived';
      const file = sink.toFile();
      if (durable) await fsyncFd(file);
      closeSync(fd!);
      fd = undefined;
      const renamed = this.#retryOnMissingDir(shardDir, () => renameSync(tmp!, target));
      created ??= renamed.created;
      if (durable) await fsyncPath(shardDir);
      // New shard (and maybe kind) directories: make their entries durable too, for a derived object as
      // well: it happens once per directory (at most 256 shards per kind), so it costs nothing per message.
      if (created !== undefined) {
        await fsyncPath(dirname(shardDir));
        await fsyncPath(this.dir);
      }
      tmp = undefined;
      return { key, sha256, size: sink.size };
    } catch (err) {
      if (fd !== undefined) {
        try {
          closeSync(fd);
        } catch {}
      }
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
      return new StoredObjectReader(openSync(path, 'r'));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new BridgeError('STORE_ERR_NOT_FOUND', 'no stored object with that key', { context: { key } });
      }
      throw new BridgeError('STORE_ERR_IO', 'could not open a stored object', { cause: err, context: { key } });
    }
  }

  /**
   * Whether the object under `key` is there and hashes to the SHA-256 its key names. Reads it all, on the
   * thread pool: for serving a derived object that an OS crash may have left damaged (see the header).
   */
  async isIntact(key: string): Promise<boolean> {
    const path = this.pathOf(key);
    const expected = sha256OfKey(key);
    const hash = createHash('sha256');
    try {
      for await (const chunk of createReadStream(path, { highWaterMark: READ_CHUNK_BYTES })) hash.update(chunk);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw new BridgeError('STORE_ERR_IO', 'could not read a stored object', { cause: err, context: { key } });
    }
    return hash.digest('hex') === expected;
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
    const tmpRoot = join(this.dir, 'tmp');
    let removed = 0;
    // tmp/ itself too: versions before 2026-11-27 wrote every temp file there.
    for (const tmpDir of [tmpRoot, ...Object.values(LAYOUT).map(({ prefix }) => join(tmpRoot, prefix))]) {
      let names: string[];
      try {
        names = await readdir(tmpDir);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw new BridgeError('STORE_ERR_IO', 'could not list temp files', { cause: err });
      }
      for (const name of names) {
        const path = join(tmpDir, name);
        const info = await stat(path).catch(() => undefined);
        if (info?.isFile() && now - info.mtimeMs > olderThanMs) {
          await rm(path, { force: true });
          removed++;
        }
      }
    }
    return removed;
  }
}

/**
 * The size of the file at `path`, or undefined if there is none. `throwIfNoEntry: false` because the usual
 * answer for a new attachment is "none", and an ENOENT error (with its stack trace) cost 15–20 µs per
 * attachment in the e2e benchmark's profile; other errors still throw.
 */
function sizeOf(path: string): number | undefined {
  return statSync(path, { throwIfNoEntry: false })?.size;
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
