/**
 * `drainDeliveries` (what `poll`, `deliver`, `replay` and `demo` send with)
 * goes on until a round finds nothing due. It used to stop after 50 rounds,
 * so a first sync of more than 5,000 messages (50 rounds of 100) delivered
 * 5,000 and left the rest queued. Here rounds of 2 jobs stand in for rounds
 * of 100: 120 queued events need 60 rounds. Real Dovecot, real local
 * runtime, a loopback receiver that verifies every signature.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Webhook } from 'standardwebhooks';
import { expect, it } from 'vitest';
import { drainDeliveries } from '../../functions/cli/commands/deliver.js';
import type { CliContext } from '../../functions/cli/context.js';
import { parseConfig } from '../../functions/config/validate.js';
import { silentLogger } from '../../functions/core/logger.js';
import { pollMailbox } from '../../functions/core/poll/poll-mailbox.js';
import { pollTargetOf } from '../../functions/core/poll/target.js';
import { openLocalRuntime } from '../../functions/local/runtime.js';
import { dovecotFromInjected } from '../support/dovecot.js';

const dovecot = dovecotFromInjected();
const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const COUNT = 120;

it('drains a queue of more than 50 rounds: every event delivered once', async () => {
  const account = await dovecot.createMailbox(
    Array.from({ length: COUNT }, (_, i) =>
      Buffer.from(
        `From: <s${i}@example.test>\r\nSubject: drain ${i}\r\nMessage-ID: <drain${i}@x>\r\n\r\nbody ${i}\r\n`,
      ),
    ),
  );
  const dir = await mkdtemp(path.join(tmpdir(), 'pop3-bridge-drain-'));
  const ids = new Set<string>();
  let posts = 0;
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      posts += 1;
      try {
        new Webhook(SECRET).verify(body, req.headers as Record<string, string>);
        ids.add(String(req.headers['webhook-id']));
        res.writeHead(204).end();
      } catch {
        res.writeHead(400).end();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    await writeFile(path.join(dir, 'ca.pem'), dovecot.facts.caPem);
    const { config } = parseConfig({
      store: { dir: path.join(dir, 'state') },
      webhookAllowList: ['127.0.0.1'],
      links: { listen: '127.0.0.1:0' },
      mailboxes: [
        {
          name: 'drain',
          host: dovecot.facts.host,
          port: dovecot.facts.tlsPort,
          servername: dovecot.facts.servername,
          ca: path.join(dir, 'ca.pem'),
          username: account.user,
          password: account.password,
          webhooks: [
            { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, secret: SECRET, allowHttp: true },
          ],
        },
      ],
    });
    const runtime = openLocalRuntime(config, { baseDir: dir });
    try {
      const mailbox = config.mailboxes[0]!;
      const polled = await pollMailbox(pollTargetOf(mailbox), runtime.depsFor(mailbox, silentLogger));
      expect(polled).toMatchObject({ status: 'ok', fetched: COUNT });
      expect(posts).toBe(0);

      const ctx = { logger: silentLogger } as unknown as CliContext;
      const result = await drainDeliveries(runtime, ctx, { limit: 2 });
      expect(result).toMatchObject({ attempted: COUNT, delivered: COUNT, retrying: 0, dead: 0 });
      expect(posts).toBe(COUNT);
      expect(ids.size).toBe(COUNT);
      expect((await runtime.state.countDeliveries('drain')).delivered).toBe(COUNT);
    } finally {
      await runtime.close();
    }
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await rm(dir, { recursive: true, force: true });
  }
});
