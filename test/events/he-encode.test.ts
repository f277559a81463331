/**
 * packages/he-encode stands in for he under mailparser (an npm override), so
 * the deliver bundle carries none of he's entity tables. mailparser 3.14.2
 * calls only `he.encode`: with default options on every message (address
 * HTML, the header table of attached messages) and with
 * `useNamedReferences` in `textToHtml`, which the bridge skips. These tests
 * hold the stand-in to the real he 1.2.0 (installed as `he-1.2.0`).
 */
import { createRequire } from 'node:module';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

type He = typeof import('../../packages/he-encode/index.js');

const require = createRequire(import.meta.url);
const standIn = require('../../packages/he-encode/index.js') as He;
/** he 1.2.0 ships no types: the two functions used here. */
const realHe = require('he-1.2.0') as {
  encode(text: string, options?: { useNamedReferences?: boolean }): string;
  decode(html: string): string;
};
const SEED = 0x4e20_1200;

/** Every BMP code unit (lone surrogates included), one per string, and runs of all of them. */
const EVERY_CODE_UNIT = Array.from({ length: 0x10000 }, (_, code) => String.fromCharCode(code));

/** Text with what mail headers carry: ASCII, the unsafe characters, Latin-1, CJK, emoji, controls, lone surrogates. */
const mailText = fc
  .array(
    fc.oneof(
      fc.string({ unit: 'grapheme' }),
      fc.string({ unit: 'binary' }),
      fc.constantFrom('"', '&', "'", '<', '>', '`', '<\u20D2', '>\u20D2', '\u0000', '\uD800', '\uDC00', 'fj', 'é'),
    ),
    { maxLength: 12 },
  )
  .map((parts) => parts.join(''));

describe('he-encode: he.encode with default options (every message)', () => {
  it('is the stand-in mailparser resolves', () => {
    const fromMailparser = createRequire(require.resolve('mailparser'))('he') as He;
    expect(fromMailparser).toBe(standIn);
    expect(fromMailparser.encode).not.toBe(realHe.encode);
  });

  it('encodes every BMP code unit as he does', () => {
    const differences = EVERY_CODE_UNIT.filter((unit) => standIn.encode(unit) !== realHe.encode(unit));
    expect(differences).toEqual([]);
    const all = EVERY_CODE_UNIT.join('');
    expect(standIn.encode(all)).toBe(realHe.encode(all));
  });

  it('encodes every astral plane as he does (first, middle and last code point of each)', () => {
    for (let plane = 1; plane <= 16; plane += 1) {
      for (const low of [0x0000, 0x8000, 0xffff]) {
        const text = `a${String.fromCodePoint(plane * 0x10000 + low)}b`;
        expect(standIn.encode(text)).toBe(realHe.encode(text));
      }
    }
  });

  it('encodes mail-like text as he does (fast-check, seeded)', () => {
    fc.assert(
      fc.property(mailText, (text) => standIn.encode(text) === realHe.encode(text)),
      { seed: SEED, numRuns: 2_000 },
    );
  });

  it('gives what he gives for the calls mailparser makes', () => {
    // address-header.js: name, mailto: link; mail-parser.js: the header table of an attached message.
    for (const text of ['Jörg <Müller> & "Söhne"', "o'brien@example.com", 'Re: 100% `sure` <b>', '日本語 😀']) {
      expect(standIn.encode(text)).toBe(realHe.encode(text));
    }
  });
});

describe('he-encode: he.encode with useNamedReferences (textToHtml, skipped by the bridge)', () => {
  const named = { useNamedReferences: true } as const;

  it('names the unsafe characters as he does, and the two combining sequences he shortens', () => {
    const text = '"&\'<>` <\u20D2 >\u20D2';
    expect(standIn.encode(text, named)).toBe(realHe.encode(text, named));
  });

  it('equals he wherever he writes no name, and decodes to the same text everywhere', () => {
    const noName: string[] = [];
    for (const unit of EVERY_CODE_UNIT) {
      const ours = standIn.encode(unit, named);
      const theirs = realHe.encode(unit, named);
      if (ours === theirs) continue;
      noName.push(unit);
      // he wrote a name (&eacute;) where the stand-in writes the number (&#xE9;): the same character.
      expect(theirs).toMatch(/^&[A-Za-z][A-Za-z0-9]*;$/);
      expect(realHe.decode(ours)).toBe(realHe.decode(theirs));
    }
    // Only characters outside ASCII get a different spelling.
    expect(noName.filter((unit) => unit.charCodeAt(0) < 0x80)).toEqual([]);
  });

  it('decodes to the same text as he for mail-like text (fast-check, seeded)', () => {
    fc.assert(
      fc.property(
        mailText,
        (text) => realHe.decode(standIn.encode(text, named)) === realHe.decode(realHe.encode(text, named)),
      ),
      { seed: SEED, numRuns: 2_000 },
    );
  });
});

describe('he-encode: what it does not include fails loudly', () => {
  it.each(['decode', 'escape', 'unescape'] as const)('he.%s throws an error naming the package', (name) => {
    expect(() => standIn[name]('&amp;')).toThrow(/he-encode \(packages\/he-encode\)/);
  });

  it.each(['allowUnsafeSymbols', 'encodeEverything', 'strict', 'decimal'])('encode option %s throws', (option) => {
    expect(() => standIn.encode('x', { [option]: true } as never)).toThrow(new RegExp(option));
  });
});
