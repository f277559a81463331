/**
 * Every size cap and deadline of the POP3 client, in one place.
 *
 * Defaults are generous where RFCs are strict, because real servers are not:
 * RFC 2449 §4 caps a response line at 512 octets, but servers put long texts
 * after -ERR; RFC 1939 §7 caps a UIDL at 70 characters, but some servers send
 * longer ones (accepted and flagged, see `commands.ts`).
 */
export interface Pop3Limits {
  /** Longest status line or multi-line list entry (CAPA, LIST, UIDL), without CRLF. */
  readonly maxStatusLineBytes: number;
  /** Longest line inside a RETR/TOP body. SMTP limits lines to 998 octets, but 20,000-character lines occur and must pass. */
  readonly maxBodyLineBytes: number;
  /** Largest message body the client will stream before failing with POP3_ERR_LIMIT. */
  readonly maxMessageBytes: number;
  /** Most entries in one multi-line list reply (UIDL/LIST of the whole mailbox, CAPA). */
  readonly maxListEntries: number;
  /**
   * Most bytes of entries in one list reply: the listing is held until its end, so this bounds its memory. A
   * UIDL listing of 2,000,000 messages with Dovecot's 8–20-character UIDLs is 30–60 MB.
   */
  readonly maxListBytes: number;
  /** Longest UIDL accepted at all (longer than 70 is accepted and flagged; longer than this is a protocol error). */
  readonly maxUidlLength: number;
  /** TCP connect. */
  readonly connectTimeoutMs: number;
  /** TLS handshake (implicit TLS or after STLS). */
  readonly tlsHandshakeTimeoutMs: number;
  /** Time from connected to a complete greeting line (some servers tarpit for tens of seconds). */
  readonly greetingTimeoutMs: number;
  /** Time from sending a command to its complete status line. */
  readonly commandTimeoutMs: number;
  /** Longest silence while a multi-line body is streaming (not counting time the consumer holds us paused). */
  readonly idleTimeoutMs: number;
  /** Most commands in flight at once when the server advertises PIPELINING (RFC 2449 §6.6). */
  readonly pipelineDepth: number;
}

export const defaultLimits: Pop3Limits = Object.freeze({
  maxStatusLineBytes: 8 * 1024,
  maxBodyLineBytes: 1024 * 1024,
  maxMessageBytes: 1024 * 1024 * 1024,
  maxListEntries: 2_000_000,
  maxListBytes: 128 * 1024 * 1024,
  maxUidlLength: 512,
  connectTimeoutMs: 15_000,
  tlsHandshakeTimeoutMs: 15_000,
  greetingTimeoutMs: 30_000,
  commandTimeoutMs: 60_000,
  idleTimeoutMs: 60_000,
  pipelineDepth: 64,
});

/** RFC 1939 §7: a unique-id is 1 to 70 characters in the range 0x21 to 0x7E. */
export const RFC_UIDL_MAX_LENGTH = 70;
/** RFC 5034 §4: an AUTH command line with its initial response must fit in 255 octets, else use the two-line exchange. */
export const SASL_INITIAL_RESPONSE_MAX_LINE = 255;

export function resolveLimits(overrides: Partial<Pop3Limits> | undefined): Pop3Limits {
  return Object.freeze({ ...defaultLimits, ...overrides });
}
