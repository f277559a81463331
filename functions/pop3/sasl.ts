/**
 * SASL mechanisms for POP3 AUTH (RFC 5034). Each mechanism turns credentials
 * and server challenges into client responses; the exchange itself (initial
 * response inline or not, `*` to cancel) lives in the client.
 */
import { createHmac } from 'node:crypto';
import { BridgeError } from '../core/errors.js';

export type SaslMechanismName = 'PLAIN' | 'LOGIN' | 'CRAM-MD5' | 'XOAUTH2' | 'OAUTHBEARER';

export interface SaslMechanism {
  readonly name: SaslMechanismName;
  /** The initial response (RFC 4422 §3.3), or undefined when the mechanism starts with a server challenge. */
  initialResponse(): Buffer | undefined;
  /** The answer to challenge number `index` (0-based), or undefined when the mechanism expects no more challenges. */
  respond(challenge: Buffer, index: number): Buffer | undefined;
  /**
   * The raw line to send when the server sends a challenge after our last
   * response — OAuth mechanisms send their error details that way and expect a
   * dummy reply before the final -ERR. Undefined: cancel with `*`.
   */
  readonly errorReply: string | undefined;
}

export interface SaslCredentials {
  readonly username: string;
  readonly password?: string | undefined;
  readonly accessToken?: string | undefined;
}

function need(value: string | undefined, what: string, mechanism: string): string {
  if (value === undefined || value.length === 0) {
    throw new BridgeError('POP3_ERR_AUTH_UNSUPPORTED', `${mechanism} needs a ${what}`);
  }
  return value;
}

/** RFC 4616: `authzid NUL authcid NUL passwd`, with an empty authzid. */
function plain(creds: SaslCredentials): SaslMechanism {
  const password = need(creds.password, 'password', 'PLAIN');
  return {
    name: 'PLAIN',
    initialResponse: () => Buffer.from(`\0${creds.username}\0${password}`, 'utf8'),
    respond: () => undefined,
    errorReply: undefined,
  };
}

/**
 * LOGIN (draft-murchison-sasl-login): the server asks `Username:` then
 * `Password:`. Servers word the prompts differently, so answer by position.
 */
function login(creds: SaslCredentials): SaslMechanism {
  const password = need(creds.password, 'password', 'LOGIN');
  return {
    name: 'LOGIN',
    initialResponse: () => undefined,
    respond: (_challenge, index) =>
      index === 0 ? Buffer.from(creds.username, 'utf8') : index === 1 ? Buffer.from(password, 'utf8') : undefined,
    errorReply: undefined,
  };
}

/** RFC 2195: `username SP hex(HMAC-MD5(password, challenge))`. */
function cramMd5(creds: SaslCredentials): SaslMechanism {
  const password = need(creds.password, 'password', 'CRAM-MD5');
  return {
    name: 'CRAM-MD5',
    initialResponse: () => undefined,
    respond: (challenge, index) => {
      if (index !== 0) return undefined;
      const digest = createHmac('md5', password).update(challenge).digest('hex');
      return Buffer.from(`${creds.username} ${digest}`, 'utf8');
    },
    errorReply: undefined,
  };
}

/**
 * Google's and Microsoft's XOAUTH2: `user=U ^A auth=Bearer T ^A ^A`. On
 * failure the server sends a base64 JSON error as a challenge; the client
 * answers with an empty line and then gets the -ERR.
 */
function xoauth2(creds: SaslCredentials): SaslMechanism {
  const token = need(creds.accessToken, 'OAuth2 access token', 'XOAUTH2');
  return {
    name: 'XOAUTH2',
    initialResponse: () => Buffer.from(`user=${creds.username}\x01auth=Bearer ${token}\x01\x01`, 'utf8'),
    respond: () => undefined,
    errorReply: '',
  };
}

/**
 * RFC 7628 OAUTHBEARER: GS2 header, then host, port and the bearer token as
 * ^A-separated key/values. After an error challenge (§3.2.3) the client must
 * send a single ^A (`AQ==`) to get the final -ERR.
 */
function oauthBearer(creds: SaslCredentials, host: string, port: number): SaslMechanism {
  const token = need(creds.accessToken, 'OAuth2 access token', 'OAUTHBEARER');
  const authzid = creds.username.replaceAll('=', '=3D').replaceAll(',', '=2C');
  return {
    name: 'OAUTHBEARER',
    initialResponse: () =>
      Buffer.from(`n,a=${authzid},\x01host=${host}\x01port=${port}\x01auth=Bearer ${token}\x01\x01`, 'utf8'),
    respond: () => undefined,
    errorReply: 'AQ==',
  };
}

export function createMechanism(
  name: SaslMechanismName,
  creds: SaslCredentials,
  endpoint: { host: string; port: number },
): SaslMechanism {
  switch (name) {
    case 'PLAIN':
      return plain(creds);
    case 'LOGIN':
      return login(creds);
    case 'CRAM-MD5':
      return cramMd5(creds);
    case 'XOAUTH2':
      return xoauth2(creds);
    case 'OAUTHBEARER':
      return oauthBearer(creds, endpoint.host, endpoint.port);
  }
}
