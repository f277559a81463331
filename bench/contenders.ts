/**
 * The programs the benchmarks time: our client, a raw pipelined `node:tls`
 * loop (the floor for any Node client), mpop and fetchmail, each pointed at a
 * benchmark Dovecot over implicit TLS on 127.0.0.1.
 */
import { once } from 'node:events';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import tls from 'node:tls';
import { Pop3Client } from '../functions/pop3/client.js';
import type { DovecotFacts, MailboxCredentials } from '../test/support/dovecot.js';
import { applyShims } from './shims.js';
import { moveToTrash, type ProcessResult, runProcess, setAside } from './support.js';

/** Known bugs of the code under test, worked around in memory (see shims.ts); empty once they are fixed. */
export const SHIMS = applyShims();

/** A bound on any single external run: far above any expected figure, so only a hang hits it. */
const PROCESS_TIMEOUT_MS = 30 * 60_000;

export async function connectOurs(facts: DovecotFacts, account: MailboxCredentials): Promise<Pop3Client> {
  const client = await Pop3Client.connect({
    host: facts.host,
    port: facts.tlsPort,
    tls: 'implicit',
    ca: facts.caPem,
    servername: facts.servername,
  });
  await client.login({ username: account.user, password: account.password });
  return client;
}

/**
 * A bare TLS connection for the raw baselines, with a line reader. Safe without
 * buffering: the server speaks only after a command, and `once` is armed right
 * after each write. `unread()` tells how many bytes arrived past the last line.
 */
async function rawSession(
  facts: DovecotFacts,
): Promise<{ socket: tls.TLSSocket; readLine(): Promise<string>; unread(): number }> {
  const socket = tls.connect({ host: facts.host, port: facts.tlsPort, servername: facts.servername, ca: facts.caPem });
  socket.setNoDelay(true);
  await once(socket, 'secureConnect');
  let pending = '';
  const readLine = async (): Promise<string> => {
    for (;;) {
      const nl = pending.indexOf('\r\n');
      if (nl !== -1) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 2);
        return line;
      }
      const [chunk] = (await once(socket, 'data')) as [Buffer];
      pending += chunk.toString('latin1');
    }
  };
  return { socket, readLine, unread: () => pending.length };
}

/**
 * The raw floor: TLS connect, USER/PASS one at a time, then every `RETR n`
 * written at once and bytes counted until N `CRLF.CRLF` terminators — no
 * parsing, no dot-unstuffing, nothing written anywhere.
 */
export async function rawPipelinedFetch(
  facts: DovecotFacts,
  account: MailboxCredentials,
  count: number,
): Promise<{ bytes: number; terminators: number }> {
  const { socket, readLine, unread } = await rawSession(facts);
  const expectOk = async (what: string) => {
    const line = await readLine();
    if (!line.startsWith('+OK')) throw new Error(`raw baseline: ${what} answered ${line}`);
  };
  await expectOk('greeting');
  socket.write(`USER ${account.user}\r\n`);
  await expectOk('USER');
  socket.write(`PASS ${account.password}\r\n`);
  await expectOk('PASS');
  if (unread() > 0) throw new Error('raw baseline: unexpected bytes after PASS');

  const TERMINATOR = Buffer.from('\r\n.\r\n');
  let terminators = 0;
  let bytes = 0;
  let tail = Buffer.alloc(0);
  const done = new Promise<void>((resolve, reject) => {
    socket.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      // A terminator split across chunks: look at the last 4 bytes before and the first 4 of this chunk.
      if (tail.length > 0) {
        const joint = Buffer.concat([tail, chunk.subarray(0, 4)]);
        for (let at = joint.indexOf(TERMINATOR); at !== -1 && at < tail.length; at = joint.indexOf(TERMINATOR, at + 1))
          terminators += 1;
      }
      for (let at = chunk.indexOf(TERMINATOR); at !== -1; at = chunk.indexOf(TERMINATOR, at + TERMINATOR.length))
        terminators += 1;
      tail = Buffer.from(chunk.subarray(Math.max(0, chunk.length - 4)));
      if (terminators >= count) resolve();
    });
    socket.once('error', reject);
    socket.once('close', () => reject(new Error(`raw baseline: closed after ${terminators} of ${count} messages`)));
  });
  socket.resume();
  let commands = '';
  for (let n = 1; n <= count; n += 1) commands += `RETR ${n}\r\n`;
  socket.write(commands);
  await done;
  socket.removeAllListeners('close');
  socket.end('QUIT\r\n');
  socket.destroy();
  return { bytes, terminators };
}

/**
 * The floor of any idle check: TLS connect, USER/PASS, STAT, `UIDL n`, QUIT,
 * one command at a time, no parsing beyond the status. On Dovecot most of it
 * is the server opening (syncing) the mailbox at login.
 */
export async function rawIdleFloor(facts: DovecotFacts, account: MailboxCredentials): Promise<void> {
  const { socket, readLine } = await rawSession(facts);
  const command = async (line: string | undefined): Promise<string> => {
    if (line !== undefined) socket.write(`${line}\r\n`);
    const reply = await readLine();
    if (!reply.startsWith('+OK')) throw new Error(`raw idle floor: ${line ?? 'greeting'} answered ${reply}`);
    return reply;
  };
  await command(undefined);
  await command(`USER ${account.user}`);
  await command(`PASS ${account.password}`);
  const count = Number.parseInt((await command('STAT')).split(' ')[1] ?? '0', 10);
  if (count > 0) await command(`UIDL ${count}`);
  await command('QUIT');
  socket.destroy();
}

// ---------------------------------------------------------------- mpop

export interface MpopSetup {
  readonly conf: string;
  readonly maildir: string;
  readonly uidls: string;
}

/**
 * An mpop config for one account: implicit TLS (tls_starttls off) to
 * 127.0.0.1, verified against the benchmark CA; the certificate is issued for
 * `localhost`, so host verification uses that name (tls_host_override).
 * Leave mode (keep), only new messages, pipelining as the server offers,
 * delivery into a maildir.
 */
export async function mpopSetup(dir: string, facts: DovecotFacts, account: MailboxCredentials): Promise<MpopSetup> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const ca = path.join(dir, 'ca.pem');
  await writeFile(ca, facts.caPem);
  const maildir = path.join(dir, 'maildir');
  const uidls = path.join(dir, 'uidls');
  const conf = path.join(dir, 'mpoprc');
  await writeFile(
    conf,
    [
      'defaults',
      'account bench',
      `host ${facts.host}`,
      `port ${facts.tlsPort}`,
      'tls on',
      'tls_starttls off',
      `tls_trust_file ${ca}`,
      `tls_host_override ${facts.servername}`,
      'auth on',
      `user ${account.user}`,
      `password ${account.password}`,
      'keep on',
      'only_new on',
      'pipelining auto',
      `delivery maildir ${maildir}`,
      `uidls_file ${uidls}`,
      'account default : bench',
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  return { conf, maildir, uidls };
}

/** An empty maildir and, with `forget`, no uidls file: the next run fetches everything. */
export async function mpopReset(setup: MpopSetup, forget: boolean): Promise<void> {
  await setAside(setup.maildir);
  for (const sub of ['cur', 'new', 'tmp']) await mkdir(path.join(setup.maildir, sub), { recursive: true });
  if (forget) await moveToTrash(setup.uidls);
}

export async function runMpop(setup: MpopSetup): Promise<ProcessResult> {
  const result = await runProcess('mpop', ['-C', setup.conf, '-q', 'bench'], { timeoutMs: PROCESS_TIMEOUT_MS });
  if (result.code !== 0) throw new Error(`mpop exited with ${result.code ?? result.signal}: ${result.stderr.trim()}`);
  return result;
}

export async function countFiles(dir: string): Promise<number> {
  return (await readdir(dir)).length;
}

// ---------------------------------------------------------------- fetchmail

export interface FetchmailSetup {
  readonly rc: string;
  readonly home: string;
  readonly idfile: string;
}

/**
 * A fetchmail rcfile for one account over implicit TLS, certificate checked
 * against the benchmark CA for the name `localhost` (sslcommonname), keep +
 * uidl with `fastuidl 1` (binary search for the first unseen message on every
 * poll). Mail goes to a BSMTP file, so delivery costs no process per message.
 */
export async function fetchmailSetup(
  dir: string,
  facts: DovecotFacts,
  account: MailboxCredentials,
): Promise<FetchmailSetup> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const ca = path.join(dir, 'ca.pem');
  await writeFile(ca, facts.caPem);
  const rc = path.join(dir, 'fetchmailrc');
  const idfile = path.join(dir, 'fetchids');
  await writeFile(
    rc,
    [
      `set idfile "${idfile}"`,
      'set no syslog',
      `poll ${facts.host} protocol pop3 service ${facts.tlsPort} uidl`,
      `  user "${account.user}" there with password "${account.password}" is root here`,
      `  keep fastuidl 1 ssl sslcertck sslcertfile "${ca}" sslcommonname ${facts.servername}`,
      `  bsmtp "${path.join(dir, 'bsmtp.out')}"`,
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  return { rc, home: dir, idfile };
}

/** Exit 0: mail fetched; 1: no new mail (success for an idle poll). Anything else is an error. */
export async function runFetchmail(setup: FetchmailSetup): Promise<ProcessResult> {
  const result = await runProcess('fetchmail', ['-f', setup.rc, '--nodetach', '--silent'], {
    timeoutMs: PROCESS_TIMEOUT_MS,
    env: { ...process.env, FETCHMAILHOME: setup.home, HOME: setup.home },
  });
  if (result.code !== 0 && result.code !== 1) {
    throw new Error(`fetchmail exited with ${result.code ?? result.signal}: ${result.stderr.trim()}`);
  }
  return result;
}
