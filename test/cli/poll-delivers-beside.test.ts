/**
 * `pop3-bridge poll` sends webhooks while it stores messages, as `run` does,
 * instead of after the last one: when the receiver gets its first event, the
 * poll has stored only part of the mailbox. Before, every message was stored
 * (and its record written) before the first POST. Every event still arrives
 * exactly once, and the summary counts them all.
 */
import { readdirSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Webhook } from 'standardwebhooks';
import { expect, it } from 'vitest';
import { dovecotFromInjected } from '../support/dovecot.js';
import { runCli } from '../support/run-cli.js';

const dovecot = dovecotFromInjected();
const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const COUNT = 300;

/** Raw messages the store holds now (files under <store>/mail/raw). */
function storedRaw(dir: string): number {
  try {
    return readdirSync(path.join(dir, 'state', 'mail', 'raw'), { recursive: true }).filter((f) =>
      String(f).endsWith('.eml'),
    ).length;
  } catch {
    return 0;
  }
}

it('poll delivers beside the poll: the first event arrives before the last message is stored', async () => {
  // ~100 KB each, so the poll takes long enough (about a second here) to be seen from the outside.
  const account = await dovecot.createMailbox(
    Array.from({ length: COUNT }, (_, i) =>
      Buffer.from(
        `From: <s${i}@example.test>\r\nSubject: beside ${i}\r\nMessage-ID: <beside${i}@x>\r\n\r\n${`line ${i} of a longer body\r\n`.repeat(4000)}`,
      ),
    ),
  );
  const dir = await mkdtemp(path.join(tmpdir(), 'pop3-bridge-poll-beside-'));
  const ids = new Set<string>();
  let storedAtFirstEvent: number | undefined;
  let bad = 0;
  const server = createServer((req, res) => {
    storedAtFirstEvent ??= storedRaw(dir);
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      try {
        new Webhook(SECRET).verify(body, req.headers as Record<string, string>);
        ids.add(String(req.headers['webhook-id']));
        res.writeHead(204).end();
      } catch {
        bad += 1;
        res.writeHead(400).end();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    await writeFile(path.join(dir, 'ca.pem'), dovecot.facts.caPem);
    await writeFile(
      path.join(dir, 'pop3-bridge.json'),
      JSON.stringify({
        store: { dir: 'state' },
        webhookAllowList: ['127.0.0.1'],
        links: { listen: '127.0.0.1:0' },
        mailboxes: [
          {
            name: 'beside',
            host: dovecot.facts.host,
            port: dovecot.facts.tlsPort,
            servername: dovecot.facts.servername,
            ca: path.join(dir, 'ca.pem'),
            username: account.user,
            password: account.password,
            webhooks: [
              {
                url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
                secret: SECRET,
                allowHttp: true,
              },
            ],
          },
        ],
      }),
    );
    const polled = await runCli(dir, ['poll', '--json']);
    expect(polled.code, polled.stderr).toBe(0);
    const out = JSON.parse(polled.stdout) as {
      results: Array<{ status: string; fetched: number }>;
      delivery: { attempted: number; delivered: number };
    };
    expect(out.results[0]).toMatchObject({ status: 'ok', fetched: COUNT });
    expect(out.delivery).toMatchObject({ attempted: COUNT, delivered: COUNT });
    expect(ids.size).toBe(COUNT);
    expect(bad).toBe(0);
    expect(storedRaw(dir)).toBe(COUNT);
    // Sending only after the poll, the store held all 300 at the first event.
    expect(storedAtFirstEvent).toBeLessThan(COUNT);
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await rm(dir, { recursive: true, force: true });
  }
});
