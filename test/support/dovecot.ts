import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants as fsConstants, rmSync } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp, readdir, readFile, rename, rm, utimes, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { promisify } from 'node:util';
import { inject } from 'vitest';

/**
 * A private Dovecot 2.3 POP3 server for integration tests: its own config, certificates, passwd-file and
 * maildirs in one temp dir, listening only on 127.0.0.1. The packaged service and /etc/dovecot are never used.
 */

const run = promisify(execFile);

const HOST = '127.0.0.1';
const SERVERNAME = 'localhost';
/** Bounded wait for both listeners to greet; Dovecot normally is ready in well under a second. */
const READY_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 5_000;
const START_ATTEMPTS = 5;
/** Maildir file names start with a Unix time; Dovecot assigns UIDs to new/ files in time order. */
const FIRST_TIMESTAMP = 1_700_000_000;

export const DOVECOT_NOT_INSTALLED =
  "Dovecot is not installed: run 'sudo apt-get install -y dovecot-core dovecot-pop3d' (or bash .ci/run)";

/** Everything a test worker needs to reach the server and create mailboxes; plain data, so vitest can `provide` it. */
export interface DovecotFacts {
  host: string;
  /** Plain POP3 port (port 110 style); Dovecot offers STLS here. */
  plainPort: number;
  /** Implicit TLS port (port 995 style). */
  tlsPort: number;
  /** The name the server certificate is issued for (SAN DNS:localhost, IP:127.0.0.1). */
  servername: string;
  /** The CA that signed the server certificate: verification must succeed with it. */
  caPem: string;
  /** An unrelated CA: verification must fail with it. */
  wrongCaPem: string;
  /** One passwd-file per user: `<passwdDir>/<user>`. */
  passwdDir: string;
  mailRoot: string;
  /** Owner of every maildir file: Dovecot's mail processes run as this uid and must read and rename them. */
  mailUid: number;
  mailGid: number;
  logPath: string;
}

export interface MailboxCredentials {
  user: string;
  password: string;
}

/**
 * A mailbox config (the bridge's schema) for one account on this Dovecot over implicit TLS, verified against
 * its CA; `fields` (mode, webhooks, …) complete or override it.
 */
export function mailboxConfigFor(
  name: string,
  facts: DovecotFacts,
  account: MailboxCredentials,
  fields: Record<string, unknown>,
): Record<string, unknown> {
  return {
    name,
    host: facts.host,
    port: facts.tlsPort,
    tls: 'implicit',
    ca: facts.caPem,
    servername: facts.servername,
    username: account.user,
    password: account.password,
    ...fields,
  };
}

export interface CreateMailboxOptions {
  user?: string;
  password?: string;
}

export interface DovecotMailboxes {
  /** Creates a new user whose mailbox lists `messages` as 1..N, in the given order. */
  createMailbox(messages: readonly Buffer[], opts?: CreateMailboxOptions): Promise<MailboxCredentials>;
  /** Delivers more messages to an existing mailbox; they sort after every message already there. */
  appendMessages(user: string, messages: readonly Buffer[]): Promise<void>;
  /** The message files on disk, as sorted `cur/<name>` and `new/<name>` paths (Dovecot's index files excluded). */
  mailboxFiles(user: string): Promise<string[]>;
}

export interface DovecotHandle extends DovecotMailboxes {
  readonly facts: DovecotFacts;
}

export interface DovecotInstance extends DovecotHandle {
  /** Stops Dovecot and removes the temp dir (see StartDovecotOptions). Safe to call more than once. */
  stop(): Promise<void>;
  /** The last lines of Dovecot's log, for failure messages. */
  logTail(lines?: number): Promise<string>;
  /** The master process (benchmarks charge Dovecot's CPU to it and its children). */
  readonly pid: number | undefined;
}

declare module 'vitest' {
  export interface ProvidedContext {
    dovecot: DovecotFacts;
  }
}

/** In a test file: the run-wide Dovecot started by the global setup. */
export function dovecotFromInjected(): DovecotHandle {
  return dovecotHandle(inject('dovecot'));
}

export function dovecotHandle(facts: DovecotFacts): DovecotHandle {
  return { facts, ...mailboxes(facts) };
}

export interface StartDovecotOptions {
  /**
   * How stop() disposes of Dovecot's temp dir (its config and maildirs); deleted by default. The benchmarks
   * move it to their trash instead, to keep deletions out of the next benchmark's timing (bench/support.ts).
   */
  readonly disposeDir?: (dir: string) => Promise<void>;
}

export async function startDovecot(options: StartDovecotOptions = {}): Promise<DovecotInstance> {
  const binary = findDovecot();
  const dir = await mkdtemp(path.join(tmpdir(), 'pop3-bridge-dovecot-'));
  try {
    // mkdtemp makes the dir 0700, but Dovecot's auth process (default_internal_user) reads the passwd-file
    // and its mail processes (mail_uid) open the maildirs below it: both are other users when we run as root.
    await chmod(dir, 0o755);
    const users = await dovecotUsers();
    const certs = await makeCertificates(path.join(dir, 'tls'));
    const passwdDir = path.join(dir, 'passwd.d');
    const mailRoot = path.join(dir, 'mail');
    await mkdir(passwdDir, { mode: 0o755 });
    await mkdir(mailRoot, { mode: 0o755 });
    await chown(mailRoot, users.mailUid, users.mailGid);
    await mkdir(path.join(dir, 'run'), { mode: 0o755 });
    await mkdir(path.join(dir, 'state'), { mode: 0o755 });

    let lastError: unknown;
    for (let attempt = 1; attempt <= START_ATTEMPTS; attempt += 1) {
      const [plainPort, tlsPort] = await twoFreePorts();
      const facts: DovecotFacts = {
        host: HOST,
        plainPort,
        tlsPort,
        servername: SERVERNAME,
        caPem: certs.caPem,
        wrongCaPem: certs.wrongCaPem,
        passwdDir,
        mailRoot,
        mailUid: users.mailUid,
        mailGid: users.mailGid,
        logPath: path.join(dir, 'dovecot.log'),
      };
      const confPath = path.join(dir, 'dovecot.conf');
      await writeFile(confPath, dovecotConfig({ dir, facts, users, certs }), { mode: 0o644 });
      try {
        return await launch(binary, confPath, dir, facts, options.disposeDir);
      } catch (err) {
        lastError = err;
        // Ports come from binding :0 and closing, so another process can take one before Dovecot binds it.
        if (!(err instanceof PortInUseError)) throw err;
      }
    }
    throw lastError;
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

function findDovecot(): string {
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter), '/usr/sbin', '/usr/local/sbin', '/sbin'];
  for (const d of dirs) {
    if (d === '') continue;
    const candidate = path.join(d, 'dovecot');
    try {
      accessSync(candidate, fsConstants.X_OK);
      return candidate;
    } catch {
      // try the next dir
    }
  }
  throw new Error(DOVECOT_NOT_INSTALLED);
}

interface DovecotUsers {
  internalUser: string;
  internalGroup: string;
  loginUser: string;
  mailUid: number;
  mailGid: number;
}

/**
 * Which system users Dovecot runs its processes as.
 * As root (CI): pop3-login refuses to run as root ("This process must not be run as root"), and the pop3
 * process refuses uid 0 ("userdb returned 0 as uid") whatever first_valid_uid says, so login runs as the
 * packaged `dovenull`, auth and mail as the packaged `dovecot` user, and createMailbox chowns files to it.
 * As an ordinary user: everything runs as that user and group (the stats and dict sockets are otherwise
 * chowned to group `dovecot`, which only root may do).
 */
async function dovecotUsers(): Promise<DovecotUsers> {
  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;
  if (uid !== 0) {
    const me = (await run('id', ['-un'])).stdout.trim();
    const myGroup = (await run('id', ['-gn'])).stdout.trim();
    return { internalUser: me, internalGroup: myGroup, loginUser: me, mailUid: uid, mailGid: gid };
  }
  const idOf = async (flag: '-u' | '-g', user: string): Promise<number> => {
    try {
      const { stdout } = await run('id', [flag, user]);
      return Number.parseInt(stdout.trim(), 10);
    } catch (err) {
      throw new Error(`Dovecot's system user '${user}' is missing: reinstall dovecot-core`, { cause: err });
    }
  };
  await idOf('-u', 'dovenull');
  return {
    internalUser: 'dovecot',
    internalGroup: 'dovecot',
    loginUser: 'dovenull',
    mailUid: await idOf('-u', 'dovecot'),
    mailGid: await idOf('-g', 'dovecot'),
  };
}

interface Certificates {
  caPem: string;
  wrongCaPem: string;
  certFile: string;
  keyFile: string;
}

const OPENSSL_CONFIG = `[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca_ext]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[server_ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost,IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
`;

/** A CA, a server certificate it signs, and an unrelated CA — made with the openssl CLI, never committed. */
async function makeCertificates(dir: string): Promise<Certificates> {
  await mkdir(dir, { mode: 0o700 });
  const f = (name: string): string => path.join(dir, name);
  // Our own minimal openssl config, so the system openssl.cnf cannot add or clash with extensions.
  await writeFile(f('openssl.cnf'), OPENSSL_CONFIG);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  const openssl = (args: string[]): Promise<unknown> => run('openssl', args, { cwd: dir });
  const makeCa = (name: string, cn: string): Promise<unknown> =>
    openssl([
      'req',
      '-x509',
      '-config',
      f('openssl.cnf'),
      '-extensions',
      'ca_ext',
      ...ec,
      '-keyout',
      f(`${name}.key`),
      '-out',
      f(`${name}.pem`),
      '-days',
      '7',
      '-subj',
      `/CN=${cn}`,
    ]);
  try {
    await Promise.all([makeCa('ca', 'pop3-bridge test CA'), makeCa('wrong-ca', 'pop3-bridge unrelated CA')]);
    await openssl([
      'req',
      '-new',
      '-config',
      f('openssl.cnf'),
      ...ec,
      '-keyout',
      f('server.key'),
      '-out',
      f('server.csr'),
      '-subj',
      '/CN=localhost',
    ]);
    await openssl([
      'x509',
      '-req',
      '-in',
      f('server.csr'),
      '-CA',
      f('ca.pem'),
      '-CAkey',
      f('ca.key'),
      '-set_serial',
      `0x${randomBytes(8).toString('hex')}`,
      '-days',
      '7',
      '-extfile',
      f('openssl.cnf'),
      '-extensions',
      'server_ext',
      '-out',
      f('server.pem'),
    ]);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT')
      throw new Error('openssl is not installed: the Dovecot harness needs its CLI', { cause: err });
    throw err;
  }
  return {
    caPem: await readFile(f('ca.pem'), 'utf8'),
    wrongCaPem: await readFile(f('wrong-ca.pem'), 'utf8'),
    certFile: f('server.pem'),
    keyFile: f('server.key'),
  };
}

function dovecotConfig(p: { dir: string; facts: DovecotFacts; users: DovecotUsers; certs: Certificates }): string {
  const { dir, facts, users, certs } = p;
  // Login and anvil processes chroot by default, which only root can do.
  const chroot = process.getuid?.() === 0 ? '' : '\n  chroot =';
  return `# Written by test/support/dovecot.ts for one test run. Self-contained: nothing is read from /etc/dovecot.
instance_name = pop3-bridge-test-${process.pid}-${path.basename(dir)}
base_dir = ${dir}/run
state_dir = ${dir}/state
log_path = ${facts.logPath}
info_log_path = ${facts.logPath}
protocols = pop3
listen = ${HOST}

ssl = yes
ssl_cert = <${certs.certFile}
ssl_key = <${certs.keyFile}

# The client itself refuses plaintext auth without TLS unless allowed; the tests must be able to try it.
disable_plaintext_auth = no
# APOP works only when the greeting carries a timestamp; Dovecot adds one when apop is enabled.
auth_mechanisms = plain login cram-md5 apop
# The default 2 s sleep after a failed login only slows the tests of wrong passwords.
auth_failure_delay = 0

default_internal_user = ${users.internalUser}
default_internal_group = ${users.internalGroup}
default_login_user = ${users.loginUser}
mail_uid = ${facts.mailUid}
mail_gid = ${facts.mailGid}
first_valid_uid = ${facts.mailUid}
last_valid_uid = ${facts.mailUid}
first_valid_gid = ${facts.mailGid}
last_valid_gid = ${facts.mailGid}
mail_location = maildir:${facts.mailRoot}/%u

# Dovecot's default, stated so the tests do not depend on it: UID then UIDVALIDITY, 8 hex digits each.
pop3_uidl_format = %08Xu%08Xv

# CRAM-MD5 and APOP need the plaintext password. PLAIN.BASE64 lets a password hold ':' or any byte.
# One passwd-file per user (%u in the path): Dovecot re-reads a single shared passwd-file when it changes, but
# checks at most once a second, so a user appended right after another login was still unknown. A new file
# is read on its first lookup, and parallel workers never write the same file.
passdb {
  driver = passwd-file
  args = scheme=PLAIN.BASE64 username_format=%u ${facts.passwdDir}/%u
}
userdb {
  driver = static
  args = uid=${facts.mailUid} gid=${facts.mailGid} home=${facts.mailRoot}/%u
}

# Anvil's auth penalty delays every login from an IP after a failed one (2 s doubling to 15 s). All tests
# connect from 127.0.0.1, so one wrong-password test would slow every other test file: turn it off.
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }${chroot}
}

service pop3-login {${chroot}
  inet_listener pop3 {
    address = ${HOST}
    port = ${facts.plainPort}
  }
  inet_listener pop3s {
    address = ${HOST}
    port = ${facts.tlsPort}
    ssl = yes
  }
}
`;
}

class PortInUseError extends Error {
  override readonly name = 'PortInUseError';
}

/** Runs `dovecot -F` as our child, so stop() knows exactly which process to end. */
async function launch(
  binary: string,
  confPath: string,
  dir: string,
  facts: DovecotFacts,
  disposeDir: (dir: string) => Promise<void> = (path) => rm(path, { recursive: true, force: true }),
): Promise<DovecotInstance> {
  const child = spawn(binary, ['-F', '-c', confPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString('utf8');
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString('utf8');
  });
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown'));
    child.once('error', (err) => resolve(err.message));
  });
  // If the runner exits without calling teardown (e.g. Ctrl-C), leave neither a Dovecot nor its temp dir behind.
  // Only synchronous work runs in an 'exit' handler.
  const killOnExit = (): void => {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', killOnExit);

  const logTail = async (lines = 40): Promise<string> => {
    const log = await readFile(facts.logPath, 'utf8').catch(() => '');
    return [...log.split('\n'), ...output.split('\n')]
      .filter((l) => l !== '')
      .slice(-lines)
      .join('\n');
  };

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      process.removeListener('exit', killOnExit);
      await endProcess(child, exited);
      // Dovecot's own children (log, anvil, a pop3 process finishing a session) inherit the master's stdout
      // and stderr and may outlive it; while one holds them, our pipes stay open and keep vitest's main
      // process alive ("close timed out after 10000ms ... something prevents Vite server from exiting").
      // Their output is not needed once the master has gone.
      child.stdout?.destroy();
      child.stderr?.destroy();
      await disposeDir(dir);
    })();
    return stopping;
  };

  const giveUp = new AbortController();
  const ready = waitUntilReady(facts, giveUp.signal);
  const outcome = await Promise.race([ready.then(() => 'ready' as const), exited.then((code) => ({ code }))]).catch(
    (err: unknown) => ({ err }),
  );
  if (outcome === 'ready') {
    return { facts, ...mailboxes(facts), stop, logTail, pid: child.pid };
  }
  giveUp.abort(); // stop probing a Dovecot that has exited
  ready.catch(() => {});
  const tail = await logTail();
  await endProcess(child, exited);
  process.removeListener('exit', killOnExit);
  if (/Address already in use/i.test(tail)) throw new PortInUseError(`Dovecot could not bind its ports:\n${tail}`);
  const why = 'code' in outcome ? `exited with ${outcome.code}` : `did not greet in time (${String(outcome.err)})`;
  throw new Error(`Dovecot ${why}. Last lines of its log (${facts.logPath}):\n${tail}`);
}

async function endProcess(child: ChildProcess, exited: Promise<unknown>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  // SIGTERM lets the master stop its login, auth and pop3 processes (shutdown_clients = yes by default).
  child.kill('SIGTERM');
  const timer = new Promise<'timeout'>((resolve) => setTimeout(resolve, STOP_TIMEOUT_MS, 'timeout').unref());
  if ((await Promise.race([exited, timer])) === 'timeout') {
    child.kill('SIGKILL');
    await exited;
  }
}

async function twoFreePorts(): Promise<[number, number]> {
  const listen = (): Promise<net.Server> =>
    new Promise((resolve, reject) => {
      const server = net.createServer();
      server.once('error', reject);
      server.listen(0, HOST, () => resolve(server));
    });
  // Held open together so the two ports differ, then released for Dovecot to bind.
  const servers = [await listen(), await listen()] as const;
  const port = (s: net.Server): number => (s.address() as net.AddressInfo).port;
  const ports: [number, number] = [port(servers[0]), port(servers[1])];
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}

async function waitUntilReady(facts: DovecotFacts, signal: AbortSignal): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  const probes: Array<() => Promise<string>> = [
    () => greeting(net.connect(facts.plainPort, facts.host)),
    () =>
      greeting(tls.connect({ host: facts.host, port: facts.tlsPort, servername: facts.servername, ca: facts.caPem })),
  ];
  for (const probe of probes) {
    for (;;) {
      try {
        const line = await probe();
        if (!line.startsWith('+OK')) throw new Error(`unexpected greeting ${JSON.stringify(line)}`);
        break;
      } catch (err) {
        if (Date.now() > deadline || signal.aborted) throw err;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
  }
}

/** Reads the first line the server sends, then says QUIT. */
function greeting(socket: net.Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    let received = '';
    const fail = (err: Error): void => {
      socket.destroy();
      reject(err);
    };
    socket.setTimeout(2_000, () => fail(new Error('no greeting within 2 s')));
    socket.once('error', fail);
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
      const end = received.indexOf('\r\n');
      if (end < 0) return;
      socket.removeAllListeners('data');
      socket.setTimeout(0);
      socket.end('QUIT\r\n');
      resolve(received.slice(0, end));
    });
    socket.once('end', () => fail(new Error('closed before the greeting')));
  });
}

// ---- Mailboxes -------------------------------------------------------------------------------------------

/** Dovecot's default auth_username_chars; ':' and newlines would also break the passwd-file line. */
const USERNAME = /^[A-Za-z0-9._@-]+$/;
let mailboxCounter = 0;

function mailboxes(facts: DovecotFacts): DovecotMailboxes {
  const home = (user: string): string => {
    if (!USERNAME.test(user) || user.startsWith('.'))
      throw new Error(`invalid Dovecot user name ${JSON.stringify(user)}`);
    return path.join(facts.mailRoot, user);
  };
  // Only root may chown; as an ordinary user the files are ours already, and mailUid is us.
  const own = async (p: string): Promise<void> => {
    if (process.getuid?.() === 0) await chown(p, facts.mailUid, facts.mailGid);
  };

  const deliver = async (user: string, messages: readonly Buffer[], firstTimestamp: number): Promise<void> => {
    const dir = home(user);
    for (const [i, bytes] of messages.entries()) {
      const timestamp = firstTimestamp + i;
      // Maildir (https://cr.yp.to/proto/maildir.html): write in tmp/, then rename into new/, so a session that is
      // open meanwhile never sees half a message. Dovecot gives new files UIDs in the order of the time at the
      // start of the name, so increasing timestamps make the message numbers follow the order given here.
      // The random part keeps a name from ever being reused after a DELE, which could revive a stale uidlist entry.
      const name = `${timestamp}.M${i}R${randomBytes(4).toString('hex')}P${process.pid}.pop3-bridge-test`;
      const tmp = path.join(dir, 'tmp', name);
      await writeFile(tmp, bytes, { mode: 0o644 });
      await own(tmp);
      // The file's mtime is the message's internal date in Dovecot's maildir: keep it deterministic too.
      await utimes(tmp, timestamp, timestamp);
      await rename(tmp, path.join(dir, 'new', name));
    }
  };

  const mailboxFiles = async (user: string): Promise<string[]> => {
    const dir = home(user);
    const list = async (sub: 'cur' | 'new'): Promise<string[]> =>
      (await readdir(path.join(dir, sub))).map((name) => `${sub}/${name}`);
    // new/ before cur/. Dovecot's pop3-login answers "+OK Logged in" before the mail process has synced the
    // maildir, and that sync moves every message from new/ to cur/ (renamed, `:2,` and flags added to its
    // unique name) while a test may be counting. Read cur/ first and a message that moves between the two
    // reads is missed: all five of a mailbox, once, in CI (crash-safety.test.ts, killed right after login).
    // Read new/ first and it is seen twice at worst, and counted once here by its unique name.
    const inNew = await list('new');
    const inCur = await list('cur');
    const unique = (file: string) => file.slice('new/'.length).split(/[:,]/)[0];
    const moved = new Set(inCur.map(unique));
    return [...inCur, ...inNew.filter((file) => !moved.has(unique(file)))].sort();
  };

  return {
    async createMailbox(messages, opts = {}) {
      mailboxCounter += 1;
      const user = opts.user ?? `mb-${process.pid}-${mailboxCounter}-${randomBytes(3).toString('hex')}`;
      const password = opts.password ?? `pw-${randomBytes(9).toString('base64url')}`;
      const dir = home(user);
      // mkdir without `recursive` fails if the user exists: every mailbox belongs to exactly one test.
      await mkdir(dir, { mode: 0o755 });
      await own(dir);
      for (const sub of ['tmp', 'new', 'cur']) {
        await mkdir(path.join(dir, sub), { mode: 0o755 });
        await own(path.join(dir, sub));
      }
      await deliver(user, messages, FIRST_TIMESTAMP);
      // Last, so the user can log in only once the whole mailbox is on disk; renamed into place so Dovecot
      // never reads half a file.
      const passwd = path.join(facts.passwdDir, user);
      await writeFile(`${passwd}.tmp`, `${user}:{PLAIN.BASE64}${Buffer.from(password).toString('base64')}\n`, {
        mode: 0o644,
      });
      await rename(`${passwd}.tmp`, passwd);
      return { user, password };
    },

    async appendMessages(user, messages) {
      const names = await mailboxFiles(user);
      const latest = Math.max(FIRST_TIMESTAMP - 1, ...names.map((n) => Number.parseInt(n.slice(4), 10)));
      await deliver(user, messages, latest + 1);
    },

    mailboxFiles,
  };
}
