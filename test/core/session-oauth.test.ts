/**
 * openMailboxSession with OAuth2: a token the POP3 server refuses is not handed out again from the cache.
 * Before, a token fetched before the app was granted POP access (or one revoked since) kept failing every poll
 * until it expired, an hour later. Real loopback token endpoint and the scripted POP3 server's XOAUTH2.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, expect, it } from 'vitest';
import { parseConfig } from '../../functions/config/validate.js';
import { isBridgeError } from '../../functions/core/errors.js';
import { createTokenSource } from '../../functions/core/oauth/token-source.js';
import { openMailboxSession } from '../../functions/core/session.js';
import { type ScriptedServer, startScriptedServer } from '../../functions/scripted-server/index.js';

let endpoint: Server | undefined;
let pop3: ScriptedServer | undefined;
afterEach(async () => {
  endpoint?.closeAllConnections();
  await new Promise((resolve) => (endpoint ? endpoint.close(resolve) : resolve(undefined)));
  await pop3?.close();
});

it('a token the server refused is dropped, so the next session asks the endpoint for a new one', async () => {
  const issued = ['token-before-the-grant', 'token-after-the-grant'];
  let requests = 0;
  endpoint = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const token = issued[Math.min(requests, issued.length - 1)];
      requests += 1;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ access_token: token, expires_in: 3600 }));
    });
  });
  await new Promise<void>((resolve) => endpoint!.listen(0, '127.0.0.1', resolve));
  const tokenUrl = `http://127.0.0.1:${(endpoint.address() as AddressInfo).port}/token`;
  pop3 = await startScriptedServer({ users: [{ username: 'box@example.com', accessToken: 'token-after-the-grant' }] });
  const { config, problems } = parseConfig({
    mailboxes: [
      {
        name: 'm365',
        host: pop3.host,
        port: pop3.port,
        tls: 'none',
        allowInsecureAuth: true,
        username: 'box@example.com',
        method: 'xoauth2',
        oauth2: { provider: 'microsoft', tenantId: 't', clientId: 'app', clientSecret: 'app-s3cret' },
        webhooks: [{ url: 'https://hooks.example.com/a', secret: `whsec_${Buffer.alloc(32, 1).toString('base64')}` }],
      },
    ],
  });
  expect(problems).toEqual([]);
  const valid = config.mailboxes[0]!;
  // The config takes https token endpoints only; the endpoint here is plain HTTP on loopback.
  const mailbox = { ...valid, oauth2: { ...valid.oauth2!, tokenUrl } } as typeof valid;
  const tokens = createTokenSource();
  const refused = await openMailboxSession(mailbox, { tokens }).catch((error: unknown) => error);
  expect(isBridgeError(refused) && refused.code).toBe('POP3_ERR_AUTH');
  const client = await openMailboxSession(mailbox, { tokens });
  expect(requests).toBe(2);
  await client.quit();
});
