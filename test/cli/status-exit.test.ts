/**
 * `pop3-bridge status` exits 1 when a mailbox is marked failing (an [AUTH] or [SYS/PERM] refusal), as it does for a
 * mailbox skipped for its config (test/cli/cli.test.ts), so that `pop3-bridge status || alert` works from cron.
 * It exited 0 whatever the state.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect, it } from 'vitest';
import { SqliteStateStore } from '../../functions/local/sqlite-state-store.js';
import { runCli } from '../support/run-cli.js';

it('status: 0 while every mailbox is well, 1 once one is marked failing, 0 again when it recovers', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'pop3-bridge-status-exit-'));
  try {
    const mailbox = {
      name: 'main',
      host: '127.0.0.1',
      port: 995,
      username: 'u',
      password: 'p',
      webhooks: [{ url: 'https://hooks.example/x', secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' }],
    };
    await writeFile(path.join(dir, 'pop3-bridge.json'), JSON.stringify({ mailboxes: [mailbox] }));
    const well = await runCli(dir, ['status', '--json']);
    expect(well.code, well.stderr).toBe(0);
    const stateFile = path.join(JSON.parse(well.stdout).store as string, 'state.db');

    const state = new SqliteStateStore(stateFile);
    const failing = { code: 'POP3_ERR_AUTH', message: 'authentication failed', at: Date.now() };
    await state.updateMailboxState('main', { failing: true, consecutiveFailures: 3, lastError: failing });
    await state.close();
    const unwell = await runCli(dir, ['status', '--json']);
    expect(unwell.code, unwell.stderr).toBe(1);
    expect(JSON.parse(unwell.stdout).mailboxes[0]).toMatchObject({ mailbox: 'main', state: { failing: true } });

    const again = new SqliteStateStore(stateFile);
    await again.updateMailboxState('main', { failing: false, consecutiveFailures: 0 });
    await again.close();
    expect((await runCli(dir, ['status'])).code).toBe(0);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
