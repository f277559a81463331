/**
 * `pop3-bridge run` drains a delivery backlog larger than one delivery round
 * (a round claims at most 100 jobs) without waiting for the next poll: a
 * round that found work starts the next one at once. Before, each further
 * round waited for the scheduler's next pass, up to 5 s between polls, so
 * the 320 events below took three such waits (≥ 10 s) after the first 100.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect, it } from 'vitest';
import { startVerifyingReceiver, writeOneMailboxConfig } from '../support/cli-mailbox.js';
import { dovecotFromInjected } from '../support/dovecot.js';
import { CLI_BIN, runCli } from '../support/run-cli.js';

const dovecot = dovecotFromInjected();
const COUNT = 320;

it('run delivers a queued backlog of several rounds back to back, each event once', async () => {
  const account = await dovecot.createMailbox(
    Array.from({ length: COUNT }, (_, i) =>
      Buffer.from(
        `From: <s${i}@example.test>\r\nSubject: backlog ${i}\r\nMessage-ID: <backlog${i}@x>\r\n\r\nbody ${i}\r\n`,
      ),
    ),
  );
  const dir = await mkdtemp(path.join(tmpdir(), 'pop3-bridge-run-backlog-'));
  let allArrived: () => void = () => {};
  const complete = new Promise<void>((resolve) => (allArrived = resolve));
  const receiver = await startVerifyingReceiver({ onVerified: (count) => count === COUNT && allArrived() });
  try {
    await writeOneMailboxConfig(dir, dovecot.facts, account, {
      name: 'backlog',
      webhookUrl: receiver.url,
      // The next poll is an hour away: only the delivery rounds themselves can move the backlog.
      mailbox: { pollIntervalSeconds: 3600 },
    });
    // Queue every event first, so the backlog is there before `run` starts.
    const queued = await runCli(dir, ['poll', '--no-deliver']);
    expect(queued.code, queued.stderr).toBe(0);
    expect(receiver.verified).toHaveLength(0);

    const child = spawn(process.execPath, [CLI_BIN, 'run'], { cwd: dir });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    // Within vitest's 30 s test timeout, so that a failing run never outlives the test.
    const killer = setTimeout(() => child.kill('SIGKILL'), 25_000);
    await Promise.race([complete, exited]);
    child.kill('SIGTERM');
    const code = await exited;
    clearTimeout(killer);

    expect(code, stderr).toBe(0);
    expect(receiver.verified).toHaveLength(COUNT);
    expect(new Set(receiver.verified).size).toBe(COUNT);
    expect(receiver.bad()).toBe(0);
    // Four rounds of at most 100: back to back they take well under a second here; one wait for the scheduler's
    // next pass alone would be 5 s.
    const spanMs = receiver.arrivals[COUNT - 1]! - receiver.arrivals[0]!;
    expect(spanMs).toBeLessThan(4_000);
  } finally {
    await receiver.close();
    await rm(dir, { recursive: true, force: true });
  }
});
