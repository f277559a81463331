/**
 * `pop3-bridge run` when one mailbox's poll rejects instead of returning a result: here the state store
 * refuses to release that mailbox's lease (a real SQLite error, from a trigger the test adds to the
 * database), which `pollMailbox` cannot turn into a failed result because it happens in its `finally`.
 * The other mailbox's first sync and the deliveries must go on: the failure is logged for that mailbox,
 * and the stores close only at shutdown. Before, the rejection ended `run`'s scheduler loop at once and
 * closed the SQLite store, the event workers and the link server underneath the other mailbox's poll and
 * the delivery round, and `run` exited 1 with the store error as if it were the whole bridge's.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect, it } from 'vitest';
import { SqliteStateStore } from '../../functions/local/sqlite-state-store.js';
import { oneMailboxConfig, startVerifyingReceiver } from '../support/cli-mailbox.js';
import { dovecotFromInjected } from '../support/dovecot.js';
import { stateWithLeaseReleaseFault } from '../support/lease-release-fault.js';
import { CLI_BIN } from '../support/run-cli.js';

const dovecot = dovecotFromInjected();
/** Messages of ~200 KB in the mailbox that keeps working: its first sync takes a few seconds. */
const BULK = 40;

function bulkMessage(i: number): Buffer {
  return Buffer.from(
    `Subject: bulk ${i}\r\nMessage-ID: <rejects-bulk${i}@x>\r\n\r\n${`${i} `.repeat(60_000).replace(/(.{76})/g, '$1\r\n')}\r\n`,
  );
}

it("run: one mailbox's poll rejecting leaves the other mailbox and the deliveries running; shutdown is clean", async () => {
  const bulk = await dovecot.createMailbox(Array.from({ length: BULK }, (_, i) => bulkMessage(i)));
  const faulty = await dovecot.createMailbox([
    Buffer.from('Subject: faulty\r\nMessage-ID: <rejects-faulty@x>\r\n\r\nbody\r\n'),
  ]);
  const dir = await mkdtemp(path.join(tmpdir(), 'pop3-bridge-run-rejects-'));
  let allArrived: () => void = () => {};
  const complete = new Promise<void>((resolve) => (allArrived = resolve));
  const receiver = await startVerifyingReceiver({ onVerified: (count) => count === BULK + 1 && allArrived() });
  try {
    const config = await oneMailboxConfig(dir, dovecot.facts, bulk, { name: 'bulk', webhookUrl: receiver.url });
    const [bulkMailbox] = config.mailboxes as Array<Record<string, unknown>>;
    config.mailboxes = [
      bulkMailbox,
      { ...bulkMailbox, name: 'faulty', username: faulty.user, password: faulty.password },
    ];
    await writeFile(path.join(dir, 'pop3-bridge.json'), JSON.stringify(config));
    // One fault in the state database: releasing mailbox 'faulty''s lease fails.
    const file = await stateWithLeaseReleaseFault(dir, 'faulty');

    const child = spawn(process.execPath, [CLI_BIN, 'run'], { cwd: dir });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    let exitedEarly = false;
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve)).then((code) => {
      exitedEarly = true;
      return code;
    });
    // Within vitest's 30 s test timeout, so that a failing run never outlives the test.
    const killer = setTimeout(() => child.kill('SIGKILL'), 25_000);
    await Promise.race([complete, exited]);
    const stillRunning = !exitedEarly;
    child.kill('SIGTERM');
    const code = await exited;
    clearTimeout(killer);

    expect(stillRunning, stderr).toBe(true);
    expect(code, stderr).toBe(0);
    const lines = stderr
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    // The failure is logged once, as a structured line naming the mailbox and the store's error code.
    const failed = lines.filter((l) => l.msg === 'poll ended with an unexpected error');
    expect(failed, stderr).toHaveLength(1);
    expect(failed[0]).toMatchObject({ level: 'error', mailbox: 'faulty', code: 'STATE_ERR_IO' });
    // It backs off: not polled again before its interval (300 s by default) has passed (the line's own time is
    // taken a moment after the one the next poll is counted from).
    const failedAt = Date.parse(String(failed[0]!.time));
    expect(Date.parse(String(failed[0]!.nextPollAt)) - failedAt).toBeGreaterThan(299_000);
    expect(stderr).not.toContain(faulty.password);
    // The other mailbox's sync and every delivery went through, each event once.
    expect(receiver.verified).toHaveLength(BULK + 1);
    expect(new Set(receiver.verified).size).toBe(BULK + 1);
    expect(receiver.bad()).toBe(0);
    expect(stderr).not.toMatch(/database connection is not open|delivery round failed/);
    expect(stderr).toContain('"msg":"bridge stopped"');

    const state = new SqliteStateStore(file);
    expect(await state.listDeliveries({ mailbox: 'bulk' })).toHaveLength(BULK);
    expect((await state.countDeliveries('bulk')).delivered).toBe(BULK);
    expect((await state.countDeliveries('faulty')).delivered).toBe(1);
    await state.close();
  } finally {
    await receiver.close();
    await rm(dir, { recursive: true, force: true });
  }
});
