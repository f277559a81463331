/**
 * Logging in, line by line: RFC 1939 §7 USER/PASS and APOP, RFC 5034 AUTH
 * with PLAIN, LOGIN, CRAM-MD5, and the OAuth exchanges exactly as Gmail and
 * Microsoft 365 run them (XOAUTH2, RFC 7628 OAUTHBEARER). Each case states
 * every line the server received.
 */
import { createHash, createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { BridgeError, type ErrorCode } from '../../functions/core/errors.js';
import type { Pop3Credentials } from '../../functions/pop3/types.js';
import { onVerb, reply, type ScriptedServerOptions } from '../../functions/scripted-server/index.js';
import { connect, localhostCertificate, rejection, serve, USER } from './scripted-helpers.js';

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
const { username, password, accessToken } = USER;
/** About the size of a Microsoft 365 access token (a JWT): the AUTH line cannot carry it. */
const LONG_TOKEN = `eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.${'A'.repeat(1900)}.${'s'.repeat(340)}`;
const xoauth2 = (token: string) => b64(`user=${username}\x01auth=Bearer ${token}\x01\x01`);
const oauthbearer = (token: string, port: number) =>
  b64(`n,a=${username},\x01host=127.0.0.1\x01port=${port}\x01auth=Bearer ${token}\x01\x01`);
const GMAIL_ERROR = b64('{"status":"400","schemes":"Bearer","scope":"https://mail.google.com/"}');
const BEARER_ERROR = b64('{"status":"invalid_token","scope":"https://mail.google.com/"}');
const cramDigest = (challenge: string) => createHmac('md5', password).update(challenge).digest('hex');

interface Expected {
  /** Every line the server received after CAPA, exactly. */
  readonly lines: (port: number) => ReadonlyArray<string>;
  /** `ok`, or the error code login must fail with. */
  readonly outcome: 'ok' | ErrorCode;
  readonly serverText?: string;
}
type Case = [name: string, server: ScriptedServerOptions, credentials: Pop3Credentials, expected: Expected];

async function runCase(serverOptions: ScriptedServerOptions, credentials: Pop3Credentials, expected: Expected) {
  const server = await serve(serverOptions);
  const client = await connect(server);
  const login = client.login(credentials);
  if (expected.outcome === 'ok') {
    await login;
    expect(client.state).toBe('TRANSACTION');
    await client.noop();
  } else {
    const error = await rejection(login, expected.outcome);
    if (expected.serverText !== undefined) expect(error.serverText).toBe(expected.serverText);
    expect(client.state).toBe('AUTHORIZATION');
  }
  const lines = server.sessions[0]!.received.map((r) => r.line).filter((l) => l !== 'CAPA' && l !== 'NOOP');
  expect(lines).toEqual(expected.lines(server.port));
  return server;
}

describe('RFC 1939 §7 USER/PASS and APOP', () => {
  const apopDigest = (secret: string) => createHash('md5').update(`<1896.1@scripted.test>${secret}`).digest('hex');
  const cases: Case[] = [
    [
      'USER/PASS',
      {},
      { username, password, method: 'user' },
      { lines: () => [`USER ${username}`, `PASS ${password}`], outcome: 'ok' },
    ],
    [
      'USER/PASS with a wrong password',
      {},
      { username, password: 'wrong', method: 'user' },
      {
        lines: () => [`USER ${username}`, 'PASS wrong'],
        outcome: 'POP3_ERR_AUTH',
        serverText: 'Authentication failed.',
      },
    ],
    [
      'APOP with the greeting timestamp',
      {},
      { username, password, method: 'apop' },
      { lines: () => [`APOP ${username} ${apopDigest(password)}`], outcome: 'ok' },
    ],
    [
      'APOP with a wrong secret',
      {},
      { username, password: 'wrong', method: 'apop' },
      { lines: () => [`APOP ${username} ${apopDigest('wrong')}`], outcome: 'POP3_ERR_AUTH' },
    ],
    [
      'APOP without a timestamp in the greeting: refused before sending anything',
      { greeting: 'POP3 ready' },
      { username, password, method: 'apop' },
      { lines: () => [], outcome: 'POP3_ERR_AUTH_UNSUPPORTED' },
    ],
  ];
  it.each(cases)('%s', async (_name, server, credentials, expected) => {
    await runCase(server, credentials, expected);
  });
});

describe('RFC 5034 AUTH with password mechanisms', () => {
  const challenge = '<1001.1@scripted.test>';
  const cases: Case[] = [
    [
      'PLAIN: initial response on the AUTH line',
      {},
      { username, password, method: 'plain' },
      { lines: () => [`AUTH PLAIN ${b64(`\0${username}\0${password}`)}`], outcome: 'ok' },
    ],
    [
      'PLAIN with a wrong password',
      {},
      { username, password: 'nope', method: 'plain' },
      { lines: () => [`AUTH PLAIN ${b64(`\0${username}\0nope`)}`], outcome: 'POP3_ERR_AUTH' },
    ],
    [
      'LOGIN: username and password answer the two prompts',
      {},
      { username, password, method: 'login' },
      { lines: () => ['AUTH LOGIN', b64(username), b64(password)], outcome: 'ok' },
    ],
    [
      'CRAM-MD5: HMAC-MD5 of the challenge',
      {},
      { username, password, method: 'cram-md5' },
      { lines: () => ['AUTH CRAM-MD5', b64(`${username} ${cramDigest(challenge)}`)], outcome: 'ok' },
    ],
    [
      'PLAIN answered with a challenge it cannot have: cancelled with *',
      { faults: { override: onVerb('AUTH', reply('+ Zm9v\r\n')) } },
      { username, password, method: 'plain' },
      { lines: () => [`AUTH PLAIN ${b64(`\0${username}\0${password}`)}`, '*'], outcome: 'POP3_ERR_AUTH' },
    ],
    [
      'a mechanism the server does not know',
      { saslMechanisms: ['PLAIN'] },
      { username, password, method: 'cram-md5' },
      { lines: () => ['AUTH CRAM-MD5'], outcome: 'POP3_ERR_AUTH' },
    ],
  ];
  it.each(cases)('%s', async (_name, server, credentials, expected) => {
    await runCase(server, credentials, expected);
  });
});

describe('OAuth: XOAUTH2 (Gmail, Microsoft 365) and OAUTHBEARER (RFC 7628)', () => {
  const bad = 'ya29.expired';
  const cases: Case[] = [
    [
      'XOAUTH2, short token: initial response on the AUTH line',
      {},
      { username, accessToken, method: 'xoauth2' },
      { lines: () => [`AUTH XOAUTH2 ${xoauth2(accessToken)}`], outcome: 'ok' },
    ],
    [
      'XOAUTH2, 2 KB token: AUTH alone, the empty "+ " challenge answered with it',
      { users: [{ username, accessToken: LONG_TOKEN }] },
      { username, accessToken: LONG_TOKEN, method: 'xoauth2' },
      { lines: () => ['AUTH XOAUTH2', xoauth2(LONG_TOKEN)], outcome: 'ok' },
    ],
    [
      'XOAUTH2 rejected (Gmail): error challenge, empty line, -ERR',
      {},
      { username, accessToken: bad, method: 'xoauth2' },
      {
        lines: () => [`AUTH XOAUTH2 ${xoauth2(bad)}`, ''],
        outcome: 'POP3_ERR_AUTH',
        serverText: 'Invalid credentials (Failure)',
      },
    ],
    [
      'XOAUTH2 rejected after the two-line exchange (long token)',
      {},
      { username, accessToken: LONG_TOKEN, method: 'xoauth2' },
      {
        lines: () => ['AUTH XOAUTH2', xoauth2(LONG_TOKEN), ''],
        outcome: 'POP3_ERR_AUTH',
        serverText: 'Invalid credentials (Failure)',
      },
    ],
    [
      'XOAUTH2 rejected (Microsoft): a direct -ERR',
      { oauthErrors: 'direct' },
      { username, accessToken: LONG_TOKEN, method: 'xoauth2' },
      {
        lines: () => ['AUTH XOAUTH2', xoauth2(LONG_TOKEN)],
        outcome: 'POP3_ERR_AUTH',
        serverText: 'Authentication failure: unknown user name or bad password.',
      },
    ],
    [
      'OAUTHBEARER, short token: inline, with host and port',
      {},
      { username, accessToken, method: 'oauthbearer' },
      { lines: (port) => [`AUTH OAUTHBEARER ${oauthbearer(accessToken, port)}`], outcome: 'ok' },
    ],
    [
      'OAUTHBEARER, 2 KB token: two-line exchange',
      { users: [{ username, accessToken: LONG_TOKEN }] },
      { username, accessToken: LONG_TOKEN, method: 'oauthbearer' },
      { lines: (port) => ['AUTH OAUTHBEARER', oauthbearer(LONG_TOKEN, port)], outcome: 'ok' },
    ],
    [
      'OAUTHBEARER rejected: error challenge answered with ^A (AQ==), then -ERR',
      {},
      { username, accessToken: bad, method: 'oauthbearer' },
      {
        lines: (port) => [`AUTH OAUTHBEARER ${oauthbearer(bad, port)}`, 'AQ=='],
        outcome: 'POP3_ERR_AUTH',
        serverText: 'Invalid credentials (Failure)',
      },
    ],
  ];
  it.each(cases)('%s', async (_name, server, credentials, expected) => {
    await runCase(server, credentials, expected);
  });

  it('the error challenge is the base64 JSON Gmail sends', async () => {
    const server = await serve();
    const client = await connect(server);
    await rejection(client.login({ username, accessToken: bad, method: 'xoauth2' }), 'POP3_ERR_AUTH');
    expect(server.sessions[0]!.events).toContain(`S: + ${GMAIL_ERROR}`);
    const bearer = await serve();
    const other = await connect(bearer);
    await rejection(other.login({ username, accessToken: bad, method: 'oauthbearer' }), 'POP3_ERR_AUTH');
    expect(bearer.sessions[0]!.events).toContain(`S: + ${BEARER_ERROR}`);
  });

  it('RFC 5034 §4: an AUTH line of exactly 255 octets carries the initial response; one more does not', async () => {
    // 'AUTH XOAUTH2 ' + base64(payload) + CR LF; the payload is 25 bytes plus the token.
    const fits = 'T'.repeat(155);
    const tooLong = 'T'.repeat(156);
    expect(`AUTH XOAUTH2 ${xoauth2(fits)}\r\n`.length).toBe(255);
    expect(`AUTH XOAUTH2 ${xoauth2(tooLong)}\r\n`.length).toBeGreaterThan(255);
    await runCase(
      { users: [{ username, accessToken: fits }] },
      { username, accessToken: fits, method: 'xoauth2' },
      { lines: () => [`AUTH XOAUTH2 ${xoauth2(fits)}`], outcome: 'ok' },
    );
    await runCase(
      { users: [{ username, accessToken: tooLong }] },
      { username, accessToken: tooLong, method: 'xoauth2' },
      { lines: () => ['AUTH XOAUTH2', xoauth2(tooLong)], outcome: 'ok' },
    );
  });
});

describe("method 'auto' picks the strongest mechanism offered", () => {
  type AutoCase = [
    name: string,
    server: ScriptedServerOptions,
    credentials: Pop3Credentials,
    first: RegExp | ErrorCode,
  ];
  const cases: AutoCase[] = [
    [
      'CRAM-MD5 over PLAIN and LOGIN',
      { saslMechanisms: ['PLAIN', 'LOGIN', 'CRAM-MD5'] },
      { username, password },
      /^AUTH CRAM-MD5$/,
    ],
    ['PLAIN over LOGIN', { saslMechanisms: ['LOGIN', 'PLAIN'] }, { username, password }, /^AUTH PLAIN /],
    ['LOGIN when it is the only one', { saslMechanisms: ['LOGIN'] }, { username, password }, /^AUTH LOGIN$/],
    ['USER/PASS without SASL', { saslMechanisms: [] }, { username, password }, /^USER alice$/],
    ['XOAUTH2 for a token', {}, { username, accessToken }, /^AUTH XOAUTH2 /],
    [
      'OAUTHBEARER for a token when XOAUTH2 is missing',
      { saslMechanisms: ['PLAIN', 'OAUTHBEARER'] },
      { username, accessToken },
      /^AUTH OAUTHBEARER /,
    ],
    [
      'a token but no OAuth mechanism',
      { saslMechanisms: ['PLAIN'] },
      { username, accessToken },
      'POP3_ERR_AUTH_UNSUPPORTED',
    ],
  ];
  it.each(cases)('%s', async (_name, serverOptions, credentials, first) => {
    const server = await serve(serverOptions);
    const client = await connect(server);
    if (typeof first === 'string') {
      await rejection(client.login(credentials), first);
      expect(server.count()).toBe(1); // CAPA only
      return;
    }
    await client.login(credentials);
    expect(server.sessions[0]!.received[1]?.line).toMatch(first);
  });
});

describe('implicit TLS (the scripted server given a key and certificate)', () => {
  it('logs in with PLAIN without allowInsecureAuth, certificate verified', async () => {
    const { key, cert } = await localhostCertificate();
    const server = await serve({ tls: { key, cert } });
    const client = await connect(server, {
      tls: 'implicit',
      allowInsecureAuth: false,
      ca: cert,
      servername: 'localhost',
    });
    expect(client.secure).toBe(true);
    await client.login({ username, password });
    expect(server.sessions[0]!.received[1]?.line).toMatch(/^AUTH CRAM-MD5$/);
    await client.quit();
  });
});

describe('credentials stay secret', () => {
  const methods = ['user', 'apop', 'plain', 'login', 'cram-md5', 'xoauth2', 'oauthbearer'] as const;

  it.each(methods)('%s over plaintext without allowInsecureAuth → POP3_ERR_INSECURE, nothing sent', async (method) => {
    const server = await serve();
    const client = await connect(server, { allowInsecureAuth: false });
    await rejection(client.login({ username, password, accessToken, method }), 'POP3_ERR_INSECURE');
    expect(server.sessions[0]!.received.map((r) => r.line)).toEqual(['CAPA']);
  });

  it('a CR or LF in a credential is refused before anything is sent, without echoing it', async () => {
    const server = await serve();
    const client = await connect(server);
    const error = await rejection(
      client.login({ username, password: 'pw\r\nDELE 1', method: 'user' }),
      'POP3_ERR_AUTH',
    );
    expect(error.message).not.toContain('pw');
    expect(server.count()).toBe(1);
  });

  it('no password, token or encoding of them reaches the trace or any error', async () => {
    const secrets = [password, accessToken, LONG_TOKEN, 'wrong-Secret', 'ya29.bad-SECRET'];
    const forbidden = secrets.flatMap((s) => [s, b64(s)]);
    for (const s of secrets) {
      forbidden.push(xoauth2(s), b64(`\0${username}\0${s}`));
    }
    const trace: string[] = [];
    const errors: unknown[] = [];
    const attempts: Array<[ScriptedServerOptions, Pop3Credentials]> = [];
    for (const method of methods) {
      attempts.push([{}, { username, password, accessToken, method }]);
      attempts.push([{}, { username, password: 'wrong-Secret', accessToken: 'ya29.bad-SECRET', method }]);
      attempts.push([
        { oauthErrors: 'direct' },
        { username, password: 'wrong-Secret', accessToken: LONG_TOKEN, method },
      ]);
    }
    attempts.push([
      { faults: { override: onVerb('PASS', reply(`-ERR [IN-USE] locked\r\n`)) } },
      { username, password, method: 'user' },
    ]);
    for (const [options, credentials] of attempts) {
      const server = await serve(options);
      const client = await connect(server, { trace: (d, line) => trace.push(`${d}: ${line}`) });
      try {
        await client.login(credentials);
        await client.quit();
      } catch (error) {
        errors.push(error);
      }
    }
    expect(errors.length).toBeGreaterThan(10);
    expect(trace.some((l) => l.startsWith('C: PASS'))).toBe(true);
    const texts = [
      ...trace,
      ...errors.flatMap((e) => {
        const error = e as BridgeError;
        expect(error).toBeInstanceOf(BridgeError);
        return [error.message, error.stack ?? '', JSON.stringify(error.toJSON()), String(error.cause ?? '')];
      }),
    ];
    for (const text of texts) {
      for (const secret of forbidden) expect(text.includes(secret), `${text} contains a secret`).toBe(false);
    }
  });
});
