/**
 * Byte-level helpers for the server side of RFC 1939 §3 multi-line replies.
 */

const LF = 0x0a;
const CR = 0x0d;
const DOT = 0x2e;

/**
 * RFC 1939 §3 byte-stuffing: every line that starts with `.` gets another
 * `.`. A line starts at the first byte and after every LF (a bare-LF message
 * has lines too; a bare CR does not end a line).
 */
export function dotStuff(body: Buffer): Buffer {
  let dots = 0;
  for (let i = 0; i < body.length; i += 1) {
    if (body[i] === DOT && (i === 0 || body[i - 1] === LF)) dots += 1;
  }
  if (dots === 0) return body;
  const out = Buffer.allocUnsafe(body.length + dots);
  let o = 0;
  let from = 0;
  for (let i = 0; i < body.length; i += 1) {
    if (body[i] === DOT && (i === 0 || body[i - 1] === LF)) {
      o += body.copy(out, o, from, i);
      out[o] = DOT;
      o += 1;
      from = i;
    }
  }
  body.copy(out, o, from);
  return out;
}

/** CR LF → LF everywhere (for bare-LF replies). */
export function toBareLf(body: Buffer): Buffer {
  const parts: Buffer[] = [];
  let from = 0;
  for (let i = 1; i < body.length; i += 1) {
    if (body[i] === LF && body[i - 1] === CR) {
      parts.push(body.subarray(from, i - 1));
      from = i;
    }
  }
  parts.push(body.subarray(from));
  return Buffer.concat(parts);
}

/**
 * The bytes of a multi-line body reply after the status line: the stuffed
 * body, a line end if the message does not end with one (Dovecot appends CR
 * LF to a last line without a line end), and the terminator.
 */
export function multiLineBody(body: Buffer, eol: '\r\n' | '\n'): Buffer {
  const stuffed = dotStuff(body);
  const needsEol = body.length > 0 && body[body.length - 1] !== LF;
  return Buffer.concat([stuffed, Buffer.from(`${needsEol ? eol : ''}.${eol}`, 'latin1')]);
}

/** RFC 1939 §7 TOP: the header, the blank line, and the first `lines` lines of the body. */
export function topOf(message: Buffer, lines: number): Buffer {
  let pos = 0;
  // The header ends at the first empty line (CRLF CRLF or LF LF).
  for (;;) {
    const nl = message.indexOf(LF, pos);
    if (nl === -1) return message;
    const lineLength = nl - pos - (nl > pos && message[nl - 1] === CR ? 1 : 0);
    pos = nl + 1;
    if (lineLength === 0) break;
  }
  for (let i = 0; i < lines; i += 1) {
    const nl = message.indexOf(LF, pos);
    if (nl === -1) return message;
    pos = nl + 1;
  }
  return message.subarray(0, pos);
}
