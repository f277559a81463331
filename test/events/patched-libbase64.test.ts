/**
 * patches/libbase64+1.4.1.patch gives libbase64's streaming Decoder a fast path for chunks of base64 lines
 * (no regex pass, no stripped copy of the chunk). These tests hold the patched Decoder, both its CommonJS build
 * (the one mailsplit loads) and its ESM build, to the unpatched release (installed as `libbase64-1.4.1`, which
 * patch-package leaves alone): for any bytes written in any chunking, both push the same buffers and count the
 * same inputBytes and outputBytes.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Readable, type Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { chunkBuffer } from './support.js';

interface Libbase64 {
  Decoder: new () => Transform & { inputBytes: number; outputBytes: number };
}

const require = createRequire(import.meta.url);
const builds = {
  cjs: { patched: require('libbase64') as Libbase64, unpatched: require('libbase64-1.4.1') as Libbase64 },
  esm: {
    patched: (await import('libbase64')) as unknown as Libbase64,
    unpatched: (await import('libbase64-1.4.1')) as unknown as Libbase64,
  },
};
const SEED = 0xb64_1401;

interface Decoded {
  chunks: string[];
  inputBytes: number;
  outputBytes: number;
}

async function decode(lib: Libbase64, chunks: readonly Buffer[]): Promise<Decoded> {
  const out: string[] = [];
  const decoder = new lib.Decoder();
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      out.push(chunk.toString('hex'));
      done();
    },
  });
  await pipeline(Readable.from(chunks), decoder, sink);
  return { chunks: out, inputBytes: decoder.inputBytes, outputBytes: decoder.outputBytes };
}

/** `length` bytes from a xorshift generator: long inputs without fast-check generating every byte. */
function pseudoRandomBytes(length: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(length);
  let x = seed | 1;
  for (let i = 0; i < length; i += 1) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    bytes[i] = x & 0xff;
  }
  return bytes;
}

/** Base64 of some bytes in lines, as a mail client writes an attachment, or one long line. */
const base64Body = fc
  .tuple(
    fc.oneof(
      { weight: 4, arbitrary: fc.uint8Array({ maxLength: 3_000, size: 'max' }) },
      // up to two 64 KiB chunks of base64, the size the raw store reads
      {
        weight: 1,
        arbitrary: fc
          .tuple(fc.integer({ min: 40_000, max: 100_000 }), fc.integer())
          .map(([n, seed]) => pseudoRandomBytes(n, seed)),
      },
    ),
    fc.constantFrom(76, 76, 72, 64, 4, 5, 77, 1_000_000),
    fc.constantFrom('\r\n', '\r\n', '\n', '\r', '\r\r\n', ' \r\n'),
    fc.boolean(),
  )
  .map(([bytes, width, eol, finalEol]) => {
    const text = Buffer.from(bytes).toString('base64');
    const lines: string[] = [];
    for (let at = 0; at < text.length; at += width) lines.push(text.slice(at, at + width));
    return lines.join(eol) + (finalEol ? eol : '');
  });

/** Something inserted, replaced or removed at a position given as a fraction of the length. */
const edit = fc.tuple(
  fc.double({ min: 0, max: 1, noNaN: true }),
  fc.constantFrom('insert', 'replace', 'remove'),
  fc.oneof(
    fc.constantFrom(
      '=',
      '==',
      '===',
      '-',
      '_',
      ' ',
      '\t',
      '\r',
      '\n',
      '\r\n',
      '\x80',
      '\xff',
      '\xc3\xa9',
      '\0',
      '.',
      ':',
    ),
    fc.string({ unit: 'binary-ascii', maxLength: 4 }),
    fc.uint8Array({ minLength: 1, maxLength: 4 }).map((bytes) => Buffer.from(bytes).toString('latin1')),
  ),
);

function applyEdits(text: string, edits: ReadonlyArray<readonly [number, string, string]>): string {
  let result = text;
  for (const [where, how, what] of edits) {
    const at = Math.floor(where * result.length);
    if (how === 'insert') result = result.slice(0, at) + what + result.slice(at);
    else if (how === 'replace') result = result.slice(0, at) + what + result.slice(at + what.length);
    else result = result.slice(0, at) + result.slice(at + what.length);
  }
  return result;
}

/** Latin-1 text: base64 bodies, several of them one after another (padded segments), with stray bytes; or any bytes. */
const input = fc.oneof(
  { weight: 3, arbitrary: base64Body },
  {
    weight: 4,
    arbitrary: fc
      .tuple(fc.array(base64Body, { minLength: 1, maxLength: 3 }), fc.array(edit, { maxLength: 6, size: 'max' }))
      .map(([bodies, edits]) => applyEdits(bodies.join(''), edits)),
  },
  {
    // one or two stray bytes in an otherwise clean body, so that the chunk is not sent the slow way for other reasons
    weight: 2,
    arbitrary: fc
      .tuple(
        base64Body,
        fc.array(
          fc.tuple(
            fc.double({ min: 0, max: 1, noNaN: true }),
            fc.constantFrom('insert', 'replace'),
            fc.constantFrom('-', '_', '=', ' ', '\x80', '\xff', '\r', '\n', '.'),
          ),
          { minLength: 1, maxLength: 2 },
        ),
      )
      .map(([body, edits]) => applyEdits(body, edits)),
  },
  {
    weight: 1,
    arbitrary: fc.uint8Array({ maxLength: 600, size: 'max' }).map((bytes) => Buffer.from(bytes).toString('latin1')),
  },
  {
    weight: 1,
    arbitrary: fc
      .array(fc.constantFrom('QUJD', 'QQ', 'QUI', '=', '\r\n', '\n', ' ', '\xe9', '-', '_', 'A'), {
        maxLength: 200,
        size: 'max',
      })
      .map((parts) => parts.join('')),
  },
);

/** Chunk sizes: the whole input, sizes around the fast path's 64-byte threshold and a quartet, and 64 KiB. */
const chunking = fc.oneof(
  fc.constant<number[]>([]),
  fc.array(fc.integer({ min: 1, max: 300 }), { minLength: 1, maxLength: 6 }),
  fc.array(fc.constantFrom(1, 3, 4, 5, 63, 64, 65, 77, 78, 79, 1_024, 65_536), { minLength: 1, maxLength: 4 }),
);

describe('patched libbase64 Decoder (patches/libbase64+1.4.1.patch)', () => {
  it('is applied to both builds, the alias is not, and mailsplit loads the patched copy', () => {
    for (const build of ['cjs', 'esm']) {
      const file = (name: string) =>
        readFileSync(require.resolve(`${name}/package.json`).replace(/package\.json$/, `dist/${build}/libbase64.js`));
      expect(file('libbase64').toString()).toContain('function decodeQuartets(chunk, curLine)');
      expect(file('libbase64-1.4.1').toString()).not.toContain('decodeQuartets');
    }
    const fromMailsplit = createRequire(require.resolve('@zone-eu/mailsplit')).resolve('libbase64');
    expect(fromMailsplit).toBe(require.resolve('libbase64'));
  });

  for (const build of ['cjs', 'esm'] as const) {
    it(`${build}: pushes the same buffers and counts the same bytes as the unpatched release (fast-check, seeded)`, async () => {
      const { patched, unpatched } = builds[build];
      await fc.assert(
        fc.asyncProperty(input, chunking, async (text, sizes) => {
          const chunks = chunkBuffer(Buffer.from(text, 'latin1'), sizes);
          expect(await decode(patched, chunks)).toEqual(await decode(unpatched, chunks));
        }),
        { seed: SEED, numRuns: 400 },
      );
    });
  }

  it('decodes a 60 KiB attachment in 76-character lines written in 64 KiB chunks, through the fast path', async () => {
    const bytes = Buffer.from(Array.from({ length: 60 * 1024 }, (_, i) => (i * 7919) % 251));
    const text = `${bytes.toString('base64').replace(/.{76}/g, '$&\r\n').replace(/\r\n$/, '')}\r\n`;
    const chunks = chunkBuffer(Buffer.from(text, 'latin1'), [65_536]);
    const mine = await decode(builds.cjs.patched, chunks);
    expect(mine).toEqual(await decode(builds.cjs.unpatched, chunks));
    expect(Buffer.from(mine.chunks.join(''), 'hex').equals(bytes)).toBe(true);
    expect(mine.chunks).toHaveLength(2);
  });
});
