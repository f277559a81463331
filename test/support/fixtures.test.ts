import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { bigMessage, ENCODED_WORDS, fixture, fixtures } from './fixtures.js';
import { FIXTURES_DIR, WRITTEN_FIXTURE_LIMIT } from './write-fixtures.js';

/** Checks that each fixture really has the property it exists for, and that the committed .eml copies are current. */

const text = (name: string): string => fixture(name).bytes.toString('latin1');

/** Just enough RFC 2047 decoding to check the encoded-word fixture (B and Q, one word at a time). */
function decodeWords(header: string): string {
  const unfolded = header.replace(/\r\n[ \t]+/g, ' ').replace(/\?=\s+=\?/g, '?==?');
  return unfolded.replace(/=\?([^?]+)\?([BQ])\?([^?]*)\?=/gi, (_, charset: string, enc: string, data: string) => {
    const bytes =
      enc.toUpperCase() === 'B'
        ? Buffer.from(data, 'base64')
        : Buffer.from(
            data
              .replace(/_/g, ' ')
              .replace(/=([0-9A-F]{2})/gi, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16))),
            'latin1',
          );
    return new TextDecoder(charset).decode(bytes);
  });
}

function header(message: string, name: string): string {
  const match = new RegExp(`^${name}: (.*(?:\\r\\n[ \\t].*)*)`, 'mi').exec(message);
  if (!match?.[1]) throw new Error(`no ${name} header`);
  return match[1];
}

describe('fixtures', () => {
  it('are deterministic and uniquely named', () => {
    const a = fixtures();
    const b = fixtures();
    expect(a.map((f) => f.name)).toEqual(b.map((f) => f.name));
    for (const [i, f] of a.entries()) expect(f.bytes.equals(b[i]!.bytes)).toBe(true);
    expect(new Set(a.map((f) => f.name)).size).toBe(a.length);
  });

  it('match the committed test/fixtures/*.eml copies (run write-fixtures.ts after a change)', async () => {
    for (const { name, bytes } of fixtures()) {
      if (bytes.length >= WRITTEN_FIXTURE_LIMIT) continue;
      const onDisk = await readFile(path.join(FIXTURES_DIR, `${name}.eml`));
      expect(onDisk.equals(bytes), name).toBe(true);
    }
  });

  it('use CRLF only, except the ones about line endings', () => {
    for (const { name, bytes } of fixtures()) {
      const s = bytes.toString('latin1');
      if (name === 'bare-lf') {
        expect(s).not.toContain('\r');
        continue;
      }
      expect(/[^\r]\n|\r[^\n]/.test(s), name).toBe(false);
      if (name === 'no-final-newline') expect(s.endsWith('\n')).toBe(false);
      else expect(s.endsWith('\r\n'), name).toBe(true);
    }
  });

  it('decode the encoded-word headers in every charset', () => {
    const m = text('encoded-words');
    expect(decodeWords(header(m, 'Subject'))).toBe(ENCODED_WORDS.subjectUtf8B);
    expect(decodeWords(header(m, 'From'))).toBe(`${ENCODED_WORDS.fromUtf8Q} <zoe@example.test>`);
    expect(decodeWords(header(m, 'To'))).toBe(`${ENCODED_WORDS.toLatin1} <francois@example.test>`);
    expect(decodeWords(header(m, 'Cc'))).toBe(`${ENCODED_WORDS.ccKoi8r} <ivan@example.test>`);
    expect(decodeWords(header(m, 'X-Greeting'))).toBe(ENCODED_WORDS.xGreetingIso2022jp);
    expect(decodeWords(header(m, 'Reply-To'))).toBe(`${ENCODED_WORDS.replyToWindows1251} <r@example.test>`);
    // The headers themselves are 7-bit, as RFC 5322 requires.
    expect(/^[\x00-\x7f]*$/.test(m)).toBe(true);
  });

  it('carry raw 8-bit Cyrillic bodies', () => {
    const utf8 = fixture('8bit-cyrillic-utf8').bytes;
    const koi8r = fixture('8bit-cyrillic-koi8r').bytes;
    for (const bytes of [utf8, koi8r]) expect(bytes.toString('latin1')).toContain('Content-Transfer-Encoding: 8bit');
    expect(utf8.toString('utf8')).toContain('Съешь же ещё этих мягких французских булок');
    expect(new TextDecoder('koi8-r').decode(koi8r)).toContain('Съешь же ещё этих мягких французских булок');
    expect(() => new TextDecoder('utf-8', { fatal: true }).decode(koi8r)).toThrow();
  });

  it('have lines of 20,000 characters', () => {
    const lengths = text('long-lines')
      .split('\r\n')
      .map((l) => l.length);
    expect(lengths.filter((n) => n === 20_000)).toHaveLength(3);
  });

  it("have body lines that are '.', '..' and begin with dots, the last one a lone '.'", () => {
    const whole = text('dot-lines');
    const body = whole.slice(whole.indexOf('\r\n\r\n') + 4);
    const lines = body.split('\r\n');
    expect(lines).toEqual(expect.arrayContaining(['.', '..', '...', '.hidden', '..double']));
    expect(body.endsWith('\r\n.\r\n')).toBe(true);
    // plain-text is the smoke-test fixture because no line of it needs dot-stuffing.
    expect(/^\./m.test(text('plain-text'))).toBe(false);
  });

  it('have an empty body and a nested message/rfc822', () => {
    expect(text('empty-body').endsWith('\r\n\r\n')).toBe(true);
    expect(text('empty-body').split('\r\n\r\n')[1]).toBe('');
    expect(text('nested-rfc822')).toContain('Content-Type: message/rfc822\r\n');
  });

  it('keep base64 lines within 76 characters', () => {
    for (const name of ['attachment-pdf', 'attachment-3mb', 'nested-rfc822']) {
      const longest = Math.max(
        ...text(name)
          .split('\r\n')
          .map((l) => l.length),
      );
      expect(longest, name).toBeLessThanOrEqual(76);
    }
  });

  it('builds big messages of about the requested size, the same for the same seed', () => {
    for (const size of [1_000, 65_536, 1_000_000, 3 * 1024 * 1024]) {
      const m = bigMessage(size);
      expect(m.length).toBeLessThanOrEqual(size);
      expect(m.length).toBeGreaterThan(size - 80);
    }
    expect(bigMessage(10_000, 5).equals(bigMessage(10_000, 5))).toBe(true);
    expect(bigMessage(10_000, 5).equals(bigMessage(10_000, 6))).toBe(false);
    const big = fixture('attachment-3mb').bytes.length;
    expect(big).toBeGreaterThan(3 * 1024 * 1024 - 80);
  });
});
