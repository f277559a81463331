/**
 * Deliveries queued before a UIDL reset still go out — and replay — under
 * their original webhook-ids. The reset is real: Dovecot's UID bookkeeping is
 * removed between two polls (as a server migration or a rebuilt maildir
 * would), so the second poll finds the same messages under new UIDLs and
 * re-points their records (and, with them, their deliveries) by content hash.
 */
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { DeliveryJob } from '../../functions/core/ports.js';
import { dovecotFromInjected } from '../support/dovecot.js';
import { runCli } from '../support/run-cli.js';

const dovecot = dovecotFromInjected();
const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

let dir: string;
let account: { user: string; password: string };
let server: Server;
const got: Array<{ webhookId: string; uid: string }> = [];

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'pop3-bridge-uidl-reset-cli-'));
  server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8'); // characters split between chunks stay whole
    req.on('data', (d: string) => (body += d));
    req.on('end', () => {
      try {
        const event = new Webhook(SECRET).verify(body, req.headers as Record<string, string>) as {
          data: { uid: string };
        };
        got.push({ webhookId: String(req.headers['webhook-id']), uid: event.data.uid });
        res.writeHead(204).end();
      } catch {
        res.writeHead(400).end();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  // Reset detection needs a mailbox the bridge knew (at least 10 uids, docs/engine.md).
  const messages = Array.from({ length: 12 }, (_, i) =>
    Buffer.from(`Subject: reset ${i}\r\nMessage-ID: <reset${i}@x>\r\n\r\nbody ${i}\r\n`),
  );
  account = await dovecot.createMailbox(messages);
  await writeFile(path.join(dir, 'ca.pem'), dovecot.facts.caPem);
  const config = {
    store: { dir: 'state' },
    webhookAllowList: ['127.0.0.1'],
    links: { listen: '127.0.0.1:0' },
    mailboxes: [
      {
        name: 'inbox',
        host: dovecot.facts.host,
        port: dovecot.facts.tlsPort,
        tls: 'implicit',
        servername: dovecot.facts.servername,
        ca: path.join(dir, 'ca.pem'),
        username: account.user,
        // biome-ignore lint/suspicious/noTemplateCurlyInString: a literal ${VAR} for the config's env substitution
        password: '${TEST_POP3_PASSWORD}',
        webhooks: [
          {
            id: 'app',
            url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
            secret: SECRET,
            allowHttp: true,
          },
        ],
      },
    ],
  };
  await writeFile(path.join(dir, 'pop3-bridge.json'), JSON.stringify(config, null, 2));
});

afterAll(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
  await rm(dir, { recursive: true, force: true });
});

it('deliveries queued before a UIDL reset are sent, shown and replayed under their original webhook-ids', async () => {
  const run = (args: string[]) => runCli(dir, args, { TEST_POP3_PASSWORD: account.password });
  const first = await run(['poll', '--no-deliver', '--json']);
  expect(first.code, first.stderr).toBe(0);
  const queued = JSON.parse((await run(['deliveries', '--json'])).stdout).deliveries as DeliveryJob[];
  expect(queued).toHaveLength(12);

  // Forget Dovecot's UID bookkeeping. UIDVALIDITY is a timestamp: wait for a new second.
  const maildir = path.join(dovecot.facts.mailRoot, account.user);
  for (const name of await readdir(maildir)) {
    if (name.startsWith('dovecot')) await rm(path.join(maildir, name), { recursive: true, force: true });
  }
  await new Promise((resolve) => setTimeout(resolve, 1100));
  const second = await run(['poll', '--no-deliver', '--json']);
  expect(second.code, second.stderr).toBe(0);
  expect(JSON.parse(second.stdout).results[0]).toMatchObject({ fetched: 0, uidlReset: { matchedByHash: 12 } });

  // The queued deliveries now name the messages' new uids, under the webhook-ids they were queued with.
  const moved = JSON.parse((await run(['deliveries', '--json'])).stdout).deliveries as DeliveryJob[];
  expect(moved.map((j) => j.webhookId).sort()).toEqual(queued.map((j) => j.webhookId).sort());
  const oldUids = new Set(queued.map((j) => j.uid));
  expect(moved.every((j) => !oldUids.has(j.uid))).toBe(true);

  const deliver = await run(['deliver', '--json']);
  expect(deliver.code, deliver.stderr).toBe(0);
  expect(JSON.parse(deliver.stdout)).toMatchObject({ attempted: 12, delivered: 12 });
  expect(got.map((r) => r.webhookId).sort()).toEqual(queued.map((j) => j.webhookId).sort());

  const job = moved[0]!;
  const shown = await run(['events', 'show', `inbox/${job.uid}`]);
  expect(shown.code, shown.stderr).toBe(0);
  expect(JSON.parse(shown.stdout)).toMatchObject({ data: { uid: job.uid } });
  const replay = await run(['replay', job.webhookId, '--json']);
  expect(replay.code, replay.stderr).toBe(0);
  expect(JSON.parse(replay.stdout)).toMatchObject({ replayed: 1, delivered: 1 });
  expect(got).toHaveLength(13);
  expect(got[12]).toEqual({ webhookId: job.webhookId, uid: job.uid });
});
