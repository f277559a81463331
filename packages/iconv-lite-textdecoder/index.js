'use strict';
/**
 * Stands in for iconv-lite under libmime (package.json "overrides"), so the
 * deliver bundle no longer carries iconv-lite's code tables (≈ 490 kB of its
 * 1,972 kB). The CJK charsets and UTF-16 are decoded by Node's built-in
 * TextDecoder (ICU; the official Node 20/24 builds and Lambda's Node runtime
 * have full ICU), with a generated table of the codes where ICU's converters
 * differ from iconv-lite (double-byte.js); the single-byte charsets from
 * 128-character tables generated from iconv-lite (single-byte.js). So text
 * decodes as it did with iconv-lite 0.7.3, except GB18030's vertical forms
 * (ICU follows GB18030-2022) and byte 0x80 after Shift_JIS katakana. See
 * README.md for the charsets refused and why an npm override.
 *
 * Only the calls libmime 5.6.4 makes are provided (dist/{esm,cjs}/charset.js):
 * getCodec (codec identity and its `decoder`), getDecoder (write/end),
 * decode and encodingExists. test/events/charset-adapter.test.ts fails if
 * libmime starts calling anything else. Encoding is not offered: libmime
 * encodes UTF-8 only, with Buffer.
 */
const { DOUBLE_BYTE_OVERRIDDEN, DoubleByteDecoder } = require('./double-byte.js');
const { resolveCharset } = require('./labels.js');
const { SINGLE_BYTE_CHARSETS, SingleByteDecoder } = require('./single-byte.js');
const { StreamTextDecoder } = require('./stream-text-decoder.js');
const { Utf16Decoder } = require('./utf16.js');

/**
 * ICU's Shift_JIS converter follows IBM's control-code layout and rotates
 * three ASCII controls (byte 0x1A gives U+001C, 0x1C gives U+007F, 0x7F gives
 * U+001A); iconv-lite and the Encoding Standard map those bytes to themselves.
 * No other byte decodes to these three characters, so putting them back after
 * decoding is exact.
 */
const ROTATED_CONTROLS = new Set(['shift_jis']);
const UNROTATE = { '\u001c': '\u001a', '\u007f': '\u001c', '\u001a': '\u007f' };
const unrotate = (text) => text.replace(/[\u001a\u001c\u007f]/g, (char) => UNROTATE[char]);

/** A chunked decoder over TextDecoder: `stream: true` keeps a character split across writes for the next one. */
class WhatwgDecoder {
  constructor(encoding, options) {
    this.decoder = new StreamTextDecoder(encoding, { ignoreBOM: options?.stripBOM === false });
    this.fix = ROTATED_CONTROLS.has(encoding) ? unrotate : (text) => text;
  }

  write(buf) {
    return this.fix(this.decoder.decode(buf, { stream: true }));
  }

  end() {
    return this.fix(this.decoder.decode()) || undefined;
  }
}

class Latin1Decoder {
  write(buf) {
    return Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength).toString('latin1');
  }

  end() {
    return undefined;
  }
}

function notSupported(name) {
  return new Error(`Encoding not recognized: '${name}' (decoded with TextDecoder; see iconv-lite-textdecoder)`);
}

/**
 * One codec object per target, as iconv-lite caches one per encoding: libmime
 * compares codecs by identity (every alias of UTF-7 is the same codec), and
 * compares `codec.decoder` with GBK's to pick a chunking work-around for
 * iconv-lite's double-byte decoder. Each codec has its own `decoder`, so only
 * GBK gets that work-around, which stays correct with TextDecoder (it cuts
 * the input after bytes below 0x30, which no GBK character contains).
 */
const codecs = new Map();

function codecFor(target) {
  let codec = codecs.get(target);
  if (codec === undefined) {
    const refused = target.startsWith('refused:');
    codec = {
      encodingName: target,
      supported: !refused,
      // Called with `new` by iconv-lite's callers: an object returned from a constructor is its result.
      decoder: function Decoder(options) {
        return createDecoder(target, options);
      },
    };
    codecs.set(target, codec);
  }
  return codec;
}

function createDecoder(target, options) {
  if (target === 'latin1') return new Latin1Decoder();
  if (target === 'utf16') return new Utf16Decoder((encoding) => new WhatwgDecoder(encoding, options), options);
  if (SINGLE_BYTE_CHARSETS.has(target)) return new SingleByteDecoder(target);
  if (target.startsWith('refused:')) throw notSupported(target.slice('refused:'.length));
  if (DOUBLE_BYTE_OVERRIDDEN.has(target)) return new DoubleByteDecoder(target);
  return new WhatwgDecoder(target, options);
}

function getCodec(encoding) {
  const target = resolveCharset(encoding);
  if (target === undefined) throw notSupported(encoding);
  return codecFor(target);
}

function getDecoder(encoding, options) {
  const codec = getCodec(encoding);
  if (!codec.supported) throw notSupported(encoding);
  return createDecoder(codec.encodingName, options);
}

function decode(buf, encoding, options) {
  // iconv-lite reads a string as binary (one byte per character); libmime relies on that.
  const bytes = typeof buf === 'string' ? Buffer.from(buf, 'binary') : buf;
  const decoder = getDecoder(encoding, options);
  const text = decoder.write(bytes);
  const rest = decoder.end();
  return rest ? text + rest : text;
}

function encodingExists(encoding) {
  const target = resolveCharset(encoding);
  return target !== undefined && !target.startsWith('refused:');
}

module.exports = { getCodec, getDecoder, decode, encodingExists };
