/**
 * Generators shared by the property tests and the fuzz targets (test/fuzz/targets.ts), so the CI property
 * tests, the CI fuzz slice and `bench/fuzz.ts` all search the same input space.
 */

import { EventEmitter } from 'node:events';
import fc from 'fast-check';
import type { BorrowedReads } from '../../functions/pop3/borrowed-reads.js';
import { defaultLimits, type Pop3Limits } from '../../functions/pop3/limits.js';

export const LF = 0x0a;
export const CR = 0x0d;
export const DOT = 0x2e;

// ------------------------------------------------------------------ POP3 wire

/** A reference server-side stuffer (RFC 1939 §3), written independently of the scripted server's. */
export function referenceStuff(body: Uint8Array): Buffer {
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

/** What a decoder must hand out for `body` stuffed by `referenceStuff`: the body, with CR LF added if it lacked a line end. */
export function expectedUnstuffed(body: Uint8Array): Buffer {
  return body.length > 0 && body[body.length - 1] !== LF
    ? Buffer.concat([body, Buffer.from('\r\n')])
    : Buffer.from(body);
}

/** Bytes rich in CR, LF and dots. */
export const hostileBytes = fc
  .array(
    fc.oneof(
      { arbitrary: fc.constantFrom(CR, LF, DOT), weight: 4 },
      { arbitrary: fc.integer({ min: 0, max: 255 }), weight: 1 },
    ),
    { maxLength: 300 },
  )
  .map((a) => Uint8Array.from(a));

/** Line-shaped bodies: dot lines, empty lines, CR LF and bare LF mixed. */
export const lineBytes = fc
  .array(
    fc.tuple(
      fc.constantFrom('', '.', '..', '...', '.x', 'a.b', 'text', '.\r', ' .'),
      fc.constantFrom('\r\n', '\n', ''),
    ),
    { maxLength: 30 },
  )
  .map((lines) => Uint8Array.from(Buffer.from(lines.map(([l, e]) => l + e).join(''), 'latin1')));

/** Cut positions for `split`. */
export const cutPoints = (maxLength: number): fc.Arbitrary<number[]> => fc.array(fc.nat(), { maxLength });

/** Cuts `data` at the given positions (taken modulo its length), as TCP may deliver it. */
export function split(data: Buffer, cuts: ReadonlyArray<number>): Buffer[] {
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

/** Status and list lines near the POP3 grammar (RFC 1939, RFC 2449 response codes), plus anything at all. */
export const nearGrammar = fc.oneof(
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

/** Status lines that mostly follow RFC 1939 §3 / RFC 2449 §8 (indicator, optional [CODE], text), so the accepting paths are searched too. */
export const statusLines = fc.oneof(
  nearGrammar,
  fc
    .tuple(
      fc.constantFrom('+OK', '-ERR', '+', '+ok', '-err'),
      fc.constantFrom(' ', '', '  ', '\t'),
      fc.option(
        fc.constantFrom('[SYS/TEMP]', '[SYS/PERM]', '[IN-USE]', '[LOGIN-DELAY]', '[AUTH]', '[FOO/BAR]', '[', '[]'),
        {
          nil: '',
        },
      ),
      fc.oneof(
        fc.string({ maxLength: 40 }),
        fc.constantFrom('', ' ', '<1896.697170952@dbc.mtview.ca.us>', 'ready <a@b>'),
      ),
    )
    .map(([indicator, gap, code, text]) => `${indicator}${gap}${code}${code ? ' ' : ''}${text}`),
);

/** STAT, LIST and UIDL lines (RFC 1939 §5, §7): numbers and unique-ids, near and over the limits. */
export const scanListingLines = fc.oneof(
  nearGrammar,
  fc
    .tuple(
      fc.oneof(fc.nat().map(String), fc.constantFrom('0', '-1', '01', '9007199254740993', '1e3', '', ' 1')),
      fc.constantFrom(' ', '  ', '\t', ''),
      fc.oneof(
        fc.nat().map(String),
        fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 80 }),
        fc.constantFrom('x'.repeat(71), 'uid with space', '\u00e9t\u00e9', '99999999999999999999'),
      ),
      fc.constantFrom('', ' ', ' extra'),
    )
    .map(([a, gap, b, tail]) => `${a}${gap}${b}${tail}`),
);

/** Wire fragments for the reply reader: status lines, terminators, dots and binary noise. */
export const replyFragments = fc
  .array(
    fc.oneof(
      fc.constantFrom('+OK', '-ERR', '+ ', '+', '\r\n', '\n', '.', '..', ' ', '[SYS/TEMP]', '1 abc', 'x'),
      fc.string({ unit: 'binary', maxLength: 8 }),
    ),
    { maxLength: 40 },
  )
  .map((parts) => Buffer.from(parts.join(''), 'latin1'));

// ------------------------------------------------------------ MIME mutations

/** Tokens inserted into fixtures: MIME syntax that steers a parser into its edge cases. */
export const MIME_TOKENS = [
  '\r\n',
  '\r\n\r\n',
  '\r\n--',
  '--',
  '\r\n--alt-boundary-1b2c3d--\r\n',
  '\r\n--mixed-boundary-pdf-7e8f\r\nContent-Type: text/html; charset=utf-7\r\n\r\n',
  'Content-Type: multipart/mixed; boundary="x"\r\n',
  'Content-Transfer-Encoding: base64\r\n',
  '=?utf-8?q?=E2=80?=',
  '=?x-unknown?b?AAAA?=',
  '\x00',
  '\xff\xfe',
  ' ',
  '\r\n\t',
  '<',
  '>',
].map((t) => Buffer.from(t, 'latin1'));

export type Mutation =
  | { op: 'flip'; at: number; byte: number }
  | { op: 'cut'; at: number }
  | { op: 'delete'; at: number; length: number }
  | { op: 'insert'; at: number; token: number };

const position = fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true });
export const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant('flip' as const), at: position, byte: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ op: fc.constant('cut' as const), at: position }),
  fc.record({ op: fc.constant('delete' as const), at: position, length: fc.integer({ min: 1, max: 200 }) }),
  fc.record({
    op: fc.constant('insert' as const),
    at: position,
    token: fc.integer({ min: 0, max: MIME_TOKENS.length - 1 }),
  }),
);

/** Applies byte flips, cuts, deletions and token insertions, each at a relative position. */
export function mutate(bytes: Buffer, mutations: ReadonlyArray<Mutation>): Buffer {
  let out = Buffer.from(bytes);
  for (const m of mutations) {
    const at = Math.floor(m.at * out.length);
    switch (m.op) {
      case 'flip':
        if (out.length > 0) out[at] = m.byte;
        break;
      case 'cut':
        out = out.subarray(0, at);
        break;
      case 'delete':
        out = Buffer.concat([out.subarray(0, at), out.subarray(at + m.length)]);
        break;
      case 'insert':
        out = Buffer.concat([out.subarray(0, at), MIME_TOKENS[m.token]!, out.subarray(at)]);
        break;
    }
  }
  return out;
}

// ------------------------------------------------------------------- config

export const MAILBOX_KEYS = [
  'name',
  'host',
  'port',
  'tls',
  'allowInsecureAuth',
  'ca',
  'pinnedSha256',
  'username',
  'method',
  'password',
  'oauth2',
  'mode',
  'retentionDays',
  'pollIntervalSeconds',
  'sizeLimit',
  'caps',
  'webhooks',
  'deleteAfterDelivered',
  'enabled',
] as const;

/** Mostly-plausible mailbox values, so the search reaches the deep and cross-field rules, not just the root. */
const mailboxValue = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.constantFrom('implicit', 'none', 'xoauth2', 'delete', 'leave', 'https://h.example/x', `whsec_${'A'.repeat(40)}`),
  fc.record(
    { provider: fc.constantFrom('microsoft', 'google', 'static', 'x'), accessToken: fc.jsonValue() },
    { requiredKeys: ['provider'] },
  ),
  fc.array(fc.record({ url: fc.jsonValue(), secret: fc.jsonValue(), id: fc.string() }, { requiredKeys: [] }), {
    maxLength: 3,
  }),
);
export const mailboxConfig = fc.dictionary(fc.constantFrom(...MAILBOX_KEYS), mailboxValue);

/** Just enough of a socket for ReplyReader: the caller emits `data` and `end` itself. */
export class FakeSocket extends EventEmitter {
  pause(): this {
    return this;
  }
  resume(): this {
    return this;
  }
}

/**
 * Hands `chunk` to `reads` the way a socket opened with `onread` does: copied into its one read buffer, at
 * most a buffer's worth per read, and the buffer is overwritten with junk after every read, as the next read
 * would. A reader that kept bytes without copying them then sees junk.
 */
export function readThrough(reads: BorrowedReads, chunk: Buffer): void {
  const readBuffer = reads.onread.buffer;
  for (let offset = 0; offset < chunk.length; offset += readBuffer.length) {
    reads.onread.callback(chunk.copy(readBuffer, 0, offset));
    readBuffer.fill(0xee);
  }
}

/** Small limits, so generated replies reach them. */
export const READER_LIMITS: Pop3Limits = {
  ...defaultLimits,
  maxStatusLineBytes: 200,
  maxBodyLineBytes: 400,
  maxMessageBytes: 4_000,
  maxListEntries: 50,
  maxUidlLength: 100,
};
