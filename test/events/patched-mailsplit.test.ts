/**
 * patches/@zone-eu+mailsplit+5.4.30.patch makes MessageSplitter find line ends with Buffer#indexOf instead of
 * a byte loop. These tests hold the patched splitter to the unpatched release (installed as `mailsplit-5.4.30`,
 * which patch-package leaves alone): on generated MIME-ish input written in any chunking, both emit the same
 * objects in the same order (every node with its headers and part number, every body and data slice byte for
 * byte), and Splitter → Joiner gives back the input bytes.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

/** The parts of mailsplit 5.4.30 these tests use. */
interface SplitterNode {
  type: 'node';
  parentNode: SplitterNode | false;
  headers: { build(): Buffer } | false;
  partNr: Array<string | number> | false;
  contentType: string | false;
  multipart: string | false;
  encoding: string | false;
  charset: string | false;
  disposition: string | false;
  filename: string | false;
  messageNode: boolean | undefined;
}
interface SplitterChunk {
  type: 'body' | 'data';
  node: SplitterNode;
  value: Buffer;
}
interface Mailsplit {
  Splitter: new () => NodeJS.ReadWriteStream & Readable;
  Joiner: new () => NodeJS.ReadWriteStream & Readable;
}

const require = createRequire(import.meta.url);
const patched = require('@zone-eu/mailsplit') as Mailsplit;
const unpatched = require('mailsplit-5.4.30') as Mailsplit;
const SEED = 0x5711_7e25;

/** A plain record of what the splitter emitted, taken the moment it was emitted (nodes change later). */
type Emitted =
  | {
      type: 'node';
      parent: number;
      headers: string | null;
      partNr: string;
      contentType: string | false;
      multipart: string | false;
      encoding: string | false;
      charset: string | false;
      disposition: string | false;
      filename: string | false;
      messageNode: boolean | undefined;
    }
  | { type: 'body' | 'data'; node: number; value: string };

interface SplitResult {
  emitted: Emitted[];
  error: string | null;
}

function chunkBuffer(input: Buffer, sizes: readonly number[]): Buffer[] {
  const chunks: Buffer[] = [];
  let offset = 0;
  for (let n = 0; offset < input.length; n += 1) {
    const size = sizes.length ? sizes[n % sizes.length]! : input.length;
    chunks.push(input.subarray(offset, offset + size));
    offset += size;
  }
  return chunks;
}

async function split(lib: Mailsplit, chunks: readonly Buffer[]): Promise<SplitResult> {
  const nodes: SplitterNode[] = [];
  const emitted: Emitted[] = [];
  const sink = new Writable({
    objectMode: true,
    write(obj: SplitterNode | SplitterChunk, _encoding, done) {
      if (obj.type === 'node') {
        nodes.push(obj);
        emitted.push({
          type: 'node',
          parent: obj.parentNode ? nodes.indexOf(obj.parentNode) : -1,
          // never parseHeaders() here: that would change the splitter's state
          headers: obj.headers ? obj.headers.build().toString('latin1') : null,
          partNr: obj.partNr ? obj.partNr.join('.') : '',
          contentType: obj.contentType,
          multipart: obj.multipart,
          encoding: obj.encoding,
          charset: obj.charset,
          disposition: obj.disposition,
          filename: obj.filename,
          messageNode: obj.messageNode,
        });
      } else {
        emitted.push({ type: obj.type, node: nodes.indexOf(obj.node), value: obj.value.toString('latin1') });
      }
      done();
    },
  });
  try {
    await pipeline(Readable.from(chunks), new lib.Splitter(), sink);
    return { emitted, error: null };
  } catch (err) {
    const { code, message } = err as { code?: string; message: string };
    return { emitted, error: `${code ?? ''} ${message}` };
  }
}

async function roundTrip(lib: Mailsplit, chunks: readonly Buffer[]): Promise<Buffer> {
  const out: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      out.push(chunk);
      done();
    },
  });
  await pipeline(Readable.from(chunks), new lib.Splitter(), new lib.Joiner(), sink);
  return Buffer.concat(out);
}

const BOUNDARIES = ['b', 'b1', 'outer', '=_Part_0_1.2', 'x y'] as const;
const eol = fc.constantFrom('\r\n', '\r\n', '\r\n', '\n', '\r', '\r\r\n', '');
const wsp = fc.constantFrom('', '', ' ', '\t', '  \t');

/** A delimiter line that matches one of the boundaries, or almost does. */
const boundaryLine = fc
  .tuple(
    fc.constantFrom(...BOUNDARIES),
    fc.constantFrom('--', '--', '-', '', '\r--', ' --'),
    fc.constantFrom('', '', '--', '-', 'x', '--x', '2'),
    wsp,
  )
  .map(([boundary, prefix, suffix, space]) => `${prefix}${boundary}${suffix}${space}`);

const CONTENT_TYPES = ['multipart/mixed', 'multipart/alternative', 'message/rfc822', 'text/plain', 'application/x'];
const headerLineOf = (contentTypes: readonly string[]) =>
  fc.oneof(
    fc
      .tuple(
        fc.constantFrom(...contentTypes),
        fc.constantFrom(...BOUNDARIES),
        fc.constantFrom('"', ''),
        fc.constantFrom('', '; charset=utf-8', '; format=flowed', '; name="a.txt"'),
      )
      .map(([type, boundary, quote, extra]) => `Content-Type: ${type}; boundary=${quote}${boundary}${quote}${extra}`),
    fc.constantFrom(
      'Content-Transfer-Encoding: base64',
      'Content-Transfer-Encoding: quoted-printable',
      'Content-Disposition: attachment; filename="r.pdf"',
      'Content-Disposition: inline',
      'Subject: =?utf-8?B?w6k=?=',
      'From: a@example.com',
      ' folded continuation',
      '\tfolded continuation',
      'X-Empty:',
      'no colon here',
    ),
    fc.string({ maxLength: 40 }).map((s) => `X-Random: ${s}`),
  );
const headerLine = headerLineOf(CONTENT_TYPES);

const bodyLine = fc.oneof(
  { weight: 5, arbitrary: fc.string({ maxLength: 80, size: 'max' }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 80, size: 'max' }) },
  { weight: 1, arbitrary: fc.base64String({ maxLength: 76, size: 'max' }) },
  { weight: 2, arbitrary: boundaryLine },
  { weight: 1, arbitrary: fc.constantFrom('', '.', '--', '---', '=') },
);

interface Part {
  headers: readonly string[];
  children: readonly Part[];
  body: readonly string[];
  boundary: string;
}

/** A tree of parts, serialised with its own boundary or a wrong one, closed or not. */
const part: fc.Arbitrary<Part> = fc.letrec<{ part: Part }>((tie) => ({
  part: fc.record({
    headers: fc.array(headerLine, { maxLength: 5 }),
    children: fc.oneof(
      { depthSize: 'small', maxDepth: 4 },
      fc.constant<Part[]>([]),
      fc.array(tie('part'), { maxLength: 3 }),
    ),
    body: fc.array(bodyLine, { maxLength: 8 }),
    boundary: fc.constantFrom(...BOUNDARIES),
  }),
})).part;

function serialise(p: Part, ends: readonly string[]): string {
  let n = 0;
  const end = () => ends[n++ % ends.length] ?? '\r\n';
  let text = '';
  const write = (node: Part) => {
    for (const header of node.headers) text += header + end();
    if (node.children.length) {
      text += `Content-Type: multipart/mixed; boundary="${node.boundary}"${end()}${end()}`;
      for (const line of node.body.slice(0, 2)) text += line + end();
      for (const child of node.children) {
        text += `--${node.boundary}${end()}`;
        write(child);
      }
      text += `--${node.boundary}--${end()}`;
      for (const line of node.body.slice(2)) text += line + end();
    } else {
      text += end();
      for (const line of node.body) text += line + end();
    }
  };
  write(p);
  return text;
}

/** Lines of all kinds in any order: boundaries in headers, headers in bodies, no blank line at all. */
const lineSoup = fc
  .array(fc.tuple(fc.oneof(headerLine, bodyLine, boundaryLine), eol), { maxLength: 60, size: 'max' })
  .map((lines) => lines.map(([line, end]) => line + end).join(''));

/** A line longer than the splitter keeps pending (64 KiB) or than one batch (16 KiB), in a multipart. */
const longLine = fc
  .tuple(
    fc.constantFrom(100, 1_100, 17_000, 70_000),
    fc.constantFrom('a', '-', '\r'),
    eol,
    fc.constantFrom(...BOUNDARIES),
  )
  .map(
    ([length, fill, end, boundary]) =>
      `Content-Type: multipart/mixed; boundary=${boundary}\r\n\r\n--${boundary}\r\n\r\n` +
      `${fill.repeat(length)}${end}--${boundary}${end}${'b'.repeat(length)}--${boundary}--`,
  );

const mimeText = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.tuple(part, fc.array(eol, { minLength: 1, maxLength: 5 })).map(([p, e]) => serialise(p, e)),
  },
  { weight: 3, arbitrary: lineSoup },
  { weight: 1, arbitrary: longLine },
  { weight: 1, arbitrary: fc.constantFrom('', '\r', '\n', '\r\n', '\r\n\r\n', '--b--', 'Subject: x') },
);

/** Parts with only CRLF or only LF line ends and plain body lines, as a mail client writes them. */
const wellFormed = fc
  .tuple(
    fc.letrec<{ part: Part }>((tie) => ({
      part: fc.record({
        // an inline message/rfc822 part reads its body as the header block of the message inside
        headers: fc.array(headerLineOf(CONTENT_TYPES.filter((type) => type !== 'message/rfc822')), { maxLength: 5 }),
        children: fc.oneof(
          { depthSize: 'small', maxDepth: 4 },
          fc.constant([]),
          fc.array(tie('part'), { maxLength: 3 }),
        ),
        body: fc.array(
          fc
            .oneof(fc.string({ maxLength: 80, size: 'max' }), fc.base64String({ maxLength: 76, size: 'max' }))
            .map((line) => line.replace(/[\r\n]/g, '')),
          { maxLength: 8 },
        ),
        boundary: fc.constantFrom(...BOUNDARIES),
      }),
    })).part,
    fc.constantFrom('\r\n', '\n'),
  )
  .map(([p, end]) => serialise(p, [end]));

/** How the input is written: whole, one byte at a time (short input only), after every CR, or in varied sizes. */
const chunking = fc.oneof(
  fc.constant('whole' as const),
  fc.constant('bytes' as const),
  fc.constant('after-cr' as const),
  fc.array(fc.integer({ min: 1, max: 5_000 }), { minLength: 1, maxLength: 8 }),
);

function chunksOf(input: Buffer, how: 'whole' | 'bytes' | 'after-cr' | number[]): Buffer[] {
  if (how === 'whole') return chunkBuffer(input, []);
  if (how === 'bytes') return chunkBuffer(input, [input.length <= 4_096 ? 1 : 7]);
  if (how === 'after-cr') {
    const chunks: Buffer[] = [];
    let start = 0;
    for (let cr = input.indexOf(0x0d); cr >= 0; cr = input.indexOf(0x0d, cr + 1)) {
      chunks.push(input.subarray(start, cr + 1));
      start = cr + 1;
    }
    if (start < input.length) chunks.push(input.subarray(start));
    return chunks;
  }
  return chunkBuffer(input, how);
}

describe('patched mailsplit (patches/@zone-eu+mailsplit+5.4.30.patch)', () => {
  it('is applied: node_modules/@zone-eu/mailsplit finds line ends with indexOf, the alias does not', () => {
    const source = (name: string) => readFileSync(require.resolve(`${name}/lib/message-splitter.js`), 'utf8');
    expect(source('@zone-eu/mailsplit')).toContain('indexOf(0x0a, i)');
    expect(source('mailsplit-5.4.30')).not.toContain('indexOf(0x0a, i)');
    // mailparser loads the patched copy
    const fromMailparser = createRequire(require.resolve('mailparser')).resolve('@zone-eu/mailsplit');
    expect(fromMailparser).toBe(require.resolve('@zone-eu/mailsplit'));
  });

  it('emits what the unpatched release emits, and its Joiner output is the same (fast-check, seeded)', async () => {
    await fc.assert(
      fc.asyncProperty(mimeText, chunking, async (text, how) => {
        const input = Buffer.from(text, 'latin1');
        const chunks = chunksOf(input, how);
        const [mine, theirs] = await Promise.all([split(patched, chunks), split(unpatched, chunks)]);
        expect(mine).toEqual(theirs);
        // not always the input: see 'gives back well-formed input' below
        expect((await roundTrip(patched, chunks)).equals(await roundTrip(unpatched, chunks))).toBe(true);
      }),
      { seed: SEED, numRuns: 300 },
    );
  });

  it('gives back well-formed input byte for byte through Splitter → Joiner (fast-check, seeded)', async () => {
    // Every header block ends in an empty line. mailsplit 5.4.30 itself does not give back a part whose header
    // block an ancestor's delimiter cuts short ("--b\r\nX-A: 1\r\n--b--"): the header line comes out twice,
    // as the node's headers and again in the data chunk of the delimiter, patched or not.
    await fc.assert(
      fc.asyncProperty(wellFormed, chunking, async (text, how) => {
        const input = Buffer.from(text, 'latin1');
        const chunks = chunksOf(input, how);
        expect((await roundTrip(patched, chunks)).toString('latin1')).toBe(text);
      }),
      { seed: SEED, numRuns: 300 },
    );
  });

  it('splits a hand-made nested message the same way, written one byte at a time', async () => {
    const message = Buffer.from(
      [
        'Content-Type: multipart/mixed; boundary=outer',
        '',
        'preamble',
        '--outer',
        'Content-Type: multipart/alternative; boundary="inner"',
        '',
        '--inner',
        'Content-Type: text/plain',
        '',
        'line one\rstill one\nline two',
        '--inner--',
        '--outer',
        'Content-Type: application/octet-stream',
        'Content-Transfer-Encoding: base64',
        '',
        'AAEC',
        '--outerx',
        '--outer--  ',
        'epilogue',
      ].join('\r\n'),
      'latin1',
    );
    const chunks = chunkBuffer(message, [1]);
    const mine = await split(patched, chunks);
    expect(mine).toEqual(await split(unpatched, chunks));
    expect(mine.error).toBeNull();
    expect(mine.emitted.filter((e) => e.type === 'node')).toHaveLength(4);
    expect((await roundTrip(patched, chunks)).equals(message)).toBe(true);
  });
});
