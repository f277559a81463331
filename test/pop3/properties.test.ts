/**
 * Property tests (fast-check, fixed seed, bounded runs) for the pieces of the
 * POP3 client that see raw server bytes: the dot decoder, the pure parsers
 * and the reply reader.
 */
import { EventEmitter } from 'node:events';
import type { Duplex, Readable } from 'node:stream';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BridgeError } from '../../functions/core/errors.js';
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
import { defaultLimits, type Pop3Limits } from '../../functions/pop3/limits.js';
import { type Reply, ReplyReader, type ReplyShape } from '../../functions/pop3/reply-reader.js';

const SEED = 20_240_611;
const RUNS = { seed: SEED, numRuns: 300 } as const;
const LF = 0x0a;
const CR = 0x0d;
const DOT = 0x2e;

/** A reference server-side stuffer, written independently of the scripted server's. */
function referenceStuff(body: Uint8Array): Buffer {
  const out: number[] = [];
  body.forEach((byte, i) => {
    if (byte === DOT && (i === 0 || body[i - 1] === LF)) out.push(DOT);
    out.push(byte);
  });
  // Like Dovecot: a last line without a line end gets CR LF, so the terminator starts a line.
  if (body.length > 0 && body[body.length - 1] !== LF) out.push(CR, LF);
  out.push(DOT, CR, LF);
  return Buffer.from(out);
}

/** Bytes rich in CR, LF and dots. */
const hostileBytes = fc
  .array(
    fc.oneof(
      { arbitrary: fc.constantFrom(CR, LF, DOT), weight: 4 },
      { arbitrary: fc.integer({ min: 0, max: 255 }), weight: 1 },
    ),
    { maxLength: 300 },
  )
  .map((a) => Uint8Array.from(a));

/** Line-shaped bodies: dot lines, empty lines, CR LF and bare LF mixed. */
const lineBytes = fc
  .array(
    fc.tuple(
      fc.constantFrom('', '.', '..', '...', '.x', 'a.b', 'text', '.\r', ' .'),
      fc.constantFrom('\r\n', '\n', ''),
    ),
    { maxLength: 30 },
  )
  .map((lines) => Uint8Array.from(Buffer.from(lines.map(([l, e]) => l + e).join(''), 'latin1')));

/** Cuts `data` at the given positions (taken modulo its length). */
function split(data: Buffer, cuts: ReadonlyArray<number>): Buffer[] {
  if (data.length === 0) return [data];
  const points = [...new Set(cuts.map((c) => c % data.length))].filter((c) => c > 0).sort((a, b) => a - b);
  const out: Buffer[] = [];
  let from = 0;
  for (const p of points) {
    out.push(data.subarray(from, p));
    from = p;
  }
  out.push(data.subarray(from));
  return out;
}

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
            const expected =
              body.length > 0 && body[body.length - 1] !== LF
                ? Buffer.concat([body, Buffer.from('\r\n')])
                : Buffer.from(body);
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
  /** Strings near the grammar, plus anything at all. */
  const nearGrammar = fc.oneof(
    fc.string({ maxLength: 80 }),
    fc.string({ unit: 'binary', maxLength: 80 }),
    fc
      .array(
        fc.constantFrom(
          '+OK',
          '+ok',
          '-ERR',
          '+',
          ' ',
          '\t',
          '[',
          ']',
          'SYS/TEMP',
          'IN-USE',
          '/',
          '0',
          '1',
          '99999999999999999999',
          '-1',
          'x',
          '.',
          '<',
          '>',
          '@',
          '\u00e9',
          '\0',
        ),
        { maxLength: 12 },
      )
      .map((parts) => parts.join('')),
  );

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

/** Just enough of a socket for ReplyReader: the test emits `data` and `end` itself. */
class FakeSocket extends EventEmitter {
  pause(): this {
    return this;
  }
  resume(): this {
    return this;
  }
}

const READER_LIMITS: Pop3Limits = {
  ...defaultLimits,
  maxStatusLineBytes: 200,
  maxBodyLineBytes: 400,
  maxMessageBytes: 4_000,
  maxListEntries: 50,
  maxUidlLength: 100,
};

interface Outcome {
  settled: Reply | undefined;
  failed: unknown;
  completed: boolean;
}

async function drain(stream: Readable): Promise<{ bytes: Buffer } | { error: unknown }> {
  const chunks: Buffer[] = [];
  try {
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    return { bytes: Buffer.concat(chunks) };
  } catch (error) {
    return { error };
  }
}

/** Feeds `chunks` to a reader expecting `shapes`, then ends the connection. */
async function runReader(
  shapes: ReadonlyArray<[ReplyShape, boolean]>,
  chunks: ReadonlyArray<Buffer>,
): Promise<{
  outcomes: Outcome[];
  bodies: Array<{ bytes: Buffer } | { error: unknown } | undefined>;
  fatal: unknown[];
}> {
  const fatal: unknown[] = [];
  const reader = new ReplyReader(READER_LIMITS, (error) => fatal.push(error));
  const socket = new FakeSocket();
  reader.attach(socket as unknown as Duplex);
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
      if (o.settled?.body && bodyPromises[i] === undefined) bodyPromises[i] = drain(o.settled.body);
    });
  for (const chunk of chunks) {
    expect(() => socket.emit('data', chunk)).not.toThrow();
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
  const fragments = fc
    .array(
      fc.oneof(
        fc.constantFrom('+OK', '-ERR', '+ ', '+', '\r\n', '\n', '.', '..', ' ', '[SYS/TEMP]', '1 abc', 'x'),
        fc.string({ unit: 'binary', maxLength: 8 }),
      ),
      { maxLength: 40 },
    )
    .map((parts) => Buffer.from(parts.join(''), 'latin1'));

  it('arbitrary bytes at arbitrary cuts: no synchronous throw; every reply settles or fails with a BridgeError', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(shapeArb, { minLength: 1, maxLength: 5 }),
        fragments,
        fc.array(fc.nat(), { maxLength: 8 }),
        async (shapes, bytes, cuts) => {
          const { outcomes, bodies, fatal } = await runReader(shapes, split(bytes, cuts));
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
  });

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
      body:
        body.length > 0 && body[body.length - 1] !== LF
          ? Buffer.concat([body, Buffer.from('\r\n')])
          : Buffer.from(body),
    })),
  );

  it('well-formed replies at arbitrary cuts are read exactly as when unsplit', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(wellFormed, { minLength: 1, maxLength: 6 }),
        fc.array(fc.nat(), { maxLength: 20 }),
        async (replies, cuts) => {
          const wire = Buffer.from(replies.map((r) => r.wire).join(''), 'latin1');
          const { outcomes, bodies } = await runReader(
            replies.map((r) => [r.shape, false]),
            split(wire, cuts),
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
  });
});
