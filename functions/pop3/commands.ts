/**
 * Pure parsers for POP3 reply lines: status lines and RFC 2449 response codes,
 * the greeting, CAPA, STAT, LIST and UIDL entries. They throw nothing but
 * BridgeError (POP3_ERR_PROTOCOL / POP3_ERR_LIMIT), whatever the input.
 */
import { BridgeError, type ErrorCode } from '../core/errors.js';
import { RFC_UIDL_MAX_LENGTH } from './limits.js';
import type { Capabilities, Greeting, ListEntry, StatResult, UidlEntry } from './types.js';

export interface StatusLine {
  /** `+OK` (true), `-ERR` (false). */
  readonly ok: boolean;
  /** RFC 5034 §4 SASL continuation: a line that is `+` or starts with `+ `. */
  readonly continuation: boolean;
  /** RFC 2449 §8 response code without brackets, upper-cased, e.g. `SYS/TEMP`. */
  readonly code: string | undefined;
  /** The text after the indicator (and after the response code, if any), read as UTF-8. */
  readonly text: string;
  /**
   * `text` with each byte as one character (latin1), when the line has bytes above 0x7F (otherwise the two are
   * equal). A UIDL in a status line (`UIDL n`) is read from this, as the lines of a UIDL listing are: the same
   * message must get the same identity from both (RFC 1939 §7 allows 0x21–0x7E only, but servers send more).
   */
  readonly textLatin1?: string;
}

function protocolError(message: string, line: string): BridgeError {
  // The offending line is server output, never ours, so it holds no credential; cap it for logs.
  return new BridgeError('POP3_ERR_PROTOCOL', message, { serverText: line.slice(0, 200) });
}

const RESPONSE_CODE = /^\[([^\]\s]{1,64})\]\s*/;

/**
 * RFC 1939 §3: a status line starts `+OK` or `-ERR`. The indicators are
 * case-sensitive in the RFC, but some old servers answer `+ok`, so accept any case.
 */
export function parseStatusLine(line: string): StatusLine {
  if (line === '+' || line.startsWith('+ ')) {
    return { ok: true, continuation: true, code: undefined, text: line.slice(2) };
  }
  const upper = line.slice(0, 4).toUpperCase();
  let ok: boolean;
  let rest: string;
  if (upper.startsWith('+OK') && (line.length === 3 || line[3] === ' ' || line[3] === '\t')) {
    ok = true;
    rest = line.slice(3);
  } else if (upper === '-ERR' && (line.length === 4 || line[4] === ' ' || line[4] === '\t')) {
    ok = false;
    rest = line.slice(4);
  } else {
    throw protocolError('reply does not start with +OK or -ERR', line);
  }
  rest = rest.replace(/^[ \t]+/, '');
  const match = RESPONSE_CODE.exec(rest);
  if (match?.[1] !== undefined) {
    return { ok, continuation: false, code: match[1].toUpperCase(), text: rest.slice(match[0].length) };
  }
  return { ok, continuation: false, code: undefined, text: rest };
}

/**
 * Maps an -ERR reply to the typed error callers branch on (RFC 2449 §8, RFC 3206).
 * Codes are hierarchical: an unknown subcode counts as its known parent
 * (`IN-USE/FOO` is IN-USE). `SYS` alone and unknown codes stay POP3_ERR_RESPONSE
 * with the code kept, so nothing the server said is lost.
 */
export function errorForReply(
  status: StatusLine,
  verb: string,
  fallback: ErrorCode = 'POP3_ERR_RESPONSE',
  loginDelaySeconds?: number,
): BridgeError {
  const code = status.code;
  let errorCode: ErrorCode = fallback;
  if (code !== undefined) {
    const [top, sub] = code.split('/');
    if (top === 'IN-USE') errorCode = 'POP3_ERR_IN_USE';
    else if (top === 'LOGIN-DELAY') errorCode = 'POP3_ERR_LOGIN_DELAY';
    else if (top === 'AUTH') errorCode = 'POP3_ERR_AUTH';
    else if (top === 'SYS' && sub === 'TEMP') errorCode = 'POP3_ERR_SYS_TEMP';
    else if (top === 'SYS' && sub === 'PERM') errorCode = 'POP3_ERR_SYS_PERM';
  }
  const detail = status.text.length > 0 ? `: ${status.text.slice(0, 300)}` : '';
  return new BridgeError(errorCode, `${verb} failed${code ? ` [${code}]` : ''}${detail}`, {
    serverText: status.text,
    ...(code !== undefined && { responseCode: code }),
    ...(errorCode === 'POP3_ERR_LOGIN_DELAY' &&
      loginDelaySeconds !== undefined && { retryAfterSeconds: loginDelaySeconds }),
    context: { command: verb },
  });
}

/** RFC 1939 §7: the APOP timestamp is a msg-id, `<…@…>`, somewhere in the greeting. */
export function parseGreeting(status: StatusLine): Greeting {
  const match = /<[^<>\s@]*@[^<>\s]*>/.exec(status.text);
  return { text: status.text, apopTimestamp: match?.[0] };
}

const POSITIVE_INT = /^\d{1,15}$/;

function parseCount(token: string | undefined, what: string, line: string): number {
  if (token === undefined || !POSITIVE_INT.test(token)) throw protocolError(`${what} is not a number`, line);
  return Number(token);
}

/** RFC 1939 §5 STAT: `+OK nn mm` (extra text after the two numbers is allowed). */
export function parseStat(text: string): StatResult {
  const [count, size] = text.trim().split(/\s+/);
  return { count: parseCount(count, 'STAT count', text), size: parseCount(size, 'STAT size', text) };
}

/** RFC 1939 §5 LIST entry (scan listing): `msg size`. Also the single-line `LIST n` reply. */
export function parseListEntry(line: string): ListEntry {
  const [msg, size] = line.trim().split(/\s+/);
  const n = parseCount(msg, 'LIST message number', line);
  if (n < 1) throw protocolError('LIST message number is 0', line);
  return { msg: n, size: parseCount(size, 'LIST size', line) };
}

/**
 * RFC 1939 §7 UIDL entry: `msg unique-id`. A unique-id is 1–70 characters in
 * 0x21–0x7E; some servers send longer ones or other bytes, which we accept and
 * flag (`nonStandard`) so the caller can still use them as identity.
 */
export function parseUidlEntry(line: string, maxUidlLength: number): UidlEntry {
  const trimmed = line.replace(/^[ \t]+/, '').replace(/[ \t]+$/, '');
  const space = trimmed.search(/[ \t]/);
  if (space === -1) throw protocolError('UIDL entry has no unique-id', line);
  const n = parseCount(trimmed.slice(0, space), 'UIDL message number', line);
  if (n < 1) throw protocolError('UIDL message number is 0', line);
  const uidl = trimmed.slice(space).replace(/^[ \t]+/, '');
  if (uidl.length === 0) throw protocolError('UIDL entry has an empty unique-id', line);
  if (uidl.length > maxUidlLength) {
    throw new BridgeError('POP3_ERR_LIMIT', `UIDL longer than ${maxUidlLength} characters`, {
      context: { limit: 'maxUidlLength', length: uidl.length },
    });
  }
  const nonStandard = uidl.length > RFC_UIDL_MAX_LENGTH || !/^[\x21-\x7e]+$/.test(uidl);
  return { msg: n, uidl, nonStandard };
}

/** RFC 2449 §5 CAPA reply lines, one capability per line, tag then arguments. */
export function parseCapabilities(lines: ReadonlyArray<string>): Capabilities {
  const raw = new Map<string, string[]>();
  for (const line of lines) {
    const words = line
      .trim()
      .split(/\s+/)
      .filter((w) => w.length > 0);
    const tag = words.shift();
    if (tag === undefined) continue;
    raw.set(tag.toUpperCase(), words);
  }
  const loginDelay = raw.get('LOGIN-DELAY')?.[0];
  const expire = raw.get('EXPIRE')?.[0];
  return {
    raw,
    top: raw.has('TOP'),
    uidl: raw.has('UIDL'),
    user: raw.has('USER'),
    stls: raw.has('STLS'),
    pipelining: raw.has('PIPELINING'),
    respCodes: raw.has('RESP-CODES'),
    authRespCode: raw.has('AUTH-RESP-CODE'),
    sasl: (raw.get('SASL') ?? []).map((m) => m.toUpperCase()),
    loginDelaySeconds: loginDelay !== undefined && POSITIVE_INT.test(loginDelay) ? Number(loginDelay) : undefined,
    expire:
      expire === undefined
        ? undefined
        : expire.toUpperCase() === 'NEVER'
          ? 'NEVER'
          : POSITIVE_INT.test(expire)
            ? Number(expire)
            : undefined,
    implementation: raw.get('IMPLEMENTATION')?.join(' '),
  };
}

/** Capabilities of a server that does not know CAPA (RFC 1939-only): assume the optional commands, try them. */
export function assumedCapabilities(): Capabilities {
  return parseCapabilities(['TOP', 'UIDL', 'USER']);
}
