'use strict';
/**
 * TextDecoder for Big5, EUC-KR and GBK, with the two-byte codes where ICU's
 * converters differ from iconv-lite (double-byte-overrides.js) decoded from
 * that table instead. Node's TextDecoder takes WHATWG labels but decodes
 * with ICU's converters, and for these three charsets they are older than
 * the Encoding Standard: "euc-kr" is plain EUC-KR without the CP949
 * extension that Outlook's ks_c_5601-1987 mail uses, "big5" has no HKSCS,
 * "gbk" is GBK 2000.
 *
 * The input is scanned for two-byte codes (a lead byte 0x81-0xFE and a
 * byte 0x40-0xFE after it, the widest trail range of the three); runs of
 * everything else go to the TextDecoder as they are. A lead byte at the end
 * of a chunk waits for the next one, so a code split across chunks is found
 * all the same.
 */
const OVERRIDES = require('./double-byte-overrides.js');
const { StreamTextDecoder } = require('./stream-text-decoder.js');

const tables = new Map();

/**
 * code → text, built on first use of the charset, and a bit per two-byte code
 * saying whether it is in the map: most codes are not, and a bit test is much
 * cheaper than a Map lookup.
 */
function overridesFor(encoding) {
  let overrides = tables.get(encoding);
  if (overrides === undefined) {
    const map = new Map();
    const { runs, multi } = OVERRIDES[encoding];
    for (const [first, base64] of runs) {
      let code = first;
      for (const char of Buffer.from(base64, 'base64').toString('utf16le')) {
        map.set(code, char);
        code += 1;
      }
    }
    for (const [code, text] of Object.entries(multi)) map.set(Number(code), text);
    const bits = new Uint8Array(0x10000 / 8);
    for (const code of map.keys()) bits[code >> 3] |= 1 << (code & 7);
    overrides = { map, bits };
    tables.set(encoding, overrides);
  }
  return overrides;
}

const isLead = (byte) => byte >= 0x81 && byte <= 0xfe;
const isTrail = (byte) => byte >= 0x40 && byte <= 0xfe;

class DoubleByteDecoder {
  constructor(encoding) {
    this.decoder = new StreamTextDecoder(encoding);
    this.overrides = overridesFor(encoding);
    /** A lead byte that ended the previous chunk, or -1. */
    this.pendingLead = -1;
  }

  write(chunk) {
    let bytes = chunk;
    if (this.pendingLead !== -1) {
      bytes = Buffer.concat([Buffer.of(this.pendingLead), chunk]);
      this.pendingLead = -1;
    }
    let text = '';
    let runStart = 0;
    let i = 0;
    while (i < bytes.length) {
      const byte = bytes[i];
      if (!isLead(byte)) {
        i += 1;
        continue;
      }
      if (i + 1 === bytes.length) break;
      const next = bytes[i + 1];
      if (!isTrail(next)) {
        i += 1;
        continue;
      }
      const code = (byte << 8) | next;
      if ((this.overrides.bits[code >> 3] >> (code & 7)) & 1) {
        const override = this.overrides.map.get(code);
        // Flushed (no `stream`), so the run cannot leave state behind for the bytes after the override.
        text += this.decoder.decode(bytes.subarray(runStart, i)) + override;
        runStart = i + 2;
      }
      i += 2;
    }
    if (i < bytes.length) this.pendingLead = bytes[i];
    return text + this.decoder.decode(bytes.subarray(runStart, i), { stream: true });
  }

  end() {
    const rest = this.pendingLead === -1 ? new Uint8Array(0) : Buffer.of(this.pendingLead);
    this.pendingLead = -1;
    return this.decoder.decode(rest) || undefined;
  }
}

/** The WHATWG encodings decoded by DoubleByteDecoder rather than TextDecoder alone. */
const DOUBLE_BYTE_OVERRIDDEN = new Set(Object.keys(OVERRIDES));

module.exports = { DoubleByteDecoder, DOUBLE_BYTE_OVERRIDDEN };
