/**
 * Property tests (fast-check, fixed seed, bounded runs) for the pieces of the
 * POP3 client that see raw server bytes: the dot decoder, the pure parsers
 * and the reply reader.
 */
import type { Duplex, Readable } from 'node:stream';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { claimChunkRecycling } from '../../functions/core/chunk-recycling.js';
import { BridgeError } from '../../functions/core/errors.js';
import { BorrowedReads } from '../../functions/pop3/borrowed-reads.js';
import {
  errorForReply,
  parseCapabilities,
  parseGreeting,
  parseListEntry,
  parseStat,
  parseStatusLine,
  parseUidlEntry,
} from '../../functions/pop3/commands.js';
import { DotDecoder } from '../../functions/pop3/dot-decoder.js';
import { type Reply, ReplyReader, type ReplyShape } from '../../functions/pop3/reply-reader.js';
import {
  expectedUnstuffed,
  FakeSocket,
  hostileBytes,
  lineBytes,
  nearGrammar,
  READER_LIMITS,
  readThrough,
  referenceStuff,
  replyFragments,
  split,
} from '../fuzz/arbitraries.js';

const SEED = 20_240_611;
const RUNS = { seed: SEED, numRuns: 300 } as const;
describe('DotDecoder: RFC 1939 §3 stuffing round trip', () => {
  const limits = { maxBodyLineBytes: 1 << 30, maxMessageBytes: 1 << 30 };

  for (const [name, bodies] of [
    ['arbitrary bytes', hostileBytes],
    ['dot-heavy lines', lineBytes],
  ] as const) {
    it(`${name}: stuff + terminator + any cuts → the body, and rest is what followed`, () => {
      fc.assert(
        fc.property(
          bodies,
          fc.uint8Array({ maxLength: 20 }),
          fc.array(fc.nat(), { maxLength: 12 }),
          (body, trailing, cuts) => {
            const wire = Buffer.concat([referenceStuff(body), trailing]);
            const decoder = new DotDecoder(limits);
            const out: Buffer[] = [];
            const rest: Buffer[] = [];
            for (const chunk of split(wire, cuts)) {
              const result = decoder.feed(chunk);
              out.push(...result.out);
              if (result.done && result.rest) rest.push(result.rest);
            }
            expect(decoder.done).toBe(true);
            const expected = expectedUnstuffed(body);
            expect(Buffer.concat(out).equals(expected)).toBe(true);
            expect(decoder.bytes).toBe(expected.length);
            expect(Buffer.concat(rest).equals(Buffer.from(trailing))).toBe(true);
          },
        ),
        RUNS,
      );
    });
  }

  it('a body without its terminator never reports done, whatever the cuts', () => {
    fc.assert(
      fc.property(hostileBytes, fc.array(fc.nat(), { maxLength: 8 }), (body, cuts) => {
        const stuffed = referenceStuff(body);
        const truncated = stuffed.subarray(0, stuffed.length - 3); // drop ".\r\n"
        const decoder = new DotDecoder(limits);
        for (const chunk of split(truncated, cuts)) decoder.feed(chunk);
        expect(decoder.done).toBe(false);
      }),
      RUNS,
    );
  });
});

describe('commands.ts parsers throw nothing but BridgeError', () => {
  function onlyBridgeErrors(fn: () => unknown): void {
    try {
      fn();
    } catch (error) {
      expect(error).toBeInstanceOf(BridgeError);
    }
  }

  it('parseStatusLine, then parseGreeting and errorForReply on what it returns', () => {
    fc.assert(
      fc.property(nearGrammar, (line) => {
        onlyBridgeErrors(() => {
          const status = parseStatusLine(line);
          expect(typeof parseGreeting(status).text).toBe('string');
          expect(errorForReply(status, 'RETR')).toBeInstanceOf(BridgeError);
        });
      }),
      RUNS,
    );
  });

  it('parseStat, parseListEntry, parseUidlEntry', () => {
    fc.assert(
      fc.property(nearGrammar, fc.integer({ min: 0, max: 600 }), (line, maxUidl) => {
        onlyBridgeErrors(() => parseStat(line));
        onlyBridgeErrors(() => parseListEntry(line));
        onlyBridgeErrors(() => parseUidlEntry(line, maxUidl));
      }),
      RUNS,
    );
  });

  it('parseCapabilities', () => {
    fc.assert(
      fc.property(fc.array(nearGrammar, { maxLength: 10 }), (lines) => {
        onlyBridgeErrors(() => parseCapabilities(lines));
      }),
      RUNS,
    );
  });

  it('parseGreeting on arbitrary status objects', () => {
    fc.assert(
      fc.property(fc.boolean(), fc.option(nearGrammar, { nil: undefined }), nearGrammar, (ok, code, text) => {
        onlyBridgeErrors(() => parseGreeting({ ok, continuation: false, code, text }));
      }),
      RUNS,
    );
  });
});

// ------------------------------------------------------------- ReplyReader

interface Outcome {
  settled: Reply | undefined;
  failed: unknown;
  completed: boolean;
}

/**
 * Reads a body. A recycling consumer (core/chunk-recycling.ts) copies each chunk, then gives it back, and also
 * tries what the reader must refuse: a slice of a chunk it is still reading, a foreign buffer, the same chunk
 * a second time. Had the reader taken any of those, one buffer would serve two chunks at once and a later
 * body would overwrite one still waiting to be read.
 */
async function drain(stream: Readable, recycling = false): Promise<{ bytes: Buffer } | { error: unknown }> {
  const recycle = recycling ? claimChunkRecycling(stream) : undefined;
  if (recycling) expect(recycle).toBeTypeOf('function');
  const chunks: Buffer[] = [];
  try {
    for await (const chunk of stream) {
      const bytes = chunk as Buffer;
      if (recycle) {
        // Refused: a slice (the chunk is still being read), a foreign buffer; more replies arrive meanwhile.
        if (bytes.length > 1) recycle(bytes.subarray(0, bytes.length - 1));
        recycle(Buffer.alloc(64 * 1024));
        await new Promise((resolve) => setImmediate(resolve));
        chunks.push(Buffer.from(bytes));
        recycle(bytes);
        recycle(bytes); // a second return: refused
      } else chunks.push(bytes);
    }
    return { bytes: Buffer.concat(chunks) };
  } catch (error) {
    return { error };
  }
}

/**
 * How bytes reach the reader: as 'data' events (owned Buffers), or through one reused read buffer
 * (borrowed-reads.ts, implicit TLS), which is overwritten with junk after every read, so anything the
 * reader kept without copying shows up as corrupted output.
 */
type Delivery = 'data' | 'borrowed' | 'borrowed, recycling consumer';

/** Feeds `chunks` to a reader expecting `shapes`, then ends the connection. */
async function runReader(
  shapes: ReadonlyArray<[ReplyShape, boolean]>,
  chunks: ReadonlyArray<Buffer>,
  delivery: Delivery = 'data',
): Promise<{
  outcomes: Outcome[];
  bodies: Array<{ bytes: Buffer } | { error: unknown } | undefined>;
  fatal: unknown[];
}> {
  const fatal: unknown[] = [];
  const reader = new ReplyReader(READER_LIMITS, (error) => fatal.push(error));
  const socket = new FakeSocket();
  const reads = delivery === 'data' ? undefined : new BorrowedReads();
  reader.attach(socket as unknown as Duplex, reads);
  const feed = (chunk: Buffer): void => {
    if (reads) readThrough(reads, chunk);
    else socket.emit('data', chunk);
  };
  const outcomes: Outcome[] = shapes.map(() => ({ settled: undefined, failed: undefined, completed: false }));
  shapes.forEach(([shape, allowContinuation], i) => {
    const outcome = outcomes[i]!;
    reader.expect({
      verb: `CMD${i}`,
      shape,
      allowContinuation,
      settle: (reply) => {
        expect(outcome.settled ?? outcome.failed).toBeUndefined();
        outcome.settled = reply;
      },
      fail: (error) => {
        expect(outcome.settled ?? outcome.failed).toBeUndefined();
        outcome.failed = error;
      },
      complete: () => {
        outcome.completed = true;
      },
    });
  });
  // Start consuming bodies as soon as they appear, as a caller would.
  const bodyPromises = outcomes.map(() => undefined as Promise<{ bytes: Buffer } | { error: unknown }> | undefined);
  const watch = () =>
    outcomes.forEach((o, i) => {
      if (o.settled?.body && bodyPromises[i] === undefined)
        bodyPromises[i] = drain(o.settled.body, delivery === 'borrowed, recycling consumer');
    });
  for (const chunk of chunks) {
    expect(() => feed(chunk)).not.toThrow();
    watch();
    await new Promise((resolve) => setImmediate(resolve));
  }
  expect(() => socket.emit('end')).not.toThrow();
  watch();
  const bodies = await Promise.all(bodyPromises);
  return { outcomes, bodies, fatal };
}

describe('ReplyReader', () => {
  const shapeArb = fc.tuple(fc.constantFrom<ReplyShape>('line', 'list', 'body'), fc.boolean());
  it.each<Delivery>(['data', 'borrowed'])(
    'arbitrary bytes at arbitrary cuts (%s): no synchronous throw; every reply settles or fails with a BridgeError',
    async (delivery) => {
      await fc.assert(
        fc.asyncProperty(
          fc.array(shapeArb, { minLength: 1, maxLength: 5 }),
          replyFragments,
          fc.array(fc.nat(), { maxLength: 8 }),
          async (shapes, bytes, cuts) => {
            const { outcomes, bodies, fatal } = await runReader(shapes, split(bytes, cuts), delivery);
            // The connection ended, so the reader must have given up with a typed error.
            expect(fatal.length).toBe(1);
            expect(fatal[0]).toBeInstanceOf(BridgeError);
            // Typed on purpose, not an internal crash (a TypeError) wrapped as 'could not parse the reply'.
            expect((fatal[0] as BridgeError).cause).toBeUndefined();
            outcomes.forEach((o, i) => {
              expect(o.settled !== undefined || o.failed !== undefined, `reply ${i} neither settled nor failed`).toBe(
                true,
              );
              if (o.failed !== undefined) expect(o.failed).toBeInstanceOf(BridgeError);
            });
            for (const body of bodies) {
              if (body && 'error' in body) expect(body.error).toBeInstanceOf(BridgeError);
            }
          },
        ),
        { seed: SEED, numRuns: 200 },
      );
    },
  );

  /** One well-formed reply: its wire bytes and what the reader must hand out. */
  const wellFormed = fc.oneof(
    fc.constantFrom('+OK', '+OK hello', '-ERR [SYS/TEMP] later', '-ERR no').map((line) => ({
      shape: 'line' as ReplyShape,
      wire: `${line}\r\n`,
      status: line,
      lines: undefined as string[] | undefined,
      body: undefined as Buffer | undefined,
    })),
    fc.array(fc.constantFrom('1 abc', '2 .dot', '.', '..x', 'TOP', 'SASL PLAIN'), { maxLength: 6 }).map((lines) => ({
      shape: 'list' as ReplyShape,
      wire: `+OK\r\n${lines.map((l) => (l.startsWith('.') ? `.${l}` : l)).join('\r\n')}${lines.length ? '\r\n' : ''}.\r\n`,
      status: '+OK',
      lines,
      body: undefined as Buffer | undefined,
    })),
    lineBytes.map((body) => ({
      shape: 'body' as ReplyShape,
      wire: `+OK body\r\n${referenceStuff(body).toString('latin1')}`,
      status: '+OK body',
      lines: undefined as string[] | undefined,
      body: expectedUnstuffed(body),
    })),
  );

  it.each<Delivery>(['data', 'borrowed', 'borrowed, recycling consumer'])(
    'well-formed replies at arbitrary cuts (%s) are read exactly as when unsplit',
    async (delivery) => {
      await fc.assert(
        fc.asyncProperty(
          fc.array(wellFormed, { minLength: 1, maxLength: 6 }),
          fc.array(fc.nat(), { maxLength: 20 }),
          async (replies, cuts) => {
            const wire = Buffer.from(replies.map((r) => r.wire).join(''), 'latin1');
            const { outcomes, bodies } = await runReader(
              replies.map((r) => [r.shape, false]),
              split(wire, cuts),
              delivery,
            );
            replies.forEach((r, i) => {
              const o = outcomes[i]!;
              expect(o.failed, `reply ${i} failed`).toBeUndefined();
              expect(o.completed).toBe(true);
              const status = o.settled!.status;
              expect(
                `${status.ok ? '+OK' : '-ERR'}${status.code ? ` [${status.code}]` : ''}${status.text ? ` ${status.text}` : ''}`,
              ).toBe(r.status);
              if (r.lines) expect(o.settled!.lines).toEqual(r.lines);
              if (r.body) {
                const body = bodies[i];
                expect(body && 'bytes' in body && body.bytes.equals(r.body), `body ${i}`).toBe(true);
              }
            });
          },
        ),
        { seed: SEED, numRuns: 200 },
      );
    },
  );
});
