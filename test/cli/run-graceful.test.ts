/**
 * `pop3-bridge run` stops gracefully on SIGTERM: it finishes the message in
 * progress, QUITs and exits 0; a later poll takes the rest, and nothing is
 * stored or queued twice.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect, it } from 'vitest';
import { SqliteStateStore } from '../../functions/local/sqlite-state-store.js';
import { dovecotFromInjected } from '../support/dovecot.js';

const dovecot = dovecotFromInjected();
const BIN = path.join(import.meta.dirname, '../../bin/pop3-bridge.js');

/**
 * A mailbox of `count` messages of ~200 KB (so a first sync takes long enough to be interrupted) and a config
 * for it in a new directory; the message ids carry `tag`.
 */
async function bulkMailbox(count: number, tag: string): Promise<string> {
  const messages = Array.from({ length: count }, (_, i) =>
    Buffer.from(
      `Subject: bulk ${i}\r\nMessage-ID: <${tag}${i}@x>\r\n\r\n${`${i} `.repeat(60_000).replace(/(.{76})/g, '$1\r\n')}\r\n`,
    ),
  );
  const account = await dovecot.createMailbox(messages);
  const dir = await mkdtemp(path.join(tmpdir(), 'pop3-bridge-run-'));
  await writeFile(path.join(dir, 'ca.pem'), dovecot.facts.caPem);
  await writeFile(
    path.join(dir, 'pop3-bridge.json'),
    JSON.stringify({
      store: { dir: 'state' },
      links: { listen: '127.0.0.1:0' },
      mailboxes: [
        {
          name: 'bulk',
          host: dovecot.facts.host,
          port: dovecot.facts.tlsPort,
          servername: dovecot.facts.servername,
          ca: path.join(dir, 'ca.pem'),
          username: account.user,
          password: account.password,
          webhooks: [{ url: 'https://hooks.example.test/in', secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' }],
        },
      ],
    }),
  );
  return dir;
}

it('SIGTERM during a large first sync: finish the current message, QUIT, exit 0; the next poll resumes', async () => {
  const count = 60;
  const dir = await bulkMailbox(count, 'bulk');
  try {
    const child = spawn(process.execPath, [BIN, 'run'], { cwd: dir });
    let stderr = '';
    let signalled = false;
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      const stored = stderr.split('"msg":"message stored"').length - 1;
      if (!signalled && stored >= 5) {
        signalled = true;
        child.kill('SIGTERM');
      }
    });
    // Within vitest's 30 s test timeout, so that a failing run never outlives the test.
    const killer = setTimeout(() => child.kill('SIGKILL'), 25_000);
    const code = await exited;
    clearTimeout(killer);
    expect(code, stderr).toBe(0);
    expect(stderr).toContain('"msg":"bridge stopped"');
    const stored = stderr.split('"msg":"message stored"').length - 1;
    expect(stored).toBeGreaterThanOrEqual(5);
    expect(stored).toBeLessThan(count);

    const state = new SqliteStateStore(path.join(dir, 'state', 'state.db'));
    expect(await state.listDeliveries({ mailbox: 'bulk' })).toHaveLength(stored);
    await state.close();

    const rest = spawn(process.execPath, [BIN, 'poll', '--json', '--no-deliver'], { cwd: dir });
    let out = '';
    rest.stdout.on('data', (d: Buffer) => (out += d.toString()));
    expect(await new Promise((resolve) => rest.on('close', resolve))).toBe(0);
    expect(JSON.parse(out).results[0]).toMatchObject({ status: 'ok', fetched: count - stored });
    const after = new SqliteStateStore(path.join(dir, 'state', 'state.db'));
    const jobs = await after.listDeliveries({ mailbox: 'bulk' });
    expect(jobs).toHaveLength(count);
    expect(new Set(jobs.map((j) => j.uid)).size).toBe(count);
    await after.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

it('a second signal stops run at once, with the shell code of that signal (143 for SIGTERM); nothing half-recorded', async () => {
  const dir = await bulkMailbox(30, 'twice');
  try {
    const child = spawn(process.execPath, [BIN, 'run'], { cwd: dir });
    let stderr = '';
    let signalled = false;
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (!signalled && stderr.includes('"msg":"message stored"')) {
        signalled = true;
        child.kill('SIGTERM');
        // The second one once the first has been taken (the graceful stop logs it).
        const again = setInterval(() => {
          if (stderr.includes('stopping: finishing the current message')) {
            clearInterval(again);
            child.kill('SIGTERM');
          }
        }, 5);
      }
    });
    const killer = setTimeout(() => child.kill('SIGKILL'), 25_000);
    const code = await exited;
    clearTimeout(killer);
    // It used to exit 130 (SIGINT's code) for a second SIGTERM too.
    expect(code, stderr).toBe(143);
    const state = new SqliteStateStore(path.join(dir, 'state', 'state.db'));
    const jobs = await state.listDeliveries({ mailbox: 'bulk' });
    const records = await state.getMessages(
      'bulk',
      jobs.map((j) => j.uid),
    );
    // Whatever was recorded is whole: a record and its job together.
    expect(records.size).toBe(jobs.length);
    await state.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
