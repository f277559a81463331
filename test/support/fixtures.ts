/**
 * Deterministic fixture messages, generated in code: the same bytes on every run and machine.
 * CRLF line endings (RFC 5322 §2.1) everywhere except the fixtures that are about other endings.
 * `npx tsx test/support/write-fixtures.ts` writes the small ones to test/fixtures/<name>.eml for humans to read.
 */
import { prng } from './prng.js';

export interface Fixture {
  /** kebab-case, also the .eml file name. */
  name: string;
  /** What the fixture is for. */
  about: string;
  bytes: Buffer;
}

const CRLF = '\r\n';

/** Joins lines with CRLF and ends with CRLF. */
function crlf(lines: readonly string[]): string {
  return lines.map((l) => `${l}${CRLF}`).join('');
}

function randomBuffer(size: number, seed: number): Buffer {
  const next = prng(seed);
  const out = Buffer.allocUnsafe(size);
  let i = 0;
  for (; i + 4 <= size; i += 4) out.writeUInt32LE(next(), i);
  for (; i < size; i += 1) out[i] = next() & 0xff;
  return out;
}

/** Base64 in lines of 76 characters, the limit of RFC 2045 §6.8. */
function base64Lines(data: Buffer): string[] {
  const b64 = data.toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += 76) lines.push(b64.slice(i, i + 76));
  return lines;
}

/** An RFC 2047 B encoded-word from raw charset bytes. */
function bWord(charset: string, bytes: Buffer): string {
  return `=?${charset}?B?${bytes.toString('base64')}?=`;
}

/** An RFC 2047 Q encoded-word: '_' for space, =XX for anything outside a safe ASCII set (§4.2, §5(3)). */
function qWord(charset: string, bytes: Buffer): string {
  let text = '';
  for (const byte of bytes) {
    if (byte === 0x20) text += '_';
    else if (/[A-Za-z0-9!*+\-/]/.test(String.fromCharCode(byte))) text += String.fromCharCode(byte);
    else text += `=${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return `=?${charset}?Q?${text}?=`;
}

/**
 * Encodes text into a single-byte charset by inverting Node's (ICU) decoder, so no code-page table is
 * hand-copied here. Throws on a character the charset lacks.
 */
function encodeSingleByte(text: string, charset: 'koi8-r' | 'windows-1251'): Buffer {
  const decoder = new TextDecoder(charset);
  const table = new Map<string, number>();
  for (let b = 0; b < 256; b += 1) table.set(decoder.decode(Uint8Array.of(b)), b);
  return Buffer.from(
    [...text].map((ch) => {
      const b = table.get(ch);
      if (b === undefined) throw new Error(`${JSON.stringify(ch)} is not in ${charset}`);
      return b;
    }),
  );
}

/**
 * "こんにちは 世界" in ISO-2022-JP (RFC 1468): ESC $ B switches to JIS X 0208, ESC ( B back to ASCII.
 * Written as bytes because Node has no ISO-2022-JP encoder; the fixture test decodes it back.
 */
const ISO_2022_JP_HELLO_WORLD = Buffer.from([
  0x1b, 0x24, 0x42, 0x24, 0x33, 0x24, 0x73, 0x24, 0x4b, 0x24, 0x41, 0x24, 0x4f, 0x1b, 0x28, 0x42, 0x20, 0x1b, 0x24,
  0x42, 0x40, 0x24, 0x33, 0x26, 0x1b, 0x28, 0x42,
]);

/** Decoded values of the encoded-word headers, for tests that check a parser. */
export const ENCODED_WORDS = {
  subjectUtf8B: 'Grüße aus Köln — 你好 👋',
  fromUtf8Q: 'Zoë Ångström',
  toLatin1: 'François Müller',
  ccKoi8r: 'Привет, мир',
  xGreetingIso2022jp: 'こんにちは 世界',
  replyToWindows1251: 'Ещё раз',
} as const;

function headers(name: string, extra: readonly string[]): string[] {
  return [
    'Return-Path: <sender@example.test>',
    'From: Fixture Sender <sender@example.test>',
    'To: Bridge Inbox <inbox@example.test>',
    `Subject: Fixture ${name}`,
    'Date: Tue, 14 Nov 2023 22:13:20 +0000',
    `Message-ID: <${name}@fixtures.pop3-bridge.test>`,
    'MIME-Version: 1.0',
    ...extra,
  ];
}

function plainText(): string {
  return crlf([
    ...headers('plain-text', ['Content-Type: text/plain; charset=us-ascii', 'Content-Transfer-Encoding: 7bit']),
    '',
    'Hello,',
    '',
    'This is a plain text message with nothing unusual in it.',
    'No line starts with a dot, so its bytes on the wire equal its bytes on disk.',
    '',
    'Regards,',
    'The fixtures',
  ]);
}

function htmlAlternative(): string {
  const b = 'alt-boundary-1b2c3d';
  return crlf([
    ...headers('html-alternative', [`Content-Type: multipart/alternative; boundary="${b}"`]),
    '',
    'This is a multi-part message in MIME format.',
    `--${b}`,
    'Content-Type: text/plain; charset=utf-8',
    'Content-Transfer-Encoding: quoted-printable',
    '',
    'Hello in plain text, with a caf=C3=A9 and a soft line break that joins th=',
    'is word.',
    `--${b}`,
    'Content-Type: text/html; charset=utf-8',
    'Content-Transfer-Encoding: quoted-printable',
    '',
    '<!doctype html><html><body><p>Hello in <b>HTML</b>, with a caf=C3=A9.</p>',
    '<p><a href=3D"https://example.test/">a link</a></p></body></html>',
    `--${b}--`,
  ]);
}

/** A small file that starts like a PDF but is mostly seeded binary, including NUL and 0xFF bytes. */
function pdfLike(): Buffer {
  const head = Buffer.from('%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n', 'latin1');
  return Buffer.concat([head, randomBuffer(4_000, 42), Buffer.from('\n%%EOF\n', 'latin1')]);
}

function attachmentPdf(): string {
  const b = 'mixed-boundary-pdf-7e8f';
  return crlf([
    ...headers('attachment-pdf', [`Content-Type: multipart/mixed; boundary="${b}"`]),
    '',
    `--${b}`,
    'Content-Type: text/plain; charset=us-ascii',
    '',
    'The invoice is attached.',
    `--${b}`,
    'Content-Type: application/pdf; name="invoice-2023-11.pdf"',
    'Content-Disposition: attachment; filename="invoice-2023-11.pdf"',
    'Content-Transfer-Encoding: base64',
    '',
    ...base64Lines(pdfLike()),
    `--${b}--`,
  ]);
}

function encodedWords(): Buffer {
  const w = ENCODED_WORDS;
  const latin1 = (s: string): Buffer => Buffer.from(s, 'latin1');
  const utf8 = (s: string): Buffer => Buffer.from(s, 'utf8');
  const head = crlf([
    `From: ${qWord('UTF-8', utf8(w.fromUtf8Q))} <zoe@example.test>`,
    `To: ${qWord('ISO-8859-1', latin1(w.toLatin1))} <francois@example.test>`,
    `Cc: ${bWord('KOI8-R', encodeSingleByte(w.ccKoi8r, 'koi8-r'))} <ivan@example.test>`,
    `Reply-To: ${bWord('windows-1251', encodeSingleByte(w.replyToWindows1251, 'windows-1251'))} <r@example.test>`,
    // Folded across two lines with two adjacent encoded-words: the whitespace between them is dropped (RFC 2047 §6.2).
    `Subject: ${bWord('UTF-8', utf8('Grüße aus Köln — '))}`,
    ` ${bWord('UTF-8', utf8('你好 👋'))}`,
    `X-Greeting: ${bWord('ISO-2022-JP', ISO_2022_JP_HELLO_WORLD)}`,
    'Date: Tue, 14 Nov 2023 22:13:20 +0000',
    'Message-ID: <encoded-words@fixtures.pop3-bridge.test>',
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=us-ascii',
    '',
    'The headers of this message use encoded-words in six charsets.',
  ]);
  return Buffer.from(head, 'latin1');
}

const CYRILLIC_TEXT = [
  'Съешь же ещё этих мягких французских булок, да выпей чаю.',
  'Широкая электрификация южных губерний даст мощный толчок подъёму сельского хозяйства.',
];

/** Raw 8-bit UTF-8 in the body, declared with Content-Transfer-Encoding: 8bit (RFC 6152). */
function eightBitUtf8(): Buffer {
  return Buffer.from(
    crlf([
      ...headers('8bit-cyrillic-utf8', ['Content-Type: text/plain; charset=utf-8', 'Content-Transfer-Encoding: 8bit']),
      '',
      ...CYRILLIC_TEXT,
    ]),
    'utf8',
  );
}

/** Raw 8-bit KOI8-R: bytes that are not valid UTF-8 travel through the bridge untouched. */
function eightBitKoi8r(): Buffer {
  const head = crlf([
    ...headers('8bit-cyrillic-koi8r', ['Content-Type: text/plain; charset=koi8-r', 'Content-Transfer-Encoding: 8bit']),
    '',
  ]);
  return Buffer.concat([Buffer.from(head, 'latin1'), encodeSingleByte(crlf(CYRILLIC_TEXT), 'koi8-r')]);
}

/** Lines far over RFC 5322's 998-character limit and over the 8,192 bytes where some clients split lines. */
function longLines(): string {
  const line = (ch: string, n: number): string => ch.repeat(n);
  return crlf([
    ...headers('long-lines', ['Content-Type: text/plain; charset=us-ascii']),
    '',
    'Three lines of 20,000 characters follow.',
    line('a', 20_000),
    `.${line('b', 19_999)}`,
    line('0123456789', 2_000),
    'end',
  ]);
}

/**
 * Body lines that begin with '.', '..' and a line that is exactly '.': the server dot-stuffs them (RFC 1939 §3)
 * and the client must unstuff them. The message also ends with a '.' line, just before the terminator.
 */
function dotLines(): string {
  return crlf([
    ...headers('dot-lines', ['Content-Type: text/plain; charset=us-ascii']),
    '',
    'Lines below start with dots.',
    '.',
    '..',
    '...',
    '.hidden',
    '..double',
    '. space after a dot',
    'a line with a dot in the middle . and at the end.',
    '',
    '.',
  ]);
}

/** Bare LF everywhere; Dovecot converts line endings to CRLF on RETR. */
function bareLf(): string {
  return [
    ...headers('bare-lf', ['Content-Type: text/plain; charset=us-ascii']),
    '',
    'This message was stored with bare LF line endings.',
    '.a line that starts with a dot',
    'last line',
    '',
  ].join('\n');
}

/** No line ending after the last line: Dovecot sends an extra CRLF, so RETR is 2 bytes longer than LIST says. */
function noFinalNewline(): string {
  return `${crlf([...headers('no-final-newline', ['Content-Type: text/plain; charset=us-ascii']), '', 'first line'])}last line without a newline`;
}

function nestedRfc822(): string {
  const outer = 'outer-boundary-9a8b';
  const inner = 'inner-boundary-7c6d';
  return crlf([
    ...headers('nested-rfc822', [`Content-Type: multipart/mixed; boundary="${outer}"`]),
    '',
    `--${outer}`,
    'Content-Type: text/plain; charset=us-ascii',
    '',
    'A forwarded message is attached.',
    `--${outer}`,
    'Content-Type: message/rfc822',
    'Content-Disposition: attachment; filename="forwarded.eml"',
    '',
    'From: Original Sender <original@example.test>',
    'To: Fixture Sender <sender@example.test>',
    'Subject: The original',
    'Date: Mon, 13 Nov 2023 09:00:00 +0100',
    'Message-ID: <original@fixtures.pop3-bridge.test>',
    'MIME-Version: 1.0',
    `Content-Type: multipart/mixed; boundary="${inner}"`,
    '',
    `--${inner}`,
    'Content-Type: text/plain; charset=us-ascii',
    '',
    'The original body.',
    `--${inner}`,
    'Content-Type: text/csv; name="data.csv"',
    'Content-Disposition: attachment; filename="data.csv"',
    'Content-Transfer-Encoding: base64',
    '',
    ...base64Lines(Buffer.from('id,name\r\n1,alpha\r\n2,beta\r\n')),
    `--${inner}--`,
    '',
    `--${outer}--`,
  ]);
}

/** Headers, the blank line, and nothing after it. */
function emptyBody(): string {
  return crlf([...headers('empty-body', ['Content-Type: text/plain; charset=us-ascii']), '']);
}

/**
 * A multipart/mixed message of about `sizeBytes` (within a few hundred bytes) whose bulk is one base64
 * attachment of seeded random bytes. Same size and seed, same bytes.
 */
export function bigMessage(sizeBytes: number, seed = 1): Buffer {
  const b = `big-boundary-${seed}`;
  const head = crlf([
    ...headers(`big-${sizeBytes}-${seed}`, [`Content-Type: multipart/mixed; boundary="${b}"`]),
    '',
    `--${b}`,
    'Content-Type: text/plain; charset=us-ascii',
    '',
    `This message carries an attachment of seeded random bytes (seed ${seed}).`,
    `--${b}`,
    'Content-Type: application/octet-stream; name="random.bin"',
    'Content-Disposition: attachment; filename="random.bin"',
    'Content-Transfer-Encoding: base64',
    '',
  ]);
  const tail = crlf([`--${b}--`]);
  // Each 57 raw bytes become one 76-character line plus CRLF: 78 bytes on the wire.
  const room = Math.max(0, sizeBytes - head.length - tail.length);
  const raw = Math.floor(room / 78) * 57 + Math.max(0, Math.floor(((room % 78) - 2) / 4) * 3);
  return Buffer.concat([
    Buffer.from(head, 'latin1'),
    Buffer.from(crlf(base64Lines(randomBuffer(raw, seed))), 'latin1'),
    Buffer.from(tail, 'latin1'),
  ]);
}

const THREE_MB = 3 * 1024 * 1024;

/** Text built from ASCII only: anything else would be silently mangled by the latin1 conversion. */
function ascii(s: string): Buffer {
  if (!/^[\x00-\x7f]*$/.test(s)) throw new Error('fixture text is not ASCII');
  return Buffer.from(s, 'latin1');
}

/** name, what it is for, how to build it — built on demand, so asking for one fixture does not build the 3 MB one. */
const CATALOG: ReadonlyArray<readonly [name: string, about: string, build: () => Buffer]> = [
  ['plain-text', 'plain ASCII text/plain, CRLF, no line needs dot-stuffing', () => ascii(plainText())],
  ['html-alternative', 'multipart/alternative: text and HTML, quoted-printable', () => ascii(htmlAlternative())],
  ['attachment-pdf', 'multipart/mixed with a small PDF-like binary attachment', () => ascii(attachmentPdf())],
  ['attachment-3mb', 'multipart/mixed with a ~3 MB base64 attachment', () => bigMessage(THREE_MB, 3)],
  ['encoded-words', 'RFC 2047 headers: UTF-8 B and Q, ISO-8859-1, KOI8-R, ISO-2022-JP, windows-1251', encodedWords],
  ['8bit-cyrillic-utf8', 'Content-Transfer-Encoding: 8bit, UTF-8 Cyrillic body', eightBitUtf8],
  ['8bit-cyrillic-koi8r', 'Content-Transfer-Encoding: 8bit, KOI8-R Cyrillic body', eightBitKoi8r],
  ['long-lines', 'three body lines of 20,000 characters', () => ascii(longLines())],
  ['dot-lines', "body lines '.', '..', '...', '.x', '..x'; ends with a '.' line", () => ascii(dotLines())],
  ['bare-lf', 'bare LF line endings throughout', () => ascii(bareLf())],
  ['no-final-newline', 'last line has no line ending', () => ascii(noFinalNewline())],
  ['nested-rfc822', 'message/rfc822 part holding a multipart message', () => ascii(nestedRfc822())],
  ['empty-body', 'headers and the blank line, no body', () => ascii(emptyBody())],
];

/** Every fixture, plain-text first (the smoke-test one). Fresh buffers on every call. */
export function fixtures(): Fixture[] {
  return CATALOG.map(([name, about, build]) => ({ name, about, bytes: build() }));
}

/** One fixture by name; throws on a typo rather than returning undefined. */
export function fixture(name: string): Fixture {
  const entry = CATALOG.find(([n]) => n === name);
  if (!entry) throw new Error(`no fixture named ${JSON.stringify(name)}`);
  const [, about, build] = entry;
  return { name, about, bytes: build() };
}
