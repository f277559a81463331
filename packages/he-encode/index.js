'use strict';
/**
 * he 1.2.0's `encode` for the options mailparser 3.14.2 passes (see README.md), without he's
 * named-reference tables. The regular expressions and the order of the passes are he's own
 * (he.js, `encode`), so the default output is he's byte for byte.
 */

/** `"&'<>` and the backtick: he's `regexEscape`. */
const UNSAFE = /["&'<>`]/g;
/** he's `regexAstralSymbols`: a surrogate pair. */
const ASTRAL = /[\uD800-\uDBFF][\uDC00-\uDFFF]/g;
/**
 * he's `regexBmpWhitelist`: every BMP code unit that is not a printable ASCII character or an
 * ASCII newline or tab, minus the C1 controls the HTML spec's charref overrides table maps
 * elsewhere (0x80, 0x82–0x8C, 0x8E, 0x91–0x9C, 0x9E, 0x9F stay raw, as in he). Lone surrogates
 * are in it: they come out as their own reference.
 */
const BMP_ESCAPED = /[\x01-\t\x0B\f\x0E-\x1F\x7F\x81\x8D\x8F\x90\x9D\xA0-\uFFFF]/g;
/** he's named references for the unsafe characters (its `encodeMap` entries for them). */
const UNSAFE_NAMED = { '"': '&quot;', '&': '&amp;', "'": '&apos;', '<': '&lt;', '>': '&gt;', '`': '&grave;' };

const hexEscape = (codePoint) => `&#x${codePoint.toString(16).toUpperCase()};`;
const escapeCodeUnit = (symbol) => hexEscape(symbol.charCodeAt(0));
const escapeAstral = (pair) => hexEscape((pair.charCodeAt(0) - 0xd800) * 0x400 + pair.charCodeAt(1) - 0xdc00 + 0x10000);

/** he's options other than `useNamedReferences`; none is implemented here. */
const UNSUPPORTED_OPTIONS = ['allowUnsafeSymbols', 'encodeEverything', 'strict', 'decimal'];

/**
 * `he.encode(text)`: `"&'<>` and the backtick, every non-ASCII character and the control
 * characters become hexadecimal references (`&#x26;`, `&#xE9;`, `&#x1F600;`), exactly as he.
 *
 * `he.encode(text, { useNamedReferences: true })`: the unsafe characters get he's names
 * (`&amp;`, `&lt;`, …, including he's `&nvlt;` and `&nvgt;` for `<` and `>` followed by U+20D2);
 * other characters get hexadecimal references where he would use a name for some of them
 * (`&#xE9;` for `&eacute;`). Both spellings are the same character to every HTML parser;
 * mailparser reaches this option only from `textToHtml`, which the bridge skips.
 */
function encode(string, options) {
  const named = options?.useNamedReferences === true;
  for (const name of UNSUPPORTED_OPTIONS) {
    if (options?.[name]) {
      throw new Error(`he-encode (packages/he-encode): he.encode option ${name} is not implemented; see its README`);
    }
  }
  let out = named
    ? string
        .replace(UNSAFE, (symbol) => UNSAFE_NAMED[symbol])
        .replace(/&gt;\u20D2/g, '&nvgt;')
        .replace(/&lt;\u20D2/g, '&nvlt;')
    : string.replace(UNSAFE, escapeCodeUnit);
  out = out.replace(ASTRAL, escapeAstral).replace(BMP_ESCAPED, escapeCodeUnit);
  return out;
}

function notIncluded(name) {
  return () => {
    throw new Error(
      `he-encode (packages/he-encode): he.${name} is not part of this stand-in (mailparser 3.14.2 calls only he.encode); see its README`,
    );
  };
}

module.exports = {
  version: '1.2.0',
  encode,
  decode: notIncluded('decode'),
  escape: notIncluded('escape'),
  unescape: notIncluded('unescape'),
};
