/**
 * The reply reader's side of chunk recycling (core/chunk-recycling.ts): a
 * body's consumer that claims it gets chunks whose buffers are filled again
 * once given back, so a poll of many messages keeps reusing a handful of
 * buffers instead of leaving one per 64 KiB for the GC; a consumer that does
 * not claim it sees exactly what it saw before (fresh buffers, the last bytes
 * as an exact-size copy). Content must be the same either way.
 */
import { type Duplex, type Readable, Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { claimChunkRecycling } from '../../functions/core/chunk-recycling.js';
import { BorrowedReads } from '../../functions/pop3/borrowed-reads.js';
import { ReplyReader } from '../../functions/pop3/reply-reader.js';
import { FakeSocket, READER_LIMITS, readThrough } from '../fuzz/arbitraries.js';

const LIMITS = { ...READER_LIMITS, maxMessageBytes: 1024 * 1024 };
const BODIES = 6;

/** About `bytes` of CRLF lines, some starting with a dot; `seed` makes each body different. */
function body(seed: number, bytes: number): { wire: Buffer; decoded: Buffer } {
  const lines: string[] = [];
  let length = 0;
  for (let i = 0; length < bytes; i += 1) {
    const line = `${i % 13 === 0 ? '.' : ''}body ${seed} line ${i} ${String.fromCharCode(65 + ((seed + i) % 26)).repeat(50)}\r\n`;
    lines.push(line);
    length += line.length;
  }
  const decoded = Buffer.from(lines.join(''), 'latin1');
  const wire = Buffer.from(`+OK\r\n${lines.map((l) => (l.startsWith('.') ? `.${l}` : l)).join('')}.\r\n`, 'latin1');
  return { wire, decoded };
}

interface Read {
  readonly bytes: Buffer;
  /** Each chunk's buffer, in order. */
  readonly chunkBuffers: ArrayBufferLike[];
  readonly last: Buffer | undefined;
}

/**
 * Reads a body as the folder store's sink does: piped into a Writable, so each chunk arrives as it was pushed
 * (an async iterator's read() may join buffered chunks into a new one), handled synchronously, and given back
 * at once when recycling.
 */
function read(stream: Readable, recycling: boolean): Promise<Read> {
  const recycle = recycling ? claimChunkRecycling(stream) : undefined;
  const copies: Buffer[] = [];
  const chunkBuffers: ArrayBufferLike[] = [];
  let last: Buffer | undefined;
  return new Promise((resolve, reject) => {
    const sink = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        chunkBuffers.push(chunk.buffer);
        copies.push(Buffer.from(chunk));
        last = chunk;
        recycle?.(chunk);
        callback();
      },
    });
    stream.once('error', reject);
    sink.once('finish', () => resolve({ bytes: Buffer.concat(copies), chunkBuffers, last }));
    stream.pipe(sink);
  });
}

/**
 * BODIES pipelined RETR bodies of ~200 KiB reach a reader 4 KiB at a time through one reused read buffer (as
 * implicit TLS delivers them), with a turn of the event loop between reads so the consumer keeps up.
 */
async function retrieve(recycling: boolean) {
  const reader = new ReplyReader(LIMITS, () => {});
  const socket = new FakeSocket();
  const reads = new BorrowedReads();
  reader.attach(socket as unknown as Duplex, reads);
  const bodies = Array.from({ length: BODIES }, (_, i) => body(i, 200 * 1024));
  const results: Array<Promise<Read>> = [];
  for (let i = 0; i < BODIES; i += 1) {
    reader.expect({
      verb: 'RETR',
      shape: 'body',
      allowContinuation: false,
      settle: (reply) => {
        results.push(read(reply.body!, recycling));
      },
      fail: (error) => {
        throw error;
      },
      complete: () => {},
    });
  }
  const wire = Buffer.concat(bodies.map((b) => b.wire));
  for (let offset = 0; offset < wire.length; offset += 4096) {
    readThrough(reads, wire.subarray(offset, offset + 4096));
    await new Promise((resolve) => setImmediate(resolve));
  }
  return { bodies, reads: await Promise.all(results) };
}

describe('ReplyReader, chunk recycling', () => {
  it('a consumer that gives chunks back gets the same content in a few reused buffers', async () => {
    const { bodies, reads } = await retrieve(true);
    for (const [i, r] of reads.entries()) expect(r.bytes.equals(bodies[i]!.decoded), `body ${i}`).toBe(true);
    const all = reads.flatMap((r) => r.chunkBuffers);
    expect(all.length).toBeGreaterThanOrEqual(BODIES * 4);
    // Without reuse there would be one buffer per chunk; the reader keeps at most 4 spare.
    expect(new Set(all).size).toBeLessThanOrEqual(6);
  });

  it('a consumer that does not gets a fresh buffer for every full chunk, and the last bytes as a copy', async () => {
    const { bodies, reads } = await retrieve(false);
    for (const [i, r] of reads.entries()) expect(r.bytes.equals(bodies[i]!.decoded), `body ${i}`).toBe(true);
    const full = reads.flatMap((r) => r.chunkBuffers.slice(0, -1));
    expect(full.length).toBeGreaterThanOrEqual(BODIES * 3);
    expect(new Set(full).size).toBe(full.length);
    for (const { last } of reads) {
      // A copy, not the gathering buffer: it shares no buffer with a full chunk.
      expect(full).not.toContain(last!.buffer);
      // Exact-size, so a message allocates about its own size; where Node cuts a copy this small from its
      // shared pool (Node 24: under 32 KiB of a 64 KiB pool), the pool's buffer is shared by design.
      if (last!.length >= Buffer.poolSize >>> 1) expect(last!.buffer.byteLength).toBe(last!.length);
    }
  });
});
