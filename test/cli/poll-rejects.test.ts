/**
 * `pop3-bridge poll` when one mailbox's poll rejects instead of returning a result (the state store refuses
 * to release its lease: a real SQLite error from a trigger the test adds). Before, the rejection ended the
 * pass: the mailboxes after it were not polled at all. Now it is that mailbox's failure, reported with its
 * code, and the pass goes on.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect, it } from 'vitest';
import { SqliteStateStore } from '../../functions/local/sqlite-state-store.js';
import { oneMailboxConfig, startVerifyingReceiver } from '../support/cli-mailbox.js';
import { dovecotFromInjected } from '../support/dovecot.js';
import { stateWithLeaseReleaseFault } from '../support/lease-release-fault.js';
import { runCli } from '../support/run-cli.js';

const dovecot = dovecotFromInjected();

it("poll: one mailbox's poll rejecting does not stop the pass; the mailboxes after it are polled", async () => {
  const faulty = await dovecot.createMailbox([
    Buffer.from('Subject: faulty\r\nMessage-ID: <pr-faulty@x>\r\n\r\nbody\r\n'),
  ]);
  const healthy = await dovecot.createMailbox([Buffer.from('Subject: ok\r\nMessage-ID: <pr-ok@x>\r\n\r\nbody\r\n')]);
  const dir = await mkdtemp(path.join(tmpdir(), 'pop3-bridge-poll-rejects-'));
  const receiver = await startVerifyingReceiver();
  try {
    const config = await oneMailboxConfig(dir, dovecot.facts, faulty, { name: 'faulty', webhookUrl: receiver.url });
    const [first] = config.mailboxes as Array<Record<string, unknown>>;
    config.mailboxes = [first, { ...first, name: 'healthy', username: healthy.user, password: healthy.password }];
    await writeFile(path.join(dir, 'pop3-bridge.json'), JSON.stringify(config));
    const file = await stateWithLeaseReleaseFault(dir, 'faulty');

    const run = await runCli(dir, ['poll', '--json']);
    expect(run.code, run.stderr).toBe(1);
    const { results } = JSON.parse(run.stdout) as {
      results: Array<{ mailbox: string; status: string; fetched: number; error?: { code: string } }>;
    };
    expect(results.map((r) => [r.mailbox, r.status])).toEqual([
      ['faulty', 'error'],
      ['healthy', 'ok'],
    ]);
    expect(results[0]!.error?.code).toBe('STATE_ERR_IO');
    expect(results[1]!.fetched).toBe(1);
    expect(run.stderr).toContain('"msg":"poll ended with an unexpected error"');
    expect(run.stderr).not.toContain(faulty.password);
    const state = new SqliteStateStore(file);
    expect((await state.countDeliveries('healthy')).delivered).toBe(1);
    await state.close();
  } finally {
    await receiver.close();
    await rm(dir, { recursive: true, force: true });
  }
});
