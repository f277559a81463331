/**
 * fsync of a file or directory by path, with only the fsync on libuv's thread pool: opening an existing
 * path and closing it cost microseconds synchronously (folder-raw-store.ts measures why that beats the
 * async calls), and the one call that waits for the device never blocks the thread.
 */
import { closeSync, fsync, fsyncSync, openSync } from 'node:fs';
import { promisify } from 'node:util';

/** fsync(2) of an open descriptor, on the thread pool. */
export const fsyncFd = promisify(fsync);

/** Opens `path` read-only (enough to fsync a file or a directory on Linux), fsyncs it, closes it. */
export async function fsyncPath(path: string): Promise<void> {
  const fd = openSync(path, 'r');
  try {
    await fsyncFd(fd);
  } finally {
    closeSync(fd);
  }
}

/** `fsyncPath` on the calling thread: for start-up code that is synchronous anyway (link-key.ts). */
export function fsyncPathSync(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
