'use strict';
/**
 * "UTF-16" with no byte order in the name, decoded as iconv-lite 0.7.3 does
 * (encodings/utf16.js): the byte order comes from a BOM, else it is guessed
 * from the first 100 code units (ASCII text has a zero byte in every unit,
 * on the low side for little endian), and little endian when that is a tie.
 * RFC 2781 section 4.3 says big endian without a BOM, but real senders are
 * mostly Windows programs writing little endian, and keeping iconv-lite's
 * guess keeps the decoded text unchanged. TextDecoder's "utf-16" label is
 * plain UTF-16LE, so the guess has to live here.
 *
 * Like iconv-lite, nothing is decoded until 16 bytes are in (or the input
 * ends); libmime holds back 200 bytes for this codec on top of that, so a
 * stream guesses from the same characters a one-shot decode does.
 */

const HEAD_BYTES = 16;
const GUESS_UNITS = 100;

function guessByteOrder(head, defaultEncoding) {
  if (head.length >= 2 && head[0] === 0xff && head[1] === 0xfe) return 'utf-16le';
  if (head.length >= 2 && head[0] === 0xfe && head[1] === 0xff) return 'utf-16be';
  let asciiLE = 0;
  let asciiBE = 0;
  const units = Math.min(GUESS_UNITS, Math.floor(head.length / 2));
  for (let i = 0; i < units; i += 1) {
    const first = head[2 * i];
    const second = head[2 * i + 1];
    if (first === 0 && second !== 0) asciiBE += 1;
    if (first !== 0 && second === 0) asciiLE += 1;
  }
  if (asciiBE > asciiLE) return 'utf-16be';
  if (asciiBE < asciiLE) return 'utf-16le';
  return defaultEncoding === 'utf-16be' ? 'utf-16be' : 'utf-16le';
}

class Utf16Decoder {
  /** @param {(encoding: string) => {write(buf: Uint8Array): string, end(): string | undefined}} createDecoder */
  constructor(createDecoder, options) {
    this.createDecoder = createDecoder;
    this.defaultEncoding = options?.defaultEncoding;
    this.decoder = null;
    this.head = [];
    this.headLength = 0;
  }

  write(buf) {
    if (this.decoder !== null) return this.decoder.write(buf);
    this.head.push(Buffer.from(buf));
    this.headLength += buf.length;
    return this.headLength < HEAD_BYTES ? '' : this.#start();
  }

  end() {
    const text = this.decoder === null ? this.#start() : '';
    return text + (this.decoder.end() ?? '');
  }

  #start() {
    const head = Buffer.concat(this.head);
    this.head = [];
    this.decoder = this.createDecoder(guessByteOrder(head, this.defaultEncoding));
    return this.decoder.write(head);
  }
}

module.exports = { Utf16Decoder, guessByteOrder };
