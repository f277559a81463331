import { createHash, createHmac } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import { describe, expect, it } from 'vitest';
import { dovecotFromInjected } from './dovecot.js';
import { bigMessage, fixture } from './fixtures.js';

/**
 * Smoke test of the harness with raw sockets, independent of our POP3 client: if this fails, the client's
 * integration tests cannot be trusted either.
 */

const dovecot = dovecotFromInjected();
const { facts } = dovecot;

/** A minimal raw POP3 session: sends a line, reads a status line or a whole multi-line reply as bytes. */
class RawSession {
  private buffer = Buffer.alloc(0);
  private waiter: (() => void) | undefined;

  constructor(public socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      this.waiter?.();
    });
  }

  static async open(kind: 'plain' | 'tls', ca: string = facts.caPem): Promise<RawSession> {
    const socket =
      kind === 'plain'
        ? net.connect(facts.plainPort, facts.host)
        : tls.connect({ host: facts.host, port: facts.tlsPort, servername: facts.servername, ca });
    await new Promise<void>((resolve, reject) => {
      socket.once(kind === 'plain' ? 'connect' : 'secureConnect', () => resolve());
      socket.once('error', reject);
    });
    return new RawSession(socket);
  }

  private async readUntil(terminator: string): Promise<Buffer> {
    for (;;) {
      const end = this.buffer.indexOf(terminator, 0, 'latin1');
      // A single-line reply that is -ERR ends at its first CRLF even when a multi-line reply was expected.
      const firstLine = this.buffer.indexOf('\r\n');
      if (firstLine >= 0 && this.buffer.subarray(0, 4).toString('latin1') === '-ERR') {
        return this.take(firstLine + 2);
      }
      if (end >= 0) return this.take(end + terminator.length);
      await new Promise<void>((resolve) => {
        this.waiter = resolve;
      });
      this.waiter = undefined;
    }
  }

  private take(n: number): Buffer {
    const out = this.buffer.subarray(0, n);
    this.buffer = this.buffer.subarray(n);
    return out;
  }

  /** RFC 2595 §4: after +OK to STLS, the TLS handshake starts on the same socket. */
  async startTls(ca: string = facts.caPem): Promise<void> {
    expect(await this.command('STLS')).toMatch(/^\+OK/);
    this.socket.removeAllListeners('data');
    const secure = tls.connect({ socket: this.socket, servername: facts.servername, ca });
    await new Promise<void>((resolve, reject) => {
      secure.once('secureConnect', () => resolve());
      secure.once('error', reject);
    });
    this.buffer = Buffer.alloc(0);
    this.socket = secure;
    secure.on('data', (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      this.waiter?.();
    });
  }

  async line(): Promise<string> {
    return (await this.readUntil('\r\n')).toString('latin1').trimEnd();
  }

  async command(cmd: string): Promise<string> {
    this.socket.write(`${cmd}\r\n`);
    return this.line();
  }

  /** The body of a multi-line reply, status line removed, still dot-stuffed, terminator removed. */
  async multiLine(cmd: string): Promise<{ status: string; body: Buffer }> {
    this.socket.write(`${cmd}\r\n`);
    const status = await this.line();
    if (!status.startsWith('+OK')) return { status, body: Buffer.alloc(0) };
    // The body may be empty, in which case the terminator directly follows the status line.
    if (this.buffer.subarray(0, 3).toString('latin1') !== '.\r\n') {
      const all = await this.readUntil('\r\n.\r\n');
      return { status, body: all.subarray(0, all.length - 3) };
    }
    this.take(3);
    return { status, body: Buffer.alloc(0) };
  }

  async quit(): Promise<string> {
    const reply = await this.command('QUIT');
    this.socket.end();
    return reply;
  }
}

describe('Dovecot harness', () => {
  it.each(['plain', 'tls'] as const)(
    'logs in over %s, counts messages and returns fixture 1 byte for byte',
    async (kind) => {
      const first = fixture('plain-text').bytes;
      const messages = [first, fixture('html-alternative').bytes, fixture('empty-body').bytes];
      const { user, password } = await dovecot.createMailbox(messages);

      const session = await RawSession.open(kind);
      // APOP needs a timestamp in the greeting (RFC 1939 §7); Dovecot adds one because apop is enabled.
      expect(await session.line()).toMatch(/^\+OK .*<[^>]+@[^>]+>$/);
      const capa = await session.multiLine('CAPA');
      expect(capa.body.toString('latin1')).toContain('PIPELINING');
      expect(capa.body.toString('latin1')).toMatch(/^SASL PLAIN LOGIN CRAM-MD5/m);
      expect(capa.body.toString('latin1').includes('STLS')).toBe(kind === 'plain');
      expect(await session.command(`USER ${user}`)).toMatch(/^\+OK/);
      expect(await session.command(`PASS ${password}`)).toMatch(/^\+OK/);
      const total = messages.reduce((sum, m) => sum + m.length, 0);
      expect(await session.command('STAT')).toBe(`+OK ${messages.length} ${total}`);
      // plain-text has no line starting with '.', so no dot-stuffing: the body is the file.
      expect((await session.multiLine('RETR 1')).body.equals(first)).toBe(true);
      expect((await session.multiLine('RETR 2')).body.equals(messages[1]!)).toBe(true);
      expect(await session.quit()).toMatch(/^\+OK/);
    },
  );

  it('refuses the TLS handshake with the wrong CA', async () => {
    await expect(RawSession.open('tls', facts.wrongCaPem)).rejects.toThrow(/self[- ]signed|unable to verify|issuer/i);
  });

  it('rejects a wrong password with [AUTH]', async () => {
    const { user } = await dovecot.createMailbox([]);
    const session = await RawSession.open('plain');
    await session.line();
    await session.command(`USER ${user}`);
    expect(await session.command('PASS wrong')).toMatch(/^-ERR \[AUTH\]/);
    await session.quit();
  });

  it('keeps the given order, uses the configured UIDL format, and deletes files on DELE + QUIT', async () => {
    const messages = Array.from({ length: 12 }, (_, i) => Buffer.from(`Subject: m${i}\r\n\r\nbody ${i}\r\n`));
    const { user, password } = await dovecot.createMailbox(messages, { password: 'p:ss wörd' });
    expect(await dovecot.mailboxFiles(user)).toHaveLength(12);

    const session = await RawSession.open('plain');
    await session.line();
    await session.command(`USER ${user}`);
    expect(await session.command(`PASS ${password}`)).toMatch(/^\+OK/);
    for (const [i, m] of messages.entries()) {
      expect((await session.multiLine(`RETR ${i + 1}`)).body.equals(m)).toBe(true);
    }
    const uidl = (await session.multiLine('UIDL')).body.toString('latin1').trimEnd().split('\r\n');
    expect(uidl).toHaveLength(12);
    expect(uidl[0]).toMatch(/^1 00000001[0-9a-f]{8}$/);
    expect(await session.command('DELE 1')).toMatch(/^\+OK/);
    expect(await session.command('DELE 12')).toMatch(/^\+OK/);
    expect(await session.quit()).toMatch(/^\+OK/);
    // QUIT replies before the pop3 process has finished expunging, so poll briefly.
    await expect.poll(() => dovecot.mailboxFiles(user).then((f) => f.length)).toBe(10);

    await dovecot.appendMessages(user, [Buffer.from('Subject: late\r\n\r\nlate\r\n')]);
    const again = await RawSession.open('plain');
    await again.line();
    await again.command(`USER ${user}`);
    await again.command(`PASS ${password}`);
    expect(await again.command('STAT')).toMatch(/^\+OK 11 /);
    expect((await again.multiLine('RETR 1')).body.toString('latin1')).toContain('body 1');
    expect((await again.multiLine('RETR 11')).body.toString('latin1')).toContain('late');
    await again.quit();
  });

  it('serves dot-stuffed lines, converts bare LF, and adds CRLF to a message without a final newline', async () => {
    const dots = fixture('dot-lines').bytes;
    const bare = fixture('bare-lf').bytes;
    const noFinal = fixture('no-final-newline').bytes;
    const big = bigMessage(3 * 1024 * 1024, 7);
    const { user, password } = await dovecot.createMailbox([dots, bare, noFinal, big]);
    const session = await RawSession.open('tls');
    await session.line();
    await session.command(`USER ${user}`);
    await session.command(`PASS ${password}`);

    const stuffed = (await session.multiLine('RETR 1')).body.toString('latin1');
    expect(stuffed).toBe(dots.toString('latin1').replace(/^\./gm, '..'));
    const retrBare = (await session.multiLine('RETR 2')).body;
    expect(retrBare.toString('latin1')).toBe(bare.toString('latin1').replace(/\n/g, '\r\n').replace(/^\./gm, '..'));
    const retrNoFinal = (await session.multiLine('RETR 3')).body;
    expect(retrNoFinal.equals(Buffer.concat([noFinal, Buffer.from('\r\n')]))).toBe(true);
    expect((await session.multiLine('RETR 4')).body.equals(big)).toBe(true);
    // LIST counts bare LF as CRLF (the size RETR sends), but does not count the CRLF Dovecot appends to a
    // message without a final newline: a LIST size is never an exact RETR length.
    const list = (await session.multiLine('LIST')).body.toString('latin1');
    const lfCount = bare.toString('latin1').split('\n').length - 1;
    expect(list).toContain(`2 ${bare.length + lfCount}\r\n`);
    expect(list).toContain(`3 ${noFinal.length}\r\n`);
    expect(retrNoFinal.length).toBe(noFinal.length + 2);
    await session.quit();
  });

  it('upgrades the plain port with STLS, verified against the CA', async () => {
    const { user, password } = await dovecot.createMailbox([fixture('plain-text').bytes]);
    const session = await RawSession.open('plain');
    await session.line();
    await session.startTls();
    // RFC 2595 §4: the client must discard what it knew before TLS and ask CAPA again; STLS is no longer offered.
    expect((await session.multiLine('CAPA')).body.toString('latin1')).not.toContain('STLS');
    await session.command(`USER ${user}`);
    expect(await session.command(`PASS ${password}`)).toMatch(/^\+OK/);
    expect(await session.command('STAT')).toMatch(/^\+OK 1 /);
    await session.quit();
  });

  it('accepts APOP, AUTH PLAIN and AUTH CRAM-MD5 with the stored password', async () => {
    const { user, password } = await dovecot.createMailbox([]);

    const apop = await RawSession.open('plain');
    const stamp = /<[^>]+>/.exec(await apop.line())![0];
    const digest = createHash('md5').update(`${stamp}${password}`).digest('hex');
    expect(await apop.command(`APOP ${user} ${digest}`)).toMatch(/^\+OK/);
    await apop.quit();

    const plain = await RawSession.open('plain');
    await plain.line();
    const initial = Buffer.from(`\0${user}\0${password}`).toString('base64');
    expect(await plain.command(`AUTH PLAIN ${initial}`)).toMatch(/^\+OK/);
    await plain.quit();

    const cram = await RawSession.open('plain');
    await cram.line();
    const challenge = Buffer.from((await cram.command('AUTH CRAM-MD5')).slice(2), 'base64').toString('latin1');
    const hmac = createHmac('md5', password).update(challenge).digest('hex');
    expect(await cram.command(Buffer.from(`${user} ${hmac}`).toString('base64'))).toMatch(/^\+OK/);
    await cram.quit();
  });
});
