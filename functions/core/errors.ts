/**
 * One error class for the whole bridge, with codes from one map.
 *
 * Callers branch on `code` (stable, documented) and `retryable`, never on the
 * message text. The server's own words are kept in `serverText` so an operator
 * can see what the server said; credentials are never put into an error — the
 * code that builds one only ever has the command verb, never its arguments.
 */

export const ErrorCodes = {
  // Transport and session
  /** could not open a TCP connection to the server */
  POP3_ERR_CONNECT: { retryable: true },
  /** TLS handshake or certificate verification failed */
  POP3_ERR_TLS: { retryable: false },
  /** server certificate does not match the pinned SHA-256 fingerprint */
  POP3_ERR_CERT_PIN: { retryable: false },
  /** refused to send credentials over an unencrypted connection */
  POP3_ERR_INSECURE: { retryable: false },
  /** STLS is required but the server does not offer it */
  POP3_ERR_STLS_UNAVAILABLE: { retryable: false },
  /** the server did not answer in time */
  POP3_ERR_TIMEOUT: { retryable: true },
  /** the connection closed before the reply was complete */
  POP3_ERR_CLOSED: { retryable: true },
  /** the server sent a reply that breaks the POP3 grammar */
  POP3_ERR_PROTOCOL: { retryable: true },
  /** the server sent more than a configured limit allows */
  POP3_ERR_LIMIT: { retryable: false },
  /** command not allowed in the current session state */
  POP3_ERR_STATE: { retryable: false },
  /** the operation was aborted by the caller */
  POP3_ERR_ABORTED: { retryable: true },
  // Server replies (RFC 1939 -ERR, RFC 2449 / RFC 3206 response codes)
  /** the server answered -ERR */
  POP3_ERR_RESPONSE: { retryable: false },
  /** the mailbox is locked by another session ([IN-USE]) */
  POP3_ERR_IN_USE: { retryable: true },
  /** logged in too soon after the last login ([LOGIN-DELAY]) */
  POP3_ERR_LOGIN_DELAY: { retryable: true },
  /** temporary server failure ([SYS/TEMP]) */
  POP3_ERR_SYS_TEMP: { retryable: true },
  /** permanent server failure ([SYS/PERM]) */
  POP3_ERR_SYS_PERM: { retryable: false },
  /** authentication failed ([AUTH] or a rejected login) */
  POP3_ERR_AUTH: { retryable: false },
  /** no authentication mechanism the server offers is allowed */
  POP3_ERR_AUTH_UNSUPPORTED: { retryable: false },
  /** the server does not support a command the caller needs */
  POP3_ERR_UNSUPPORTED: { retryable: false },
  // Configuration
  /** the configuration does not match the schema */
  CONFIG_ERR_INVALID: { retryable: false },
  /** the configuration file could not be read or parsed */
  CONFIG_ERR_READ: { retryable: false },
  /** an environment variable named in the configuration is not set */
  CONFIG_ERR_ENV: { retryable: false },
  /** a sealed mailbox config does not open (altered, moved to another mailbox or version, or wrong key) */
  CONFIG_ERR_SEALED: { retryable: false },
  // Storage and state
  /** the raw message store failed to write or read */
  STORE_ERR_IO: { retryable: true },
  /** no stored object with that key */
  STORE_ERR_NOT_FOUND: { retryable: false },
  /** the state store failed */
  STATE_ERR_IO: { retryable: true },
  // Engine
  /** an unexpected error inside the poll (a bug: please report it) */
  POLL_ERR_INTERNAL: { retryable: true },
  // Webhook delivery
  /** the webhook URL points at a private or reserved address (SSRF guard) */
  WEBHOOK_ERR_BLOCKED: { retryable: false },
  /** the webhook receiver answered with a non-2xx status */
  WEBHOOK_ERR_STATUS: { retryable: true },
  /** the webhook receiver did not answer in time */
  WEBHOOK_ERR_TIMEOUT: { retryable: true },
  /** the webhook request failed before a response */
  WEBHOOK_ERR_NETWORK: { retryable: true },
  /** the event for this delivery could not be built (stored message unreadable, or a bug) */
  WEBHOOK_ERR_EVENT: { retryable: true },
  /** the webhook receiver answered with a redirect, which is not followed */
  WEBHOOK_ERR_REDIRECT: { retryable: true },
  /** could not obtain an OAuth2 access token */
  OAUTH_ERR_TOKEN: { retryable: true },
  // Event building: never thrown, reported in the event's `parseErrors` (docs/webhooks.md)
  /** the MIME structure could not be parsed to its end */
  EVENT_ERR_MIME: { retryable: false },
  /** the message breaks a parser limit (parts, header block or total size) */
  EVENT_ERR_LIMIT: { retryable: false },
  /** parsing the message took longer than its time limit */
  EVENT_ERR_TIMEOUT: { retryable: true },
  /** an unknown or refused charset was decoded as UTF-8 */
  EVENT_ERR_CHARSET: { retryable: false },
  /** the HTML body could not be converted to plain text */
  EVENT_ERR_HTML_TO_TEXT: { retryable: false },
  /** an attachment could not be stored */
  EVENT_ERR_ATTACHMENT_STORE: { retryable: true },
  /** the message has more attachments than the event lists */
  EVENT_ERR_ATTACHMENT_LIMIT: { retryable: false },
  /** a body too large for the event could not be stored as a link */
  EVENT_ERR_BODY_STORE: { retryable: true },
  /** the Date header could not be parsed */
  EVENT_ERR_DATE: { retryable: false },
  /** the stored raw object does not match its recorded SHA-256 or size */
  EVENT_ERR_RAW_MISMATCH: { retryable: false },
} as const satisfies Record<string, { retryable: boolean }>;

export type ErrorCode = keyof typeof ErrorCodes;

export interface BridgeErrorOptions extends ErrorOptions {
  /** The server's reply text after the status indicator and response code, if any. */
  serverText?: string;
  /** The RFC 2449 response code as sent, e.g. `SYS/TEMP` or an unknown `FOO/BAR`. */
  responseCode?: string;
  /** Seconds a server asked us to wait (LOGIN-DELAY capability), when known. */
  retryAfterSeconds?: number;
  /** Overrides the code's default `retryable` flag when the context knows better. */
  retryable?: boolean;
  /** Free-form, non-secret context (mailbox name, command verb, limit name). */
  context?: Readonly<Record<string, string | number | boolean>>;
}

export class BridgeError extends Error {
  override readonly name = 'BridgeError';
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly serverText: string | undefined;
  readonly responseCode: string | undefined;
  readonly retryAfterSeconds: number | undefined;
  readonly context: Readonly<Record<string, string | number | boolean>>;

  constructor(code: ErrorCode, message: string, options: BridgeErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retryable = options.retryable ?? ErrorCodes[code].retryable;
    this.serverText = options.serverText;
    this.responseCode = options.responseCode;
    this.retryAfterSeconds = options.retryAfterSeconds;
    this.context = Object.freeze({ ...options.context });
  }

  /** A plain object for structured logs; never includes credentials because errors never hold them. */
  toJSON(): Record<string, unknown> {
    return {
      name: this.name,
      code: this.code,
      message: this.message,
      retryable: this.retryable,
      ...(this.serverText !== undefined && { serverText: this.serverText }),
      ...(this.responseCode !== undefined && { responseCode: this.responseCode }),
      ...(this.retryAfterSeconds !== undefined && { retryAfterSeconds: this.retryAfterSeconds }),
      ...(Object.keys(this.context).length > 0 && { context: this.context }),
    };
  }
}

/** `caught` itself when it is a BridgeError; otherwise one with `code`, the original kept as its cause. */
export function toBridgeError(caught: unknown, code: ErrorCode): BridgeError {
  if (caught instanceof BridgeError) return caught;
  const message = caught instanceof Error ? caught.message : String(caught);
  return new BridgeError(code, `unexpected error: ${message}`, { cause: caught });
}

export function isBridgeError(value: unknown, code?: ErrorCode): value is BridgeError {
  return value instanceof BridgeError && (code === undefined || value.code === code);
}
