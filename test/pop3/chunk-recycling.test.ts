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
  readonly chunks: number;
  /** The distinct buffers the chunks came in. */
  readonly buffers: Set<ArrayBufferLike>;
  /** The last chunk's buffer was exactly its size (an exact-size copy). */
  readonly lastExact: boolean;
}

/**
 * Reads a body as the folder store's sink does: piped into a Writable, so each chunk arrives as it was pushed
 * (an async iterator's read() may join buffered chunks into a new one), handled synchronously, and given back
 * at once when recycling.
 */
function read(stream: Readable, recycling: boolean, buffers: Set<ArrayBufferLike>): Promise<Read> {
  const recycle = recycling ? claimChunkRecycling(stream) : undefined;
  const copies: Buffer[] = [];
  let last: Buffer | undefined;
  return new Promise((resolve, reject) => {
    const sink = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        buffers.add(chunk.buffer);
        copies.push(Buffer.from(chunk));
        last = chunk;
        recycle?.(chunk);
        callback();
      },
    });
    stream.once('error', reject);
    sink.once('finish', () =>
      resolve({
        bytes: Buffer.concat(copies),
        chunks: copies.length,
        buffers,
        lastExact: last !== undefined && last.buffer.byteLength === last.length,
      }),
    );
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
  const buffers = new Set<ArrayBufferLike>();
  const results: Array<Promise<Read>> = [];
  for (let i = 0; i < BODIES; i += 1) {
    reader.expect({
      verb: 'RETR',
      shape: 'body',
      allowContinuation: false,
      settle: (reply) => {
        results.push(read(reply.body!, recycling, buffers));
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
  return { bodies, reads: await Promise.all(results), buffers };
}

describe('ReplyReader, chunk recycling', () => {
  it('a consumer that gives chunks back gets the same content in a few reused buffers', async () => {
    const { bodies, reads, buffers } = await retrieve(true);
    for (const [i, r] of reads.entries()) expect(r.bytes.equals(bodies[i]!.decoded), `body ${i}`).toBe(true);
    const chunks = reads.reduce((sum, r) => sum + r.chunks, 0);
    expect(chunks).toBeGreaterThanOrEqual(BODIES * 4);
    // Without reuse there would be one buffer per chunk; the reader keeps at most 4 spare.
    expect(buffers.size).toBeLessThanOrEqual(6);
  });

  it('a consumer that does not gets fresh buffers and an exact-size last chunk, as before', async () => {
    const { bodies, reads, buffers } = await retrieve(false);
    for (const [i, r] of reads.entries()) expect(r.bytes.equals(bodies[i]!.decoded), `body ${i}`).toBe(true);
    const chunks = reads.reduce((sum, r) => sum + r.chunks, 0);
    expect(buffers.size).toBe(chunks);
    for (const r of reads) expect(r.lastExact).toBe(true);
  });
});
