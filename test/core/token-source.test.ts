/**
 * OAuth2 access tokens against a real loopback token endpoint: the Microsoft
 * client-credentials and Google refresh-token forms, caching until shortly
 * before expiry, and errors that name the OAuth error but never a secret.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { isBridgeError } from '../../functions/core/errors.js';
import { createTokenSource } from '../../functions/core/oauth/token-source.js';

let server: Server;
let url: string;
const forms: URLSearchParams[] = [];
let answer: { status: number; body: unknown } = { status: 200, body: {} };

beforeEach(async () => {
  forms.length = 0;
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      forms.push(new URLSearchParams(body));
      res.writeHead(answer.status, { 'content-type': 'application/json' }).end(JSON.stringify(answer.body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/token`;
});
afterEach(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const microsoft = () =>
  ({
    provider: 'microsoft',
    tenantId: 't',
    clientId: 'app-id',
    clientSecret: 'client-s3cret',
    scope: 'https://outlook.office365.com/.default',
    tokenUrl: url,
  }) as const;

it('Microsoft client credentials: posts the grant, caches the token until shortly before it expires', async () => {
  let now = 1_000_000;
  answer = { status: 200, body: { access_token: 'tok-1', expires_in: 3600 } };
  const tokens = createTokenSource({ now: () => now });
  expect(await tokens.accessToken(microsoft())).toBe('tok-1');
  expect(Object.fromEntries(forms[0]!)).toEqual({
    grant_type: 'client_credentials',
    client_id: 'app-id',
    client_secret: 'client-s3cret',
    scope: 'https://outlook.office365.com/.default',
  });
  now += 3000_000;
  expect(await tokens.accessToken(microsoft())).toBe('tok-1');
  expect(forms).toHaveLength(1);
  answer = { status: 200, body: { access_token: 'tok-2', expires_in: 3600 } };
  now += 500_000; // within two minutes of expiry: refreshed
  expect(await tokens.accessToken(microsoft())).toBe('tok-2');
  expect(forms).toHaveLength(2);
});

it('a cached token serves only the credentials it was granted for: another client secret goes to the endpoint', async () => {
  // Keyed without the secret, a mailbox with the same tenant and client id but any secret (even a wrong one) got
  // the first mailbox's token without the endpoint ever seeing its secret.
  answer = { status: 200, body: { access_token: 'tok-right', expires_in: 3600 } };
  const tokens = createTokenSource();
  expect(await tokens.accessToken(microsoft())).toBe('tok-right');
  answer = { status: 401, body: { error: 'invalid_client' } };
  const wrong = await tokens.accessToken({ ...microsoft(), clientSecret: 'WRONG' }).catch((error: unknown) => error);
  expect(isBridgeError(wrong) && wrong.code).toBe('OAUTH_ERR_TOKEN');
  expect(forms.map((f) => f.get('client_secret'))).toEqual(['client-s3cret', 'WRONG']);
  expect(await tokens.accessToken(microsoft())).toBe('tok-right'); // its own token is still cached
  expect(forms).toHaveLength(2);
});

it('forget drops the cached token of those credentials only', async () => {
  answer = { status: 200, body: { access_token: 'tok-1', expires_in: 3600 } };
  const tokens = createTokenSource();
  expect(await tokens.accessToken(microsoft())).toBe('tok-1');
  tokens.forget?.({ ...microsoft(), clientId: 'another-app' });
  expect(await tokens.accessToken(microsoft())).toBe('tok-1');
  expect(forms).toHaveLength(1);
  answer = { status: 200, body: { access_token: 'tok-2', expires_in: 3600 } };
  tokens.forget?.(microsoft());
  expect(await tokens.accessToken(microsoft())).toBe('tok-2');
  expect(forms).toHaveLength(2);
});

it('Google refresh token: posts the refresh grant', async () => {
  answer = { status: 200, body: { access_token: 'g-tok', expires_in: 3599 } };
  const token = await createTokenSource().accessToken({
    provider: 'google',
    clientId: 'cid',
    clientSecret: 'g-s3cret',
    refreshToken: 'r3fresh',
    tokenUrl: url,
  });
  expect(token).toBe('g-tok');
  expect(forms[0]?.get('grant_type')).toBe('refresh_token');
  expect(forms[0]?.get('refresh_token')).toBe('r3fresh');
});

it('a refused grant is OAUTH_ERR_TOKEN naming the OAuth error, not retryable for invalid_client, and holds no secret', async () => {
  answer = { status: 401, body: { error: 'invalid_client', error_description: 'bad secret client-s3cret' } };
  const error = await createTokenSource()
    .accessToken(microsoft())
    .catch((e: unknown) => e);
  expect(isBridgeError(error, 'OAUTH_ERR_TOKEN')).toBe(true);
  const e = error as { message: string; retryable: boolean; toJSON(): unknown };
  expect(e.message).toContain('invalid_client');
  expect(e.retryable).toBe(false);
  expect(`${e.message} ${JSON.stringify(e.toJSON())}`).not.toContain('s3cret');

  answer = { status: 503, body: {} };
  const transient = (await createTokenSource()
    .accessToken(microsoft())
    .catch((x: unknown) => x)) as { retryable: boolean; code: string };
  expect(transient).toMatchObject({ code: 'OAUTH_ERR_TOKEN', retryable: true });
});

it('a static token is returned as given, without a request', async () => {
  expect(await createTokenSource().accessToken({ provider: 'static', accessToken: 'abc' })).toBe('abc');
  expect(forms).toHaveLength(0);
});
