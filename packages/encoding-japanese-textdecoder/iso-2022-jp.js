'use strict';
/**
 * ISO-2022-JP (RFC 1468) and its JIS X 0212 extension (ISO-2022-JP-1, RFC
 * 2237) rewritten as EUC-JP, byte for byte: both carry the same JIS X 0208
 * and 0212 codes, ISO-2022-JP switching sets with escape sequences and EUC-JP
 * marking them with the high bit. EUC-JP is then decoded by TextDecoder,
 * which has JIS X 0212 (its "iso-2022-jp" decoder, like the Encoding
 * Standard's, does not).
 *
 *   ESC ( B  ASCII            bytes as they are
 *   ESC ( J  JIS X 0201 Roman bytes as they are (as encoding-japanese reads it)
 *   ESC ( I  JIS X 0201 kana  0x21-0x5F → 0x8E, byte | 0x80
 *   ESC $ @, ESC $ B  JIS X 0208   pairs 0x21-0x7E → byte | 0x80
 *   ESC $ ( D  JIS X 0212     pairs → 0x8F, byte | 0x80, byte | 0x80
 *
 * Control bytes (CR, LF, TAB …) pass through in every set and do not change
 * it. Any other escape sequence is left in the output as it is.
 */
const ESC = 0x1b;

const SETS = [
  { sequence: [0x28, 0x42], set: 'ascii' },
  { sequence: [0x28, 0x4a], set: 'ascii' },
  { sequence: [0x28, 0x49], set: 'kana' },
  { sequence: [0x24, 0x40], set: 'jis0208' },
  { sequence: [0x24, 0x42], set: 'jis0208' },
  { sequence: [0x24, 0x28, 0x44], set: 'jis0212' },
];

function escapeAt(bytes, i) {
  for (const { sequence, set } of SETS) {
    if (sequence.every((byte, k) => bytes[i + 1 + k] === byte)) return { set, length: 1 + sequence.length };
  }
  return undefined;
}

function toEucJp(bytes) {
  const out = Buffer.alloc(bytes.length * 2);
  let n = 0;
  let set = 'ascii';
  for (let i = 0; i < bytes.length; ) {
    const byte = bytes[i];
    if (byte === ESC) {
      const switched = escapeAt(bytes, i);
      if (switched !== undefined) {
        set = switched.set;
        i += switched.length;
        continue;
      }
    }
    const graphic = byte >= 0x21 && byte <= 0x7e;
    if (set === 'ascii' || !graphic) {
      out[n++] = byte;
      i += 1;
    } else if (set === 'kana') {
      out[n++] = 0x8e;
      out[n++] = byte | 0x80;
      i += 1;
    } else {
      const second = bytes[i + 1];
      if (second === undefined || second < 0x21 || second > 0x7e) {
        // Half a two-byte code: a byte EUC-JP cannot start a character with, so it decodes to U+FFFD.
        out[n++] = 0xff;
        i += 1;
        continue;
      }
      if (set === 'jis0212') out[n++] = 0x8f;
      out[n++] = byte | 0x80;
      out[n++] = second | 0x80;
      i += 2;
    }
  }
  return out.subarray(0, n);
}

module.exports = { toEucJp };
