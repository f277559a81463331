'use strict';
/**
 * Single-byte charsets, decoded from iconv-lite's own tables (bytes
 * 0x80-0xFF, generated into single-byte-tables.js; see generate-tables.cjs
 * for why not TextDecoder). Stateless, so any chunking decodes the same.
 */
const TABLES = require('./single-byte-tables.js');

/** name → the UTF-16 code unit of each of the 256 bytes, built on first use. */
const codeUnits = new Map();

function codeUnitsOf(name) {
  let units = codeUnits.get(name);
  if (units === undefined) {
    const upper = Buffer.from(TABLES[name], 'base64').toString('utf16le');
    units = new Uint16Array(256);
    for (let byte = 0; byte < 256; byte += 1) units[byte] = byte < 0x80 ? byte : upper.charCodeAt(byte - 0x80);
    codeUnits.set(name, units);
  }
  return units;
}

/** Writes one UTF-16 unit per byte and decodes them at once: a string built a character at a time is 10× slower. */
class SingleByteDecoder {
  constructor(name) {
    this.units = codeUnitsOf(name);
  }

  write(buf) {
    const out = Buffer.alloc(buf.length * 2);
    const units = this.units;
    for (let i = 0; i < buf.length; i += 1) {
      const unit = units[buf[i]];
      out[2 * i] = unit & 0xff;
      out[2 * i + 1] = unit >> 8;
    }
    return out.toString('utf16le');
  }

  end() {
    return undefined;
  }
}

const SINGLE_BYTE_CHARSETS = new Set(Object.keys(TABLES));

module.exports = { SingleByteDecoder, SINGLE_BYTE_CHARSETS };
