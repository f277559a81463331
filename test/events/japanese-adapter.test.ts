/**
 * packages/encoding-japanese-textdecoder stands in for encoding-japanese
 * under libmime (an npm override), so the deliver bundle carries no JIS
 * tables. These tests hold it to the real encoding-japanese 2.5.0 (installed
 * as `encoding-japanese-2.5.0`): every JIS X 0208 and 0212 code and every
 * half-width katakana decodes the same in ISO-2022-JP and in EUC-JP, except
 * codes encoding-japanese could not map (it wrote "?", TextDecoder knows
 * them: NEC and IBM extensions, JIS X 0212 0x2237); seeded fast-check
 * ISO-2022-JP text switching between all sets decodes the same. A line break
 * inside a kanji run is kept (encoding-japanese turned it into "?").
 */
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import realJapanese from 'encoding-japanese-2.5.0';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

type Adapter = typeof import('../../packages/encoding-japanese-textdecoder/index.js');

const require = createRequire(import.meta.url);
const ADAPTER_PATH = require.resolve('../../packages/encoding-japanese-textdecoder/index.js');
const adapter = require(ADAPTER_PATH) as Adapter;

const SEED = 0x7a9a_2022;
const ESC = 0x1b;
const ENTER = {
  ascii: [ESC, 0x28, 0x42],
  roman: [ESC, 0x28, 0x4a],
  kana: [ESC, 0x28, 0x49],
  jis0208: [ESC, 0x24, 0x42],
  jis0208old: [ESC, 0x24, 0x40],
  jis0212: [ESC, 0x24, 0x28, 0x44],
} as const;
type SetName = keyof typeof ENTER;

const decodedBefore = (bytes: Uint8Array, from: string) =>
  realJapanese.convert(bytes, { to: 'UNICODE', from, type: 'string' }) as string;
const decodedAfter = (bytes: Uint8Array, from: string) =>
  adapter.convert(bytes, { to: 'UNICODE', from, type: 'string' });

/** encoding-japanese writes "?" for a code it has no mapping for; TextDecoder maps some of those. */
const unmappedBefore = (text: string) => text === '?';

function jisCode(set: SetName, code: readonly number[]): Buffer {
  return Buffer.from([...ENTER[set], ...code, ...ENTER.ascii]);
}

/** Every graphic code of a set: pairs 0x21-0x7E for the kanji sets, 0x21-0x5F for kana. */
function codesOf(set: 'kana' | 'jis0208' | 'jis0212'): number[][] {
  if (set === 'kana') return Array.from({ length: 0x5f - 0x20 }, (_, i) => [0x21 + i]);
  const codes: number[][] = [];
  for (let first = 0x21; first <= 0x7e; first += 1) {
    for (let second = 0x21; second <= 0x7e; second += 1) codes.push([first, second]);
  }
  return codes;
}

/** Codes that decode to one character the same way before and after: the repertoire of the property test. */
const repertoire = new Map<string, number[][]>();
for (const set of ['kana', 'jis0208', 'jis0212'] as const) {
  repertoire.set(
    set,
    codesOf(set).filter((code) => {
      const text = decodedBefore(jisCode(set, code), 'ISO-2022-JP');
      return !unmappedBefore(text) && decodedAfter(jisCode(set, code), 'ISO-2022-JP') === text;
    }),
  );
}

describe('the adapter is what libmime loads', () => {
  it("libmime's require('encoding-japanese') resolves to the adapter (the npm override is in place)", () => {
    expect(createRequire(require.resolve('libmime')).resolve('encoding-japanese')).toBe(ADAPTER_PATH);
  });

  it('libmime calls encoding-japanese for convert() only', () => {
    const dist = path.dirname(path.dirname(require.resolve('libmime')));
    const used = new Set<string>();
    for (const flavour of ['esm', 'cjs']) {
      for (const file of readdirSync(path.join(dist, flavour)).filter((f) => f.endsWith('.js'))) {
        const source = readFileSync(path.join(dist, flavour, file), 'utf8');
        for (const match of source.matchAll(/\b(?:encodingJapanese|encoding_japanese_1\.default)\.(\w+)/g)) {
          used.add(match[1] ?? '');
        }
      }
    }
    expect([...used]).toEqual(['convert']);
  });
});

describe('every code decodes as encoding-japanese 2.5.0 decodes it', () => {
  it.each(['kana', 'jis0208', 'jis0212'] as const)('%s in ISO-2022-JP and in EUC-JP', (set) => {
    const differing: string[] = [];
    let mapped = 0;
    for (const code of codesOf(set)) {
      const jis = jisCode(set, code);
      const expected = decodedBefore(jis, 'ISO-2022-JP');
      const euc = Buffer.from([
        ...(set === 'kana' ? [0x8e] : set === 'jis0212' ? [0x8f] : []),
        ...code.map((b) => b | 0x80),
      ]);
      expect(decodedBefore(euc, 'EUCJP'), 'encoding-japanese reads both forms alike').toBe(expected);
      if (unmappedBefore(expected)) continue;
      mapped += 1;
      const actual = decodedAfter(jis, 'ISO-2022-JP');
      expect(decodedAfter(euc, 'EUC-JP')).toBe(actual);
      // JIS X 0212 0x2237 is the tilde: ASCII "~" in encoding-japanese, U+FF5E (fullwidth) in TextDecoder.
      if (actual !== expected && !(set === 'jis0212' && code[0] === 0x22 && code[1] === 0x37)) {
        differing.push(Buffer.from(code).toString('hex'));
      }
    }
    expect(mapped).toBeGreaterThan(set === 'kana' ? 60 : 5000);
    expect(differing).toEqual([]);
  });

  it('the old JIS X 0208 escape (ESC $ @) and JIS Roman decode the same', () => {
    const bytes = Buffer.from([
      ...ENTER.jis0208old,
      0x46,
      0x7c,
      0x4b,
      0x5c,
      ...ENTER.roman,
      0x41,
      0x5c,
      ...ENTER.ascii,
    ]);
    expect(decodedAfter(bytes, 'ISO-2022-JP')).toBe(decodedBefore(bytes, 'ISO-2022-JP'));
    expect(decodedAfter(bytes, 'ISO-2022-JP')).toBe('日本A\\');
  });

  it('a line break inside a kanji run stays a line break (encoding-japanese read CR LF as one unmapped code, "?")', () => {
    // RFC 1468 section 3 wants ESC ( B before each line end; mail that omits it lost the line break before.
    const bytes = Buffer.from([...ENTER.jis0208, 0x46, 0x7c, 0x0d, 0x0a, 0x4b, 0x5c, ...ENTER.ascii]);
    expect(decodedBefore(bytes, 'ISO-2022-JP')).toBe('日?本');
    expect(decodedAfter(bytes, 'ISO-2022-JP')).toBe('日\r\n本');
  });

  it('only conversions to a UNICODE string from ISO-2022-JP or EUC-JP; anything else throws (libmime then uses iconv-lite)', () => {
    expect(() => adapter.convert(Buffer.from('x'), { to: 'UNICODE', from: 'SJIS', type: 'string' })).toThrow();
    expect(() =>
      adapter.convert(Buffer.from('x'), { to: 'UTF8' as 'UNICODE', from: 'ISO-2022-JP', type: 'string' }),
    ).toThrow();
  });
});

describe('ISO-2022-JP text switching between sets (fast-check, seeded)', () => {
  const segment = fc.oneof(
    fc.record({
      set: fc.constant('ascii' as const),
      codes: fc.array(
        fc.integer({ min: 0x20, max: 0x7e }).map((b) => [b]),
        { maxLength: 8 },
      ),
    }),
    ...(['kana', 'jis0208', 'jis0212'] as const).map((set) =>
      fc.record({
        set: fc.constant(set),
        codes: fc.array(fc.constantFrom(...(repertoire.get(set) ?? [])), { maxLength: 12 }),
      }),
    ),
  );

  it('decodes as encoding-japanese decodes it', () => {
    fc.assert(
      fc.property(fc.array(segment, { maxLength: 10 }), (segments) => {
        const bytes = Buffer.from([
          ...segments.flatMap(({ set, codes }) => [...ENTER[set], ...codes.flat()]),
          ...ENTER.ascii,
        ]);
        expect(decodedAfter(bytes, 'ISO-2022-JP')).toBe(decodedBefore(bytes, 'ISO-2022-JP'));
      }),
      { seed: SEED, numRuns: 300 },
    );
  });
});
