'use strict';
/**
 * Single-byte charsets, decoded from iconv-lite's own tables (bytes
 * 0x80-0xFF, generated into single-byte-tables.js; see generate-tables.cjs
 * for why not TextDecoder). Stateless, so any chunking decodes the same.
 */
const TABLES = require('./single-byte-tables.js');

const upperHalves = new Map();

function upperHalf(name) {
  let chars = upperHalves.get(name);
  if (chars === undefined) {
    chars = Buffer.from(TABLES[name], 'base64').toString('utf16le');
    upperHalves.set(name, chars);
  }
  return chars;
}

class SingleByteDecoder {
  constructor(name) {
    this.upperHalf = upperHalf(name);
  }

  write(buf) {
    let text = '';
    for (const byte of buf) text += byte < 0x80 ? String.fromCharCode(byte) : this.upperHalf[byte - 0x80];
    return text;
  }

  end() {
    return undefined;
  }
}

const SINGLE_BYTE_CHARSETS = new Set(Object.keys(TABLES));

module.exports = { SingleByteDecoder, SINGLE_BYTE_CHARSETS };
