'use strict';
/**
 * Writes the two generated tables, from the real iconv-lite 0.7.3 (installed
 * as the devDependency `iconv-lite-0.7.3`):
 *
 * single-byte-tables.js: bytes 0x80-0xFF of every single-byte charset, as
 *   iconv-lite decodes them (bytes below 0x80 are ASCII in all of them; the
 *   generator checks). Node's TextDecoder is not used for these: Node 20.20's
 *   windows-1252 fast path drops bytes 0x80-0x9F when not streaming, ICU drops
 *   the unassigned bytes of windows-874, lacks 0xCA of windows-1255 and
 *   rotates three controls of IBM866. 128 characters a charset cost less
 *   than those differences.
 *
 * double-byte-overrides.js: every two-byte code that iconv-lite decodes to a
 *   character and TextDecoder (ICU) decodes differently, for the charsets
 *   where that happens to real text:
 *     big5: HKSCS characters, which ICU's Big5 converter leaves in the
 *           Private Use Area;
 *     euc-kr: the 8,822 Hangul syllables of the Unified Hangul Code (CP949)
 *           extension, which ICU's EUC-KR converter does not know;
 *     gbk: 83 codes ICU maps to the Private Use Area (ḿ, ǹ, the 0xFE row);
 *          and 18 codes that GB18030-2005 (and iconv-lite) put in the Private
 *          Use Area but GB18030-2022 maps to the vertical forms U+FE10-FE19
 *          and the ideographs U+9FB4-9FBB. Those are written as the 2022
 *          characters, whatever this Node's ICU does: Node 20's GBK converter
 *          (ICU 77) still gives the PUA, Node 24's (ICU 78, the Lambda
 *          runtime) the characters, and GB18030 gives the characters on both,
 *          so a GBK message would otherwise decode differently in local and
 *          AWS mode, and differently from the same text labelled GB18030.
 *
 * Characters are written as base64 of UTF-16LE: bundlers write non-ASCII as
 * \u escapes (6 to 12 bytes a character), base64 takes under 3.
 *
 *   node packages/iconv-lite-textdecoder/generate-tables.cjs && npx biome format --write packages/iconv-lite-textdecoder
 *
 * Run it with Node 20 (ICU 77), the oldest Node the bridge runs on: its ICU
 * differs from iconv-lite in the most codes (Node 24's ICU 78 agrees on the
 * 83 GBK codes above), and a table made there also serves Node 24, where the
 * overridden codes already decode the same. The reverse is not true.
 *
 * test/events/charset-adapter.test.ts compares every byte and every two-byte
 * code with iconv-lite, so a stale table fails the tests.
 */
const { writeFileSync } = require('node:fs');
const path = require('node:path');
const iconv = require('iconv-lite-0.7.3');

const base64 = (text) => Buffer.from(text, 'utf16le').toString('base64');

/** Table name (as labels.js targets it) → iconv-lite's name for the charset. */
const SINGLE_BYTE = {
  ibm866: 'ibm866',
  'iso-8859-2': 'iso-8859-2',
  'iso-8859-3': 'iso-8859-3',
  'iso-8859-4': 'iso-8859-4',
  'iso-8859-5': 'iso-8859-5',
  'iso-8859-6': 'iso-8859-6',
  'iso-8859-7': 'iso-8859-7',
  'iso-8859-8': 'iso-8859-8',
  'iso-8859-9': 'iso-8859-9',
  'iso-8859-10': 'iso-8859-10',
  'iso-8859-11': 'iso-8859-11',
  'iso-8859-13': 'iso-8859-13',
  'iso-8859-14': 'iso-8859-14',
  'iso-8859-15': 'iso-8859-15',
  'iso-8859-16': 'iso-8859-16',
  'koi8-r': 'koi8-r',
  'koi8-u': 'koi8-u',
  macintosh: 'macintosh',
  'x-mac-cyrillic': 'maccyrillic',
  maccenteuro: 'maccenteuro',
  macukraine: 'macukraine',
  'tis-620': 'tis-620',
  'windows-874': 'windows-874',
  'windows-1250': 'windows-1250',
  'windows-1251': 'windows-1251',
  'windows-1252': 'windows-1252',
  'windows-1253': 'windows-1253',
  'windows-1254': 'windows-1254',
  'windows-1255': 'windows-1255',
  'windows-1256': 'windows-1256',
  'windows-1257': 'windows-1257',
  'windows-1258': 'windows-1258',
};

const allBytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
const singleByte = {};
for (const [name, iconvName] of Object.entries(SINGLE_BYTE)) {
  const text = iconv.decode(allBytes, iconvName);
  if (text.length !== 256 || text.slice(0, 128) !== allBytes.subarray(0, 128).toString('latin1')) {
    throw new Error(`${iconvName}: not ASCII below 0x80, or not one UTF-16 unit a byte`);
  }
  singleByte[name] = base64(text.slice(128));
}

const DOUBLE_BYTE = { big5: 'big5', 'euc-kr': 'euc-kr', gbk: 'gbk' };
const isPrivateUse = (text) => [...text].some((c) => c.codePointAt(0) >= 0xe000 && c.codePointAt(0) <= 0xf8ff);
const gb18030 = new TextDecoder('gb18030');
/**
 * What the adapter must give for `bytes` (iconv-lite's character), except the GBK codes GB18030-2022
 * moved out of the Private Use Area, which get the 2022 character (see the header), from ICU's GB18030.
 * `pinned` codes go into the table even where this ICU already agrees, so the table is the same
 * whichever Node generates it.
 */
function target(whatwg, bytes, expected) {
  if (whatwg !== 'gbk' || !isPrivateUse(expected)) return { text: expected, pinned: false };
  const text = gb18030.decode(bytes);
  return isPrivateUse(text) || text.includes('\ufffd') ? { text: expected, pinned: false } : { text, pinned: true };
}
const doubleByte = {};
for (const [whatwg, iconvName] of Object.entries(DOUBLE_BYTE)) {
  const decoder = new TextDecoder(whatwg);
  /** [first code, characters]: runs of consecutive codes, one code point a code. */
  const runs = [];
  /** code → text, for the codes that decode to more than one code point. */
  const multi = {};
  for (let lead = 0x81; lead <= 0xfe; lead += 1) {
    for (let trail = 0x40; trail <= 0xfe; trail += 1) {
      const bytes = Buffer.from([lead, trail]);
      const decoded = iconv.decode(bytes, iconvName);
      if (decoded.includes('\ufffd')) continue;
      const { text: expected, pinned } = target(whatwg, bytes, decoded);
      if (!pinned && expected === decoder.decode(bytes)) continue;
      const code = (lead << 8) | trail;
      if ([...expected].length > 1) {
        multi[code] = expected;
        continue;
      }
      const last = runs.at(-1);
      if (last !== undefined && last[0] + [...last[1]].length === code) last[1] += expected;
      else runs.push([code, expected]);
    }
  }
  doubleByte[whatwg] = { runs: runs.map(([code, chars]) => [code, base64(chars)]), multi };
}

const write = (file, data) =>
  writeFileSync(
    path.join(__dirname, file),
    `'use strict';\n// Generated by generate-tables.cjs from iconv-lite 0.7.3; do not edit.\nmodule.exports = ${JSON.stringify(data, null, 1)};\n`,
  );
write('single-byte-tables.js', singleByte);
write('double-byte-overrides.js', doubleByte);
