/**
 * `pop3-bridge run` with two webhooks, one of which never answers: new mail
 * still reaches the other at once. Before, a delivery round waited for the
 * silent endpoint's requests to time out (here 6 s) and `run` started the
 * next round only after that, so every new event for the answering endpoint
 * waited up to a timeout. A round now keeps claiming newly due jobs while it
 * waits (`refill`), with a slot kept free for them.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect, it } from 'vitest';
import { oneMailboxConfig, RECEIVER_SECRET, startVerifyingReceiver } from '../support/cli-mailbox.js';
import { dovecotFromInjected } from '../support/dovecot.js';
import { CLI_BIN, runCli } from '../support/run-cli.js';

const dovecot = dovecotFromInjected();
const HUNG_TIMEOUT_SECONDS = 6;

function message(i: number): Buffer {
  return Buffer.from(
    `From: <s${i}@example.test>\r\nSubject: hung ${i}\r\nMessage-ID: <hung${i}@x>\r\n\r\nbody ${i}\r\n`,
  );
}

it('run: an endpoint that never answers does not hold up new mail for another endpoint', async () => {
  const account = await dovecot.createMailbox([message(0)]);
  const dir = await mkdtemp(path.join(tmpdir(), 'pop3-bridge-run-hung-'));
  let hungRequests = 0;
  const hung = createServer(() => {
    hungRequests += 1;
  });
  await new Promise<void>((resolve) => hung.listen(0, '127.0.0.1', resolve));
  const hungUrl = `http://127.0.0.1:${(hung.address() as AddressInfo).port}/hook`;
  const arrived: Array<() => void> = [];
  const receiver = await startVerifyingReceiver({ onVerified: (count) => arrived[count - 1]?.() });
  const nth = (n: number) => new Promise<void>((resolve) => (arrived[n - 1] = resolve));
  const first = nth(1);
  const second = nth(2);
  try {
    const config = await oneMailboxConfig(dir, dovecot.facts, account, {
      name: 'hung',
      webhookUrl: receiver.url,
      // run's own next poll is an hour away: the second message is queued by a `poll --no-deliver` beside it.
      mailbox: { pollIntervalSeconds: 3600 },
    });
    const [mailbox] = config.mailboxes as Array<Record<string, unknown>>;
    mailbox!.webhooks = [
      { url: hungUrl, secret: RECEIVER_SECRET, allowHttp: true, timeoutSeconds: HUNG_TIMEOUT_SECONDS },
      ...(mailbox!.webhooks as object[]),
    ];
    await writeFile(path.join(dir, 'pop3-bridge.json'), JSON.stringify(config));

    const child = spawn(process.execPath, [CLI_BIN, 'run'], { cwd: dir });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    // Within vitest's 30 s test timeout, so that a failing run never outlives the test.
    const killer = setTimeout(() => child.kill('SIGKILL'), 25_000);
    await Promise.race([first, exited]);
    expect(receiver.verified, stderr).toHaveLength(1);

    // The first message's request to the silent endpoint is now waiting out its 6 s timeout. A second message
    // is queued (for both endpoints) by another process, as a cron-driven poll beside `run` would.
    await dovecot.appendMessages(account.user, [message(1)]);
    const queued = await runCli(dir, ['poll', '--no-deliver']);
    expect(queued.code, queued.stderr).toBe(0);
    const queuedAt = performance.now();
    await Promise.race([second, exited]);
    const tookMs = performance.now() - queuedAt;
    child.kill('SIGTERM');
    const code = await exited;
    clearTimeout(killer);

    expect(code, stderr).toBe(0);
    expect(receiver.verified).toHaveLength(2);
    expect(new Set(receiver.verified).size).toBe(2);
    expect(receiver.bad()).toBe(0);
    // A refill of the waiting round (every 250 ms) sends it, well within the silent endpoint's timeout. Before:
    // only once the round had waited that timeout out (≈ 5 s after the queueing here).
    expect(tookMs).toBeLessThan(2_500);
    expect(hungRequests).toBeGreaterThanOrEqual(1);
  } finally {
    hung.closeAllConnections();
    await new Promise((resolve) => hung.close(resolve));
    await receiver.close();
    await rm(dir, { recursive: true, force: true });
  }
});
