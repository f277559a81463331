import type { Readable } from 'node:stream';
import type { SecureContext } from 'node:tls';
import type { Pop3Limits } from './limits.js';

/** How the connection is secured. `implicit`: TLS from the first byte (port 995). `starttls`: RFC 2595 STLS. `none`: plaintext. */
export type TlsMode = 'implicit' | 'starttls' | 'none';

export type AuthMethod = 'auto' | 'user' | 'apop' | 'plain' | 'login' | 'cram-md5' | 'xoauth2' | 'oauthbearer';

/** RFC 1939 §3: the three states of a session, plus our own CLOSED once the socket is gone. */
export type SessionState = 'AUTHORIZATION' | 'TRANSACTION' | 'UPDATE' | 'CLOSED';

export interface Pop3ConnectOptions {
  readonly host: string;
  /** Default: 995 for `implicit`, 110 otherwise. */
  readonly port?: number;
  /** Default: `implicit`. */
  readonly tls?: TlsMode;
  /** Allow PASS/AUTH/APOP over an unencrypted connection. Off by default; never implied by `tls: 'none'`. */
  readonly allowInsecureAuth?: boolean;
  /** Extra trusted CA certificates (PEM). Replaces the system store, as Node's `tls.connect({ ca })` does. */
  readonly ca?: string | Buffer | ReadonlyArray<string | Buffer>;
  /**
   * A context built once with `trustContext` (transport.ts), used instead of `ca`: a context with many CAs
   * costs milliseconds to build, which a `ca` would pay on every connection.
   */
  readonly secureContext?: SecureContext;
  /** TLS server name for SNI and host-name verification. Default: `host` unless it is an IP address. */
  readonly servername?: string;
  /** SHA-256 fingerprints (hex, colons optional) of the leaf certificate's DER; any match passes. Checked in addition to CA verification. */
  readonly pinnedSha256?: ReadonlyArray<string>;
  /** Overrides of the defaults in `limits.ts`. */
  readonly limits?: Partial<Pop3Limits>;
  /** Aborts connect, login and any command in flight; the connection is destroyed. */
  readonly signal?: AbortSignal;
  /** Optional protocol trace sink. Lines are redacted: PASS, AUTH payloads and APOP digests never reach it. */
  readonly trace?: (direction: 'C' | 'S', line: string) => void;
}

export interface Pop3Credentials {
  readonly username: string;
  /** Password for USER/PASS, APOP, PLAIN, LOGIN, CRAM-MD5. */
  readonly password?: string;
  /** OAuth2 bearer token for XOAUTH2 / OAUTHBEARER. */
  readonly accessToken?: string;
  /** Default `auto`: the strongest mechanism the server offers that the credentials allow. */
  readonly method?: AuthMethod;
}

/** The greeting line (RFC 1939 §4) and its APOP timestamp (`<...@...>`), if any. */
export interface Greeting {
  readonly text: string;
  readonly apopTimestamp: string | undefined;
}

/** Parsed CAPA reply (RFC 2449 §5). Unknown capabilities are kept in `raw`. */
export interface Capabilities {
  readonly raw: ReadonlyMap<string, ReadonlyArray<string>>;
  readonly top: boolean;
  readonly uidl: boolean;
  readonly user: boolean;
  readonly stls: boolean;
  readonly pipelining: boolean;
  readonly respCodes: boolean;
  readonly authRespCode: boolean;
  /** Upper-cased SASL mechanism names. */
  readonly sasl: ReadonlyArray<string>;
  /** RFC 2449 §6.5: minimum seconds between logins; `undefined` when not announced. */
  readonly loginDelaySeconds: number | undefined;
  /** RFC 2449 §6.7: days the server keeps messages; `'NEVER'`, a number, or `undefined`. */
  readonly expire: number | 'NEVER' | undefined;
  readonly implementation: string | undefined;
}

export interface StatResult {
  readonly count: number;
  readonly size: number;
}

export interface ListEntry {
  readonly msg: number;
  /** Octets as the server counts them. Not an exact length: Dovecot adds CRLF to a message without a final newline. */
  readonly size: number;
}

export interface UidlEntry {
  readonly msg: number;
  readonly uidl: string;
  /** True when the UIDL breaks RFC 1939 §7 (longer than 70 characters or outside 0x21–0x7E) but was accepted. */
  readonly nonStandard: boolean;
}

/** A message body stream: exact bytes, dot-unstuffed, ends at the terminator. */
export type MessageStream = Readable;

export interface NewestMessage {
  readonly count: number;
  readonly size: number;
  /** UIDL of message `count`; undefined when the mailbox is empty. */
  readonly lastUidl: string | undefined;
}

export type { Pop3Limits };
