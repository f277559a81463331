/**
 * Shared pieces of the POP3 client's integration tests against the run-wide Dovecot
 * (test/support/global-setup.ts): connect options, a recording trace, stream readers, and what Dovecot
 * sends for a stored message — every byte it changes between the maildir file and RETR/TOP, in one place.
 */
import type { Readable } from 'node:stream';
import tls from 'node:tls';
import { BridgeError } from '../../functions/core/errors.js';
import { Pop3Client } from '../../functions/pop3/client.js';
import type { Pop3ConnectOptions, Pop3Credentials, TlsMode } from '../../functions/pop3/types.js';
import type { DovecotFacts, MailboxCredentials } from '../support/dovecot.js';

// ---- Connecting -----------------------------------------------------------------------------------------

/** Options for one of the three ways in: implicit TLS on the pop3s port, STLS or plaintext on the plain port. */
export function connectOptions(
  facts: DovecotFacts,
  tlsMode: TlsMode,
  extra: Partial<Pop3ConnectOptions> = {},
): Pop3ConnectOptions {
  return {
    host: facts.host,
    port: tlsMode === 'implicit' ? facts.tlsPort : facts.plainPort,
    tls: tlsMode,
    ca: facts.caPem,
    servername: facts.servername,
    ...extra,
  };
}

export interface TraceLine {
  readonly dir: 'C' | 'S';
  readonly line: string;
}

/** A `trace` sink that keeps every line, for assertions on what went over the wire (as the client reports it). */
export class TraceRecorder {
  readonly lines: TraceLine[] = [];
  readonly sink = (dir: 'C' | 'S', line: string): void => {
    this.lines.push({ dir, line });
  };

  /** Lines the client sent, in order. */
  get sent(): string[] {
    return this.lines.filter((l) => l.dir === 'C').map((l) => l.line);
  }

  /** Lines the client sent from the first one equal to `first` on. */
  sentFrom(first: string): string[] {
    const sent = this.sent;
    const at = sent.indexOf(first);
    return at === -1 ? [] : sent.slice(at);
  }

  /** Every line as `C: …` / `S: …`, for failure messages. */
  toString(): string {
    return this.lines.map((l) => `${l.dir}: ${l.line}`).join('\n');
  }
}

/** Connects (implicit TLS unless told otherwise) and logs in; the caller quits or closes. */
export async function loggedIn(
  facts: DovecotFacts,
  account: MailboxCredentials,
  opts: { tls?: TlsMode; method?: Pop3Credentials['method']; extra?: Partial<Pop3ConnectOptions> } = {},
): Promise<Pop3Client> {
  const client = await Pop3Client.connect(connectOptions(facts, opts.tls ?? 'implicit', opts.extra));
  try {
    await client.login({ username: account.user, password: account.password, method: opts.method ?? 'user' });
  } catch (error) {
    client.close();
    throw error;
  }
  return client;
}

/** The SHA-256 fingerprint of the server's leaf certificate, as Node prints it (`AB:CD:…`). */
export function serverFingerprint256(facts: DovecotFacts): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host: facts.host,
      port: facts.tlsPort,
      servername: facts.servername,
      ca: facts.caPem,
    });
    socket.once('error', reject);
    socket.once('secureConnect', () => {
      const cert = socket.getPeerX509Certificate();
      socket.destroy();
      if (cert) resolve(cert.fingerprint256);
      else reject(new Error('the server sent no certificate'));
    });
  });
}

// ---- Results ----------------------------------------------------------------------------------------------

/** Reads a body stream to its end. */
export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** The error a promise rejects with; fails if it resolves. */
export async function rejectionOf(work: Promise<unknown>): Promise<BridgeError> {
  try {
    await work;
  } catch (error) {
    if (error instanceof BridgeError) return error;
    throw new Error(`expected a BridgeError, got ${String(error)}`, { cause: error });
  }
  throw new Error('expected a rejection, but the promise resolved');
}

// ---- What Dovecot sends --------------------------------------------------------------------------------------

const CRLF = Buffer.from('\r\n');

/**
 * Dovecot 2.3 serves messages with CRLF line ends whatever the maildir file holds: every LF not already
 * preceded by CR gets one (its pop3 process reads the mail through a CRLF-converting input stream). LIST and
 * STAT count these converted bytes (the "virtual size"). No fixture holds a lone CR, so what Dovecot does with
 * one is not asserted here.
 */
export function dovecotCrlf(stored: Buffer): Buffer {
  const parts: Buffer[] = [];
  let from = 0;
  for (let lf = stored.indexOf(0x0a); lf !== -1; lf = stored.indexOf(0x0a, lf + 1)) {
    if (lf > 0 && stored[lf - 1] === 0x0d) continue;
    parts.push(stored.subarray(from, lf), CRLF);
    from = lf + 1;
  }
  parts.push(stored.subarray(from));
  return Buffer.concat(parts);
}

/** The size LIST and STAT report for a stored message: the CRLF-converted size, without quirk 2 below. */
export function expectedListSize(stored: Buffer): number {
  return dovecotCrlf(stored).length;
}

/**
 * The exact bytes the client hands out for RETR of a stored message, after dot-unstuffing:
 *  1. bare LF becomes CRLF (`dovecotCrlf`);
 *  2. a message whose last line has no line ending gets CRLF appended (so the `.` terminator starts a line,
 *     RFC 1939 §3) — RETR is then 2 bytes longer than LIST says; TOP does the same when it reaches the end;
 *  3. dot-stuffing (RFC 1939 §3) is transparent: the client removes exactly the dots Dovecot added.
 * Nothing else changes: 8-bit bytes, 20,000-character lines and lines that are only `.` arrive as stored.
 */
export function expectedRetrBytes(stored: Buffer): Buffer {
  const converted = dovecotCrlf(stored);
  if (converted.length > 0 && converted[converted.length - 1] !== 0x0a) return Buffer.concat([converted, CRLF]);
  return converted;
}

/**
 * TOP n lines (RFC 1939 §7): the header, the blank line, then the first `lines` body lines, with the same
 * conversions as RETR (a body shorter than `lines` comes whole, with quirk 2 applied).
 */
export function expectedTopBytes(stored: Buffer, lines: number): Buffer {
  const full = expectedRetrBytes(stored);
  const blank = full.indexOf('\r\n\r\n');
  if (blank === -1) return full;
  let end = blank + 4;
  for (let i = 0; i < lines && end < full.length; i += 1) {
    const lf = full.indexOf(0x0a, end);
    end = lf === -1 ? full.length : lf + 1;
  }
  return full.subarray(0, end);
}
