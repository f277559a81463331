'use strict';
/**
 * TextDecoder for chunked input, without the throw Node's ICU-backed decoder has there: it throws
 * ERR_ENCODING_INVALID_ENCODED_DATA, although it is not fatal, when a `stream: true` decode ends inside a
 * multi-byte sequence and the next decode is one or two bytes that do not complete it. GB18030 81 30 | 41,
 * EUC-JP 8F A1 | 41 and ISO-2022-JP ESC $ | LF on Node 20.20 and 24.21, and GBK 84 31 | 41 on Node 24.21
 * (ICU 78 reads GBK's four-byte codes too). A body line longer than a read reached the decoder that way
 * with its last byte, and the throw stopped the whole parse. No decode of four bytes or more threw in
 * 500,000 random splits on either Node, so a shorter one waits for the next, or for the end.
 */
const MIN_STREAM_BYTES = 4;

class StreamTextDecoder {
  constructor(encoding, options) {
    this.decoder = new TextDecoder(encoding, options);
    /** Bytes of stream decodes shorter than MIN_STREAM_BYTES, copied (the caller may reuse its buffer), or null. */
    this.held = null;
  }

  /** TextDecoder#decode, with `stream` as the only option. */
  decode(input, options) {
    let bytes = input ?? new Uint8Array(0);
    if (this.held !== null) {
      bytes = Buffer.concat([this.held, bytes]);
      this.held = null;
    }
    if (options?.stream && bytes.length < MIN_STREAM_BYTES) {
      if (bytes.length > 0) this.held = Buffer.from(bytes);
      return '';
    }
    return this.decoder.decode(bytes, options);
  }
}

module.exports = { StreamTextDecoder };
