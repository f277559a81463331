/**
 * Server side of the SASL mechanisms the bridge speaks (RFC 5034 POP3 AUTH),
 * checking the exact exchanges real servers expect:
 *
 * - PLAIN (RFC 4616), LOGIN (draft-murchison-sasl-login), CRAM-MD5 (RFC 2195);
 * - XOAUTH2 as Gmail and Microsoft 365 run it: `user=U ^A auth=Bearer T ^A ^A`,
 *   inline or after an empty `+ ` challenge; a bad token gets a `+ <base64
 *   JSON>` error challenge, the client answers with an empty line, then -ERR
 *   (Gmail), or a direct -ERR (Microsoft, `oauthErrors: 'direct'`);
 * - OAUTHBEARER (RFC 7628): GS2 header, host, port, `auth=Bearer T`; after an
 *   error challenge the client must send a single ^A (§3.2.3).
 */
import { createHmac } from 'node:crypto';

export type ScriptedSaslMechanism = 'PLAIN' | 'LOGIN' | 'CRAM-MD5' | 'XOAUTH2' | 'OAUTHBEARER';

export const ALL_SASL_MECHANISMS: ReadonlyArray<ScriptedSaslMechanism> = [
  'PLAIN',
  'LOGIN',
  'CRAM-MD5',
  'XOAUTH2',
  'OAUTHBEARER',
];

export interface ScriptedUser {
  readonly username: string;
  /** For USER/PASS, APOP, PLAIN, LOGIN, CRAM-MD5. */
  readonly password?: string;
  /** For XOAUTH2 and OAUTHBEARER. */
  readonly accessToken?: string;
}

/** What the last OAuth exchange carried, for assertions. */
export interface OAuthDetails {
  readonly mechanism: 'XOAUTH2' | 'OAUTHBEARER';
  readonly user: string;
  readonly host?: string;
  readonly port?: string;
}

export type SaslStep =
  | { readonly kind: 'challenge'; readonly text: string }
  | { readonly kind: 'success'; readonly user: string }
  | { readonly kind: 'failure'; readonly line: string };

export interface SaslExchange {
  /** `response` is the decoded client response; `undefined` for an AUTH line without an initial response. */
  step(response: Buffer | undefined, rawLine: string): SaslStep;
}

export interface SaslServerContext {
  readonly users: ReadonlyArray<ScriptedUser>;
  readonly oauthErrors: 'challenge' | 'direct';
  readonly cramChallenge: string;
  readonly onOAuth: (details: OAuthDetails) => void;
}

const AUTH_FAILED = '-ERR [AUTH] Authentication failed.';
const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');

/** Strict base64 (RFC 4648 §4, padded), as servers check it; `=` alone is the empty response (RFC 5034 §4). */
export function decodeSaslResponse(line: string): Buffer | undefined {
  if (line === '=') return Buffer.alloc(0);
  if (line.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(line)) return undefined;
  return Buffer.from(line, 'base64');
}

function findUser(users: ReadonlyArray<ScriptedUser>, name: string): ScriptedUser | undefined {
  return users.find((u) => u.username === name);
}

function once(first: (response: Buffer) => SaslStep): SaslExchange {
  let asked = false;
  return {
    step(response) {
      // A mechanism with an initial response (PLAIN, XOAUTH2, OAUTHBEARER) gets an empty challenge when the client sent none.
      if (response === undefined && !asked) {
        asked = true;
        return { kind: 'challenge', text: '' };
      }
      return first(response ?? Buffer.alloc(0));
    },
  };
}

function plain(ctx: SaslServerContext): SaslExchange {
  return once((response) => {
    const parts = response.toString('utf8').split('\0');
    if (parts.length !== 3) return { kind: 'failure', line: '-ERR [AUTH] malformed PLAIN response' };
    const [authzid, authcid, password] = parts as [string, string, string];
    const user = findUser(ctx.users, authcid);
    if (user?.password === undefined || user.password !== password || (authzid !== '' && authzid !== authcid)) {
      return { kind: 'failure', line: AUTH_FAILED };
    }
    return { kind: 'success', user: authcid };
  });
}

function login(ctx: SaslServerContext): SaslExchange {
  let username: string | undefined;
  let step = 0;
  return {
    step(response) {
      step += 1;
      if (step === 1 && response === undefined) return { kind: 'challenge', text: b64('Username:') };
      if (username === undefined) {
        username = (response ?? Buffer.alloc(0)).toString('utf8');
        return { kind: 'challenge', text: b64('Password:') };
      }
      const user = findUser(ctx.users, username);
      const password = (response ?? Buffer.alloc(0)).toString('utf8');
      if (user?.password === undefined || user.password !== password) return { kind: 'failure', line: AUTH_FAILED };
      return { kind: 'success', user: username };
    },
  };
}

function cramMd5(ctx: SaslServerContext): SaslExchange {
  let challenged = false;
  return {
    step(response) {
      if (!challenged) {
        challenged = true;
        if (response !== undefined) return { kind: 'failure', line: '-ERR CRAM-MD5 takes no initial response' };
        return { kind: 'challenge', text: b64(ctx.cramChallenge) };
      }
      const match = /^(.+) ([0-9a-f]{32})$/.exec((response ?? Buffer.alloc(0)).toString('utf8'));
      if (!match) return { kind: 'failure', line: '-ERR [AUTH] malformed CRAM-MD5 response' };
      const user = findUser(ctx.users, match[1]!);
      if (user?.password === undefined) return { kind: 'failure', line: AUTH_FAILED };
      const expected = createHmac('md5', user.password).update(ctx.cramChallenge).digest('hex');
      if (expected !== match[2]) return { kind: 'failure', line: AUTH_FAILED };
      return { kind: 'success', user: user.username };
    },
  };
}

/**
 * Shared by both OAuth mechanisms: a valid token logs in; a bad one gets the
 * error challenge, whose answer must be exactly `expectedErrorAnswer`.
 */
function oauth(
  ctx: SaslServerContext,
  mechanism: 'XOAUTH2' | 'OAUTHBEARER',
  parse: (payload: string) => { user: string; token: string; host?: string; port?: string } | undefined,
  errorJson: string,
  expectedErrorAnswer: string,
): SaslExchange {
  let failed = false;
  const inner = once((response) => {
    const parsed = parse(response.toString('utf8'));
    if (!parsed) return { kind: 'failure', line: `-ERR [AUTH] malformed ${mechanism} response` };
    ctx.onOAuth({
      mechanism,
      user: parsed.user,
      ...(parsed.host !== undefined && { host: parsed.host }),
      ...(parsed.port !== undefined && { port: parsed.port }),
    });
    const user = findUser(ctx.users, parsed.user);
    if (user?.accessToken !== undefined && user.accessToken === parsed.token) {
      return { kind: 'success', user: parsed.user };
    }
    if (ctx.oauthErrors === 'direct') {
      return { kind: 'failure', line: '-ERR Authentication failure: unknown user name or bad password.' };
    }
    failed = true;
    return { kind: 'challenge', text: b64(errorJson) };
  });
  return {
    step(response, rawLine) {
      if (failed) {
        return rawLine === expectedErrorAnswer
          ? { kind: 'failure', line: '-ERR [AUTH] Invalid credentials (Failure)' }
          : { kind: 'failure', line: `-ERR protocol error: expected ${JSON.stringify(expectedErrorAnswer)}` };
      }
      return inner.step(response, rawLine);
    },
  };
}

function parseXoauth2(payload: string): { user: string; token: string } | undefined {
  const match = /^user=([^\x01]+)\x01auth=Bearer ([^\x01\s]+)\x01\x01$/.exec(payload);
  return match ? { user: match[1]!, token: match[2]! } : undefined;
}

function parseOauthBearer(payload: string): { user: string; token: string; host?: string; port?: string } | undefined {
  const match = /^n,a=([^,]*),\x01(.*)\x01\x01$/s.exec(payload);
  if (!match) return undefined;
  const user = match[1]!.replaceAll('=2C', ',').replaceAll('=3D', '=');
  const pairs = new Map<string, string>();
  for (const kv of match[2]!.split('\x01')) {
    const eq = kv.indexOf('=');
    if (eq <= 0) return undefined;
    pairs.set(kv.slice(0, eq), kv.slice(eq + 1));
  }
  const auth = /^Bearer ([^\s]+)$/.exec(pairs.get('auth') ?? '');
  if (!auth || user.length === 0) return undefined;
  const host = pairs.get('host');
  const port = pairs.get('port');
  return { user, token: auth[1]!, ...(host !== undefined && { host }), ...(port !== undefined && { port }) };
}

export function startSasl(mechanism: ScriptedSaslMechanism, ctx: SaslServerContext): SaslExchange {
  switch (mechanism) {
    case 'PLAIN':
      return plain(ctx);
    case 'LOGIN':
      return login(ctx);
    case 'CRAM-MD5':
      return cramMd5(ctx);
    case 'XOAUTH2':
      // Gmail's error challenge; the client must answer with an empty line.
      return oauth(
        ctx,
        'XOAUTH2',
        parseXoauth2,
        '{"status":"400","schemes":"Bearer","scope":"https://mail.google.com/"}',
        '',
      );
    case 'OAUTHBEARER':
      // RFC 7628 §3.2.2 error; the client must answer with a single ^A (base64 `AQ==`).
      return oauth(
        ctx,
        'OAUTHBEARER',
        parseOauthBearer,
        '{"status":"invalid_token","scope":"https://mail.google.com/"}',
        'AQ==',
      );
  }
}
