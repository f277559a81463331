/**
 * Incremental decoder for a POP3 multi-line body (RFC 1939 §3): removes the
 * byte-stuffing dot at the start of a line and finds the terminating `.` line,
 * wherever the TCP stream happens to cut the bytes.
 *
 * Like smtp-server's DATA stream, it keeps the few undecidable bytes at the end
 * of a chunk (a `.` or `.\r` at a line start) until the next chunk says whether
 * they are a terminator or a stuffed line. Everything else is passed on as
 * zero-copy slices of the input, split only where a stuffing dot is removed, so
 * a 100 MB message costs no more memory than one TCP chunk.
 *
 * Line ends are LF or CRLF: some servers send bare LF (the mail was stored that
 * way), and a `.` line ended by bare LF is accepted as the terminator too, as
 * fetchmail does.
 */
import { BridgeError } from '../core/errors.js';

const LF = 0x0a;
const CR = 0x0d;
const DOT = 0x2e;
const LF_DOT = Buffer.from('\n.');

export interface DotDecoderLimits {
  readonly maxBodyLineBytes: number;
  readonly maxMessageBytes: number;
}

export interface DecodeResult {
  /** Decoded body bytes from this input (slices of it; may be empty). */
  readonly out: Buffer[];
  /** True once the terminator was seen. */
  readonly done: boolean;
  /** Input bytes after the terminator (the next reply), when done. */
  readonly rest: Buffer | undefined;
}

export class DotDecoder {
  private lineStart = true;
  private carry: Buffer | undefined;
  private lineBytes = 0;
  private totalBytes = 0;
  private finished = false;

  constructor(private readonly limits: DotDecoderLimits) {}

  /** Decoded bytes so far. */
  get bytes(): number {
    return this.totalBytes;
  }

  get done(): boolean {
    return this.finished;
  }

  feed(input: Buffer): DecodeResult {
    if (this.finished) return { out: [], done: true, rest: input };
    const buf = this.carry === undefined ? input : Buffer.concat([this.carry, input]);
    this.carry = undefined;
    const out: Buffer[] = [];
    const len = buf.length;
    let pos = 0;
    while (pos < len) {
      if (this.lineStart) {
        if (buf[pos] === DOT) {
          // Need the bytes after the dot to tell the terminator from a stuffed line.
          if (pos + 1 >= len) {
            // A copy: the input may be a socket's reused read buffer (borrowed-reads.ts).
            this.carry = Buffer.from(buf.subarray(pos));
            break;
          }
          const next = buf[pos + 1];
          if (next === LF) return this.finish(out, buf.subarray(pos + 2));
          if (next === CR) {
            if (pos + 2 >= len) {
              this.carry = Buffer.from(buf.subarray(pos));
              break;
            }
            if (buf[pos + 2] === LF) return this.finish(out, buf.subarray(pos + 3));
          }
          // A stuffed line: RFC 1939 §3 says drop the first dot of any other line starting with one.
          pos += 1;
        }
        this.lineStart = false;
      }
      // Pass everything up to the next line that starts with a dot through in one slice.
      const hit = buf.indexOf(LF_DOT, pos);
      const end = hit === -1 ? len : hit + 1;
      this.emit(out, buf.subarray(pos, end));
      pos = end;
      if (hit !== -1 || (end > 0 && buf[end - 1] === LF)) this.lineStart = true;
    }
    return { out, done: false, rest: undefined };
  }

  /** Bytes held back at a chunk edge, for callers that must report a truncated body. */
  get pending(): number {
    return this.carry?.length ?? 0;
  }

  private finish(out: Buffer[], rest: Buffer): DecodeResult {
    this.finished = true;
    return { out, done: true, rest: rest.length > 0 ? rest : undefined };
  }

  private emit(out: Buffer[], slice: Buffer): void {
    if (slice.length === 0) return;
    this.totalBytes += slice.length;
    if (this.totalBytes > this.limits.maxMessageBytes) {
      throw new BridgeError('POP3_ERR_LIMIT', `message larger than ${this.limits.maxMessageBytes} bytes`, {
        context: { limit: 'maxMessageBytes' },
      });
    }
    this.trackLineLength(slice);
    out.push(slice);
  }

  /**
   * Keeps the length of the current line. Only a slice longer than the limit
   * can hold an over-long line, so the common case costs one lastIndexOf.
   */
  private trackLineLength(slice: Buffer): void {
    const max = this.limits.maxBodyLineBytes;
    const lastLf = slice.lastIndexOf(LF);
    if (lastLf === -1) {
      this.lineBytes += slice.length;
    } else {
      let lineStart = 0;
      let lineLen = this.lineBytes;
      if (slice.length + this.lineBytes > max) {
        for (let nl = slice.indexOf(LF); nl !== -1 && nl <= lastLf; nl = slice.indexOf(LF, nl + 1)) {
          lineLen += nl - lineStart;
          if (lineLen > max) break;
          lineStart = nl + 1;
          lineLen = 0;
        }
      } else {
        lineLen = 0;
      }
      if (lineLen > max) this.lineBytes = lineLen;
      else this.lineBytes = slice.length - lastLf - 1;
    }
    if (this.lineBytes > max) {
      throw new BridgeError('POP3_ERR_LIMIT', `body line longer than ${max} bytes`, {
        context: { limit: 'maxBodyLineBytes' },
      });
    }
  }
}
