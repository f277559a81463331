/**
 * patches/@zone-eu+mailsplit+5.4.30.patch makes MessageSplitter find line ends with Buffer#indexOf instead of
 * a byte loop, and take a run of body lines that cannot be delimiters (none starts with "--" or CR "--") in one
 * step instead of one processLine() each. These tests hold the patched splitter to the unpatched release (installed as `mailsplit-5.4.30`,
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
import { chunkBuffer } from './support.js';

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
interface SplitterConfig {
  maxChildNodes?: number;
  maxHeadSize?: number;
}
interface Mailsplit {
  Splitter: new (config?: SplitterConfig) => NodeJS.ReadWriteStream & Readable;
  Joiner: new () => NodeJS.ReadWriteStream & Readable;
}

const require = createRequire(import.meta.url);
const patched = require('@zone-eu/mailsplit') as Mailsplit;
const unpatched = require('mailsplit-5.4.30') as Mailsplit;
const SEED = 0x5711_7e25;

/** A plain record of what the splitter emitted, taken the moment it was emitted (nodes change later). */
type Emitted =
  | ({ type: 'node'; parent: number; headers: string | null; partNr: string } & Pick<
      SplitterNode,
      'contentType' | 'multipart' | 'encoding' | 'charset' | 'disposition' | 'filename' | 'messageNode'
    >)
  | { type: 'body' | 'data'; node: number; value: string };

interface SplitResult {
  emitted: Emitted[];
  error: string | null;
}

async function split(lib: Mailsplit, chunks: readonly Buffer[], config?: SplitterConfig): Promise<SplitResult> {
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
    await pipeline(Readable.from(chunks), new lib.Splitter(config), sink);
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

/**
 * Long runs of body lines, for the patch's fast path over lines that cannot be delimiters: base64 and text
 * lines repeated hundreds of times (more than one 16 KiB batch), with lines that start like a delimiter and are
 * not one ('-', '--x', '\r--', a bare CR), real delimiters of this part, its parent and an unknown one right after
 * a long run, nested multiparts, an inline message/rfc822 and an overlong (64 KiB+) line.
 */
const runLine = fc.oneof(
  { weight: 4, arbitrary: fc.base64String({ minLength: 76, maxLength: 76 }) },
  { weight: 2, arbitrary: fc.string({ maxLength: 60, size: 'max' }).map((line) => line.replace(/[\r\n]/g, '')) },
  {
    weight: 5,
    arbitrary: fc.constantFrom(
      '',
      '-',
      '--',
      '---',
      '- x',
      '-- ',
      '--x',
      '\r',
      '\r-',
      '\r--',
      '\r--x',
      '\r\r--b',
      '\r\n--b',
      'x--b',
      '--b',
      '\r--b',
      '--b--',
      '--outer',
      '\r--outer--',
      '\r--outer',
      '--outer--',
      '--bx',
      '--unknown',
    ),
  },
  { weight: 1, arbitrary: fc.constantFrom(70_000, 17_000).map((n) => 'q'.repeat(n)) },
);
type Run = ReadonlyArray<readonly [string, number]>;
const bodyRun: fc.Arbitrary<Run> = fc.array(fc.tuple(runLine, fc.integer({ min: 1, max: 300 })), {
  maxLength: 4,
  size: 'max',
});
// a boundary parameter on a part that is not multipart still makes its "--outer--" close it (a 'data' chunk)
const LONG_KINDS = [
  'text/plain',
  'application/pdf',
  'text/plain; boundary=outer',
  'multipart/alternative',
  'message/rfc822',
] as const;
const longBodies = fc
  .record({
    ends: fc.array(eol, { minLength: 1, maxLength: 3 }),
    preamble: bodyRun,
    parts: fc.array(
      fc.record({
        kind: fc.constantFrom(...LONG_KINDS),
        body: bodyRun,
        inner: fc.array(bodyRun, { maxLength: 3 }),
        closed: fc.boolean(),
      }),
      { maxLength: 4 },
    ),
    epilogue: bodyRun,
    closed: fc.boolean(),
  })
  .map(({ ends, preamble, parts, epilogue, closed }) => {
    let n = 0;
    const end = () => ends[n++ % ends.length] ?? '\r\n';
    const out: string[] = [];
    const write = (run: Run) => {
      for (const [line, times] of run) for (let t = 0; t < times; t += 1) out.push(line + end());
    };
    out.push(`Content-Type: multipart/mixed; boundary=b${end()}${end()}`);
    write(preamble);
    for (const p of parts) {
      out.push(`--b${end()}`);
      if (p.kind === 'multipart/alternative') {
        out.push(`Content-Type: multipart/alternative; boundary=outer${end()}${end()}`);
        write(p.body);
        for (const inner of p.inner) {
          out.push(`--outer${end()}Content-Type: text/plain${end()}${end()}`);
          write(inner);
        }
        if (p.closed) out.push(`--outer--${end()}`);
      } else if (p.kind === 'message/rfc822') {
        out.push(`Content-Type: message/rfc822${end()}Content-Disposition: inline${end()}${end()}`);
        out.push(`Subject: inner${end()}${end()}`);
        write(p.body);
      } else {
        out.push(`Content-Type: ${p.kind}${end()}${end()}`);
        write(p.body);
      }
    }
    if (closed) out.push(`--b--${end()}`);
    write(epilogue);
    // bounded, so that writing it a byte at a time stays quick
    return out.join('').slice(0, 400_000);
  });

/** Chunkings that cut where the fast path stops: after every LF, inside every "\n--" / "\n\r--", tiny, 64 KiB. */
const longChunking = fc.oneof(
  fc.constant('whole' as const),
  fc.constant('lines' as const),
  fc.constant('dashes' as const),
  fc.constant<number[]>([65_536]),
  fc.array(fc.integer({ min: 1, max: 7 }), { minLength: 1, maxLength: 4 }),
  fc.array(fc.integer({ min: 1, max: 20_000 }), { minLength: 1, maxLength: 8 }),
);

function longChunksOf(input: Buffer, how: 'whole' | 'lines' | 'dashes' | readonly number[]): Buffer[] {
  if (how === 'whole') return chunkBuffer(input, []);
  if (typeof how !== 'string') {
    // a 400 KB input in 1-byte writes takes seconds: tiny writes are for the first 40 KB
    const tiny = how.every((size) => size < 8);
    return tiny && input.length > 40_000
      ? [...chunkBuffer(input.subarray(0, 40_000), how), input.subarray(40_000)]
      : chunkBuffer(input, how);
  }
  const cuts = new Set<number>();
  for (let lf = input.indexOf(0x0a); lf >= 0; lf = input.indexOf(0x0a, lf + 1)) {
    if (how === 'lines') cuts.add(lf + 1);
    else if (input[lf + 1] === 0x2d || input[lf + 1] === 0x0d)
      for (const at of [lf, lf + 1, lf + 2, lf + 3]) cuts.add(at);
  }
  const chunks: Buffer[] = [];
  let start = 0;
  for (const cut of [...cuts].sort((a, b) => a - b)) {
    if (cut > start && cut < input.length) {
      chunks.push(input.subarray(start, cut));
      start = cut;
    }
  }
  if (start < input.length) chunks.push(input.subarray(start));
  return chunks;
}

/** A message like the bench mailbox's: a text part and an 80 KiB base64 attachment in 76-character CRLF lines. */
function benchLikeMessage(seed: number): Buffer {
  const attachment = Buffer.alloc(80 * 1024);
  for (let n = 0; n < attachment.length; n += 1) attachment[n] = (n * 2_654_435_761 + seed) >>> 24;
  const base64 = attachment.toString('base64').replace(/.{76}/g, '$&\r\n');
  const text = Array.from({ length: 200 }, (_, n) => `line ${n} of the text part - with a hyphen -- and more`).join(
    '\r\n',
  );
  return Buffer.from(
    [
      'From: a@example.test',
      'Content-Type: multipart/mixed; boundary="bench-1"',
      '',
      '--bench-1',
      'Content-Type: text/plain; charset=utf-8',
      '',
      text,
      '-- ',
      'signature',
      '--bench-1',
      'Content-Type: application/octet-stream; name="a.bin"',
      'Content-Transfer-Encoding: base64',
      '',
      base64,
      '--bench-1--',
      '',
    ].join('\r\n'),
    'latin1',
  );
}

describe('patched mailsplit (patches/@zone-eu+mailsplit+5.4.30.patch)', () => {
  it('is applied: node_modules/@zone-eu/mailsplit finds line ends with indexOf, the alias does not', () => {
    const source = (name: string) => readFileSync(require.resolve(`${name}/lib/message-splitter.js`), 'utf8');
    expect(source('@zone-eu/mailsplit')).toContain('indexOf(0x0a, i)');
    expect(source('mailsplit-5.4.30')).not.toContain('indexOf(0x0a, i)');
    expect(source('@zone-eu/mailsplit')).toContain('skipBodyLines');
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

  it('emits what the unpatched release emits for long runs of body lines, in any chunking and child-node limit (fast-check, seeded)', async () => {
    await fc.assert(
      fc.asyncProperty(
        longBodies,
        longChunking,
        fc.constantFrom<SplitterConfig | undefined>(undefined, { maxChildNodes: 2 }, { maxChildNodes: 4 }),
        async (text, how, config) => {
          const chunks = longChunksOf(Buffer.from(text, 'latin1'), how);
          const [mine, theirs] = await Promise.all([split(patched, chunks, config), split(unpatched, chunks, config)]);
          expect(mine).toEqual(theirs);
        },
      ),
      { seed: SEED, numRuns: 150 },
    );
  });

  it('emits what the unpatched release emits for a delimiter-like line after a long run, cut anywhere near it', async () => {
    const run = `${'QUJD'.repeat(19)}\r\n`.repeat(300);
    const lines = ['--b', '\r--b', '--b--', '\r--b--  ', '-- ', '--bx', '\r--x', '--x--', '\r\r--b', '-', '\r', ''];
    // a boundary parameter on a part that is not multipart: its own "--x--" closes it, a 'data' chunk
    for (const [type, line] of ['text/plain', 'text/plain; boundary=x'].flatMap((t) =>
      lines.map((l) => [t, l] as const),
    )) {
      const message = Buffer.from(
        `Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: ${type}\r\n\r\n` +
          `first\r\n${run}${line}\r\n${run}--b--\r\nepilogue\r\n${run}`,
        'latin1',
      );
      const at = message.indexOf(`\n${line}\r\n`, 400);
      for (let cut = at - 3; cut <= at + line.length + 3; cut += 1) {
        const chunks = [message.subarray(0, cut), message.subarray(cut)];
        expect(await split(patched, chunks)).toEqual(await split(unpatched, chunks));
      }
      const whole = [message];
      expect(await split(patched, whole)).toEqual(await split(unpatched, whole));
    }
  });

  it('splits bench-like messages (text part, 80 KiB base64 attachment) the same way in 64 KiB and odd writes', async () => {
    for (const seed of [1, 2, 3]) {
      const message = benchLikeMessage(seed);
      for (const sizes of [[65_536], [16_383], [77, 4_096, 13]]) {
        const chunks = chunkBuffer(message, sizes);
        const mine = await split(patched, chunks);
        expect(mine).toEqual(await split(unpatched, chunks));
        expect(mine.error).toBeNull();
        expect(mine.emitted.filter((e) => e.type === 'node')).toHaveLength(3);
        expect((await roundTrip(patched, chunks)).equals(message)).toBe(true);
      }
    }
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
