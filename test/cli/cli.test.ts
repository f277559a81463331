/**
 * The `pop3-bridge` command line, run as a real process (bin/pop3-bridge.js)
 * against the test Dovecot: exit codes, JSON output, one bad mailbox skipped
 * while the others run, nothing changed by check and ls, and status.
 */
import { mkdir, mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dovecotFromInjected } from '../support/dovecot.js';
import { runCli } from '../support/run-cli.js';

const dovecot = dovecotFromInjected();
const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

function mail(i: number): Buffer {
  return Buffer.from(
    `From: Sender ${i} <s${i}@example.test>\r\nSubject: Hello ${i}\r\nMessage-ID: <cli${i}@x>\r\n\r\nbody ${i}\r\n`,
  );
}

let dir: string;
let account: { user: string; password: string };
let receiver: Server;
const received: Array<{ headers: IncomingHttpHeaders; body: string }> = [];

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'pop3-bridge-cli-'));
  receiver = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8'); // characters split between chunks stay whole
    req.on('data', (d: string) => (body += d));
    req.on('end', () => {
      received.push({ headers: req.headers, body });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const hookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
  account = await dovecot.createMailbox([mail(1), mail(2), mail(3)]);
  await writeFile(path.join(dir, 'ca.pem'), dovecot.facts.caPem);
  const config = {
    store: { dir: 'state' },
    // The receiver is on loopback, which the SSRF guard refuses unless allow-listed.
    webhookAllowList: ['127.0.0.1'],
    links: { listen: '127.0.0.1:0' },
    mailboxes: [
      {
        name: 'main',
        host: dovecot.facts.host,
        port: dovecot.facts.tlsPort,
        tls: 'implicit',
        servername: dovecot.facts.servername,
        ca: path.join(dir, 'ca.pem'),
        username: account.user,
        // biome-ignore lint/suspicious/noTemplateCurlyInString: a literal ${VAR} for the config's env substitution
        password: '${TEST_POP3_PASSWORD}',
        webhooks: [{ url: hookUrl, secret: SECRET, allowHttp: true }],
      },
      // Invalid: reported with its path and skipped; 'main' still runs.
      { name: 'broken', host: dovecot.facts.host, port: 70000, username: 'x', password: 'y', webhooks: [] },
    ],
  };
  await writeFile(path.join(dir, 'pop3-bridge.json'), JSON.stringify(config, null, 2));
});

afterAll(async () => {
  receiver.closeAllConnections();
  await new Promise((resolve) => receiver.close(resolve));
  await rm(dir, { recursive: true, force: true });
});

const env = () => ({ TEST_POP3_PASSWORD: account.password });

describe('pop3-bridge CLI', () => {
  it('check reports the mailbox, names the bad field of the skipped one, changes nothing, exits 1', async () => {
    const run = await runCli(dir, ['check'], env());
    expect(run.stderr).toContain('mailboxes[1].port');
    expect(run.stdout).toMatch(/main\s+127\.0\.0\.1:\d+ \(implicit\)\s+ok\s+3 /);
    expect(run.code).toBe(1);
    expect(run.stdout + run.stderr).not.toContain(account.password);
  });

  it('check --json with only the good mailbox exits 0', async () => {
    const run = await runCli(dir, ['check', 'main', '--json'], env());
    expect(run.code).toBe(0);
    const report = JSON.parse(run.stdout) as {
      mailboxes: Array<{ mailbox: string; ok: boolean; messages: number; secure: boolean }>;
    };
    expect(report.mailboxes).toEqual([
      expect.objectContaining({ mailbox: 'main', ok: true, messages: 3, secure: true }),
    ]);
  });

  it('ls shows From and Subject of the new messages and fetches nothing', async () => {
    const run = await runCli(dir, ['ls', 'main', '--json'], env());
    expect(run.code).toBe(0);
    const out = JSON.parse(run.stdout) as {
      mailboxes: Array<{ total: number; messages: Array<{ from: string; subject: string }> }>;
    };
    expect(out.mailboxes[0]?.total).toBe(3);
    expect(out.mailboxes[0]?.messages.map((m) => m.subject)).toEqual(['Hello 1', 'Hello 2', 'Hello 3']);
    expect(out.mailboxes[0]?.messages[0]?.from).toContain('s1@example.test');
  });

  it('poll stores, queues and delivers signed events; a second poll fetches nothing; status shows the counts', async () => {
    const first = await runCli(dir, ['poll', 'main', '--json', '--no-deliver'], env());
    expect(first.code, first.stderr).toBe(0);
    expect(JSON.parse(first.stdout).results[0]).toMatchObject({ mailbox: 'main', status: 'ok', fetched: 3 });
    // Logs are JSON lines with the mailbox and uid, never the password.
    const logs = first.stderr
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(logs.some((l) => l.msg === 'message stored' && l.mailbox === 'main' && typeof l.uid === 'string')).toBe(
      true,
    );
    expect(first.stderr).not.toContain(account.password);

    // A put killed mid-write leaves its temp file; the next poll removes those older than a day, not newer ones.
    const tmp = path.join(dir, 'state', 'mail', 'tmp', 'raw');
    await mkdir(tmp, { recursive: true });
    await writeFile(path.join(tmp, 'stale.part'), 'half a message');
    await writeFile(path.join(tmp, 'recent.part'), 'half a message');
    const twoDaysAgo = new Date(Date.now() - 2 * 86_400_000);
    await utimes(path.join(tmp, 'stale.part'), twoDaysAgo, twoDaysAgo);

    const second = await runCli(dir, ['poll', 'main', '--json', '--no-deliver'], env());
    expect(JSON.parse(second.stdout).results[0]).toMatchObject({ status: 'ok', fetched: 0, path: 'idle' });
    expect((await readdir(tmp)).sort()).toEqual(['recent.part']);
    expect(second.stderr).toContain('"msg":"removed temp files left by an interrupted store"');
    await rm(path.join(tmp, 'recent.part'));

    const status = await runCli(dir, ['status', '--json'], env());
    // 'broken' is skipped for its config: status says so in its exit code too (it exited 0).
    expect(status.code).toBe(1);
    expect(JSON.parse(status.stdout).skipped).toEqual(['broken']);

    const rows = JSON.parse(status.stdout).mailboxes as Array<{
      mailbox: string;
      state: { storedCount: number };
      deliveries: { pending: number };
    }>;
    expect(rows.find((r) => r.mailbox === 'main')).toMatchObject({
      state: { storedCount: 3 },
      deliveries: { pending: 3 },
    });

    const deliver = await runCli(dir, ['deliver', '--json'], env());
    expect(deliver.code, deliver.stderr).toBe(0);
    expect(JSON.parse(deliver.stdout)).toMatchObject({ attempted: 3, delivered: 3 });
    expect(received).toHaveLength(3);
    const subjects = received.map((r) => {
      const event = new Webhook(SECRET).verify(r.body, r.headers as Record<string, string>) as {
        type: string;
        data: { mailbox: string; subject: string };
      };
      expect(event.type).toBe('email.received');
      expect(event.data.mailbox).toBe('main');
      return event.data.subject;
    });
    expect(subjects.sort()).toEqual(['Hello 1', 'Hello 2', 'Hello 3']);

    // Replay sends the same event again under the same webhook-id.
    const listed = await runCli(dir, ['deliveries', 'main', '--status', 'delivered', '--json'], env());
    const uid = JSON.parse(listed.stdout).deliveries[0].uid as string;
    const replay = await runCli(dir, ['replay', 'main', uid, '--json'], env());
    expect(JSON.parse(replay.stdout)).toMatchObject({ replayed: 1, delivered: 1 });
    expect(received).toHaveLength(4);
    const ids = received.map((r) => r.headers['webhook-id']);
    expect(ids.filter((id) => id === ids[3])).toHaveLength(2);

    const shown = await runCli(dir, ['events', 'show', 'main', uid], env());
    expect(shown.code).toBe(0);
    expect(JSON.parse(shown.stdout)).toMatchObject({ type: 'email.received', data: { mailbox: 'main', uid } });
  });

  it('an unset environment variable is a config error naming the variable, exit 2', async () => {
    const run = await runCli(dir, ['check', 'main'], {});
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('TEST_POP3_PASSWORD');
  });

  it('usage errors exit 2', async () => {
    expect((await runCli(dir, ['frobnicate'], env())).code).toBe(2);
    expect((await runCli(dir, ['check', '--no-such-flag'], env())).code).toBe(2);
    expect((await runCli(dir, [], env())).code).toBe(2);
  });

  it('a numeric option that is not a whole number ≥ 1 is a usage error (exit 2), not a silent no-op', async () => {
    // `Number('abc')` let `ls --limit abc` show nothing and exit 0, and `run --concurrency 0` poll nothing.
    for (const args of [
      ['ls', '--limit', 'abc'],
      ['ls', '--limit', '0'],
      ['run', '--concurrency', '0', '--max-passes', '1'],
      ['run', '--concurrency', '2', '--max-passes', 'x'],
      ['deliveries', '--limit', '1.5'],
    ]) {
      const run = await runCli(dir, args, env());
      expect([args.join(' '), run.code]).toEqual([args.join(' '), 2]);
      expect(run.stderr).toMatch(/--(limit|concurrency|max-passes) must be a positive integer/);
    }
  });
});
