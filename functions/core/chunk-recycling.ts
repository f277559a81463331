/**
 * Handing a byte stream's chunks back to the code that made them, so it can
 * fill them again instead of allocating new ones.
 *
 * Why: in V8 (Node 20's 11.3, and Node 24's by default) the backing store of
 * a Buffer that is garbage but not yet collected still counts against the old
 * generation's headroom (`Heap::OldGenerationSpaceAvailable` adds the external
 * memory allocated since the last full GC). The poll's main thread allocates
 * few JS objects but ≈ 100 KiB of body chunks per message, so its young
 * generation rarely fills, the dead chunks pile up, and every ≈ 8 MB of them
 * (V8's minimum growing step) starts a full mark-compact: 20–30 per 2,000
 * messages, whose concurrent marking was the largest share of "V8's platform
 * threads" in bench/threads.ts (docs/performance.md, 2026-11-28). Chunks that
 * come back are never garbage, so they do not count.
 *
 * The contract is narrow on purpose, because a chunk given back too early is
 * overwritten by a later message:
 * - only a consumer that is the stream's one reader claims recycling;
 * - it gives a chunk back only once it will never read it again and has not
 *   handed it on (the folder store's sink: after the synchronous hash update
 *   and file write);
 * - the producer takes back only a chunk it handed out, whole, once.
 * A stream nobody claims behaves exactly as before.
 */
import type { Readable } from 'node:stream';

/** Gives a chunk back to the stream's producer; the caller must not touch it afterwards. */
export type ChunkRecycler = (chunk: Buffer) => void;

const CLAIM = Symbol('pop3-bridge.claimChunkRecycling');

interface RecyclingSource {
  [CLAIM]?: () => ChunkRecycler;
}

/** Producer side: `claim` is called at most once, by the stream's one consumer, and returns its recycler. */
export function offerChunkRecycling(stream: Readable, claim: () => ChunkRecycler): void {
  (stream as Readable & RecyclingSource)[CLAIM] = claim;
}

/**
 * Consumer side: when the stream offers recycling, claims it (once) and returns the function to give chunks
 * back with; otherwise undefined. Claim only as the stream's one reader.
 */
export function claimChunkRecycling(stream: Readable): ChunkRecycler | undefined {
  const source = stream as Readable & RecyclingSource;
  const claim = source[CLAIM];
  if (claim === undefined) return undefined;
  delete source[CLAIM];
  return claim();
}
