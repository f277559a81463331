/**
 * dom-serializer 2.0.0 asks for entities ^4.2.0; htmlparser2 10 for ^7.0.1.
 * package.json overrides dom-serializer's copy with 7.0.1, so the deliver
 * bundle carries one entities (≈ 38 kB less). dom-serializer calls three
 * entities functions (html-to-text renders with it only in its blockHtml and
 * inlineHtml formatters, which no default selector uses). These tests pin what
 * changed for those three against entities 4.5.0 (installed as
 * `entities-4.5.0`): nothing, except two cases of encodeXML where 4.5.0 was
 * wrong or needlessly escaped.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

interface Escapers {
  encodeXML(text: string): string;
  escapeAttribute(text: string): string;
  escapeText(text: string): string;
}

const require = createRequire(import.meta.url);
const fromDomSerializer = createRequire(require.resolve('dom-serializer'));
const v7 = fromDomSerializer('entities') as Escapers;
const v4 = require('entities-4.5.0') as Escapers;
const SEED = 0x7e_0701;

/** Every BMP code unit between two ASCII letters (a lone surrogate must not swallow its neighbour). */
const EVERY_CODE_UNIT = Array.from({ length: 0x10000 }, (_, code) => `a${String.fromCharCode(code)}b`);

describe('entities: one version for htmlparser2 and dom-serializer', () => {
  it('dom-serializer resolves entities 7.0.1, the copy htmlparser2 uses', () => {
    const fromHtmlparser2 = createRequire(require.resolve('htmlparser2'));
    const resolved = fromDomSerializer.resolve('entities');
    expect(resolved).toBe(fromHtmlparser2.resolve('entities'));
    const packageJson = path.join(resolved.slice(0, resolved.lastIndexOf('/dist/')), 'package.json');
    expect((JSON.parse(readFileSync(packageJson, 'utf8')) as { version: string }).version).toBe('7.0.1');
  });

  it.each(['escapeAttribute', 'escapeText'] as const)('%s is unchanged for every BMP code unit', (name) => {
    expect(EVERY_CODE_UNIT.filter((text) => v7[name](text) !== v4[name](text))).toEqual([]);
  });

  it('encodeXML is unchanged except for "$" and lone high surrogates', () => {
    const changed = EVERY_CODE_UNIT.filter((text) => v7.encodeXML(text) !== v4.encodeXML(text)).map((text) =>
      text.charCodeAt(1),
    );
    const highSurrogates = Array.from({ length: 0x400 }, (_, i) => 0xd800 + i);
    expect(changed).toEqual([0x24, ...highSurrogates]);
    // 4.5.0 wrote "$" as a reference (legal, needless); 7.0.1 leaves it.
    expect([v4.encodeXML('$'), v7.encodeXML('$')]).toEqual(['&#x24;', '$']);
    // 4.5.0 dropped the character after a lone high surrogate; 7.0.1 keeps it.
    expect([v4.encodeXML('a\uD800b'), v7.encodeXML('a\uD800b')]).toEqual(['a&#xd800;', 'a&#xd800;b']);
  });

  it('all three agree on text without "$" or lone surrogates (fast-check, seeded)', () => {
    const text = fc.string({ unit: 'grapheme', maxLength: 64 }).filter((s) => !s.includes('$'));
    fc.assert(
      fc.property(text, (s) =>
        (['encodeXML', 'escapeAttribute', 'escapeText'] as const).every((name) => v7[name](s) === v4[name](s)),
      ),
      { seed: SEED, numRuns: 2_000 },
    );
  });
});
