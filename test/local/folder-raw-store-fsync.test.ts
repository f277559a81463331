/**
 * Which puts fsync: a raw message always (file and directory; promise 1), a
 * derived object (attachment, long body) never, a repair always. The fsync
 * module is wrapped so the calls can be counted; each call still syncs.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import { FolderRawStore } from '../../functions/local/folder-raw-store.js';
import { chunked } from '../contract/raw-store.contract.js';

const synced = vi.hoisted(() => ({ fds: 0, paths: [] as string[] }));

vi.mock('../../functions/local/fsync-path.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../functions/local/fsync-path.js')>();
  return {
    fsyncFd: (fd: number) => {
      synced.fds += 1;
      return real.fsyncFd(fd);
    },
    fsyncPath: (path: string) => {
      synced.paths.push(path);
      return real.fsyncPath(path);
    },
  };
});

let dir: string;
let store: FolderRawStore;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pop3-bridge-fsync-'));
  store = new FolderRawStore(dir);
  // Some shard directories made first. A new directory is synced once for any kind, so the puts counted
  // below are ones that landed in a shard that already existed: their counts are the per-put ones.
  for (const kind of ['raw', 'attachment'] as const) {
    for (let i = 0; i < 64; i += 1) await store.put(chunked(randomBytes(8)), kind);
  }
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function count(): { fds: number; paths: number } {
  const result = { fds: synced.fds, paths: synced.paths.length };
  synced.fds = 0;
  synced.paths.length = 0;
  return result;
}

it('a raw message is fsynced with its directory; an attachment is not; a repair is', async () => {
  const inKnownShard = async (kind: 'raw' | 'attachment', repair = false) => {
    for (let i = 0; i < 200; i += 1) {
      count();
      const target = repair ? store.repairing() : store;
      await target.put(chunked(randomBytes(500)), kind);
      const counted = count();
      if (counted.paths <= 1) return counted;
    }
    throw new Error('no put landed in a known shard');
  };
  expect(await inKnownShard('raw')).toEqual({ fds: 1, paths: 1 });
  expect(await inKnownShard('attachment')).toEqual({ fds: 0, paths: 0 });
  expect(await inKnownShard('attachment', true)).toEqual({ fds: 1, paths: 1 });
});
