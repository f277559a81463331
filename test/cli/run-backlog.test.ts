/**
 * `pop3-bridge run` drains a delivery backlog larger than one delivery round
 * (a round claims at most 100 jobs) without waiting for the next poll: a
 * round that found work starts the next one at once. Before, each further
 * round waited for the scheduler's next pass, up to 5 s between polls, so
 * the 320 events below took three such waits (≥ 10 s) after the first 100.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Webhook } from 'standardwebhooks';
import { expect, it } from 'vitest';
import { dovecotFromInjected } from '../support/dovecot.js';
import { CLI_BIN, runCli } from '../support/run-cli.js';

const dovecot = dovecotFromInjected();
const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const COUNT = 320;

it('run delivers a queued backlog of several rounds back to back, each event once', async () => {
  const messages = Array.from({ length: COUNT }, (_, i) =>
    Buffer.from(
      `From: <s${i}@example.test>\r\nSubject: backlog ${i}\r\nMessage-ID: <backlog${i}@x>\r\n\r\nbody ${i}\r\n`,
    ),
  );
  const account = await dovecot.createMailbox(messages);
  const dir = await mkdtemp(path.join(tmpdir(), 'pop3-bridge-run-backlog-'));
  const arrivals: number[] = [];
  const ids = new Set<string>();
  let bad = 0;
  let allArrived: () => void = () => {};
  const complete = new Promise<void>((resolve) => (allArrived = resolve));
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      try {
        new Webhook(SECRET).verify(body, req.headers as Record<string, string>);
        ids.add(String(req.headers['webhook-id']));
        arrivals.push(performance.now());
        if (arrivals.length === COUNT) allArrived();
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
            name: 'backlog',
            host: dovecot.facts.host,
            port: dovecot.facts.tlsPort,
            servername: dovecot.facts.servername,
            ca: path.join(dir, 'ca.pem'),
            username: account.user,
            password: account.password,
            // The next poll is an hour away: only the delivery rounds themselves can move the backlog.
            pollIntervalSeconds: 3600,
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
    // Queue every event first, so the backlog is there before `run` starts.
    const queued = await runCli(dir, ['poll', '--no-deliver']);
    expect(queued.code, queued.stderr).toBe(0);
    expect(arrivals).toHaveLength(0);

    const child = spawn(process.execPath, [CLI_BIN, 'run'], { cwd: dir });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    await Promise.race([complete, exited]);
    child.kill('SIGTERM');
    const code = await exited;
    clearTimeout(killer);

    expect(code, stderr).toBe(0);
    expect(arrivals).toHaveLength(COUNT);
    expect(ids.size).toBe(COUNT);
    expect(bad).toBe(0);
    // Four rounds of at most 100: back to back they take well under a second here; one wait for the scheduler's
    // next pass alone would be 5 s.
    const spanMs = arrivals[COUNT - 1]! - arrivals[0]!;
    expect(spanMs).toBeLessThan(4_000);
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await rm(dir, { recursive: true, force: true });
  }
});
