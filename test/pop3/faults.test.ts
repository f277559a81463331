/**
 * What goes wrong on real connections, injected with the scripted server:
 * dropped and stalled connections, broken status lines, RFC 2449 / RFC 3206
 * response codes, UIDL oddities, session states, pipelining and QUIT/UPDATE.
 */
import { type AddressInfo, createServer as createNetServer, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import type { ErrorCode } from '../../functions/core/errors.js';
import { Pop3Client } from '../../functions/pop3/client.js';
import {
  drop,
  type FaultHooks,
  multiLineBody,
  onVerb,
  replyLine,
  type ScriptedServer,
  type ScriptedServerOptions,
  stall,
} from '../../functions/scripted-server/index.js';
import { connect, localhostCertificate, loggedIn, readAll, rejection, serve, sleep } from './scripted-helpers.js';

const MESSAGE = Buffer.from('Subject: m\r\n\r\n.dot\r\nbody line\r\n', 'latin1');
const FAST = { commandTimeoutMs: 300, idleTimeoutMs: 300, greetingTimeoutMs: 300 };

describe('connection dropped in the middle of a RETR body (never a clean end)', () => {
  const wire = multiLineBody(MESSAGE, '\r\n');
  // Every offset of the stuffed body and terminator except the complete reply.
  const offsets = Array.from({ length: wire.length }, (_, i) => i);

  it.each([
    ['FIN', false],
    ['RST', true],
  ])('%s after each body offset → POP3_ERR_CLOSED', async (_name, reset) => {
    for (const offset of offsets) {
      const server = await serve({ messages: [MESSAGE], faults: { body: { dropAfterBodyBytes: offset, reset } } });
      const client = await loggedIn(server);
      const stream = await client.retr(1).catch((e: unknown) => e);
      // Offset 0 may lose the race between the status line and the close: then RETR itself fails.
      const error = await rejection(
        stream instanceof Error ? Promise.reject(stream) : readAll(stream as never),
        'POP3_ERR_CLOSED',
      );
      expect(error.retryable).toBe(true);
      expect(client.state).toBe('CLOSED');
      await server.close();
    }
  });

  it('the next command after the drop fails with the same typed error', async () => {
    const server = await serve({ messages: [MESSAGE], faults: { body: { dropAfterBodyBytes: 10 } } });
    const client = await loggedIn(server);
    await rejection(readAll(await client.retr(1)), 'POP3_ERR_CLOSED');
    await rejection(client.stat(), 'POP3_ERR_CLOSED');
  });
});

describe('implicit TLS: the server closes right after a whole body, while our consumer is slow', () => {
  // Over implicit TLS the socket reads through one reused buffer (borrowed-reads.ts). Paused for a slow
  // consumer, it still hands over what it had decrypted, and it reports the server's close at once: the
  // reader must not take that close for a body cut short when every byte of the body has arrived.
  it('the body arrives whole; the next command sees the closed connection', async () => {
    const { key, cert } = await localhostCertificate();
    const big = Buffer.from(
      `Subject: big\r\n\r\n${'.a line that starts with a dot\r\nand a plain line of text after it\r\n'.repeat(20_000)}`,
      'latin1',
    );
    const server = await serve({
      tls: { key, cert },
      messages: [big],
      faults: {
        override: onVerb('RETR', drop({ raw: Buffer.concat([Buffer.from('+OK\r\n'), multiLineBody(big, '\r\n')]) })),
      },
    });
    const client = await loggedIn(server, undefined, {
      tls: 'implicit',
      allowInsecureAuth: false,
      ca: cert,
      servername: 'localhost',
    });
    const stream = await client.retr(1);
    // By now the server has written everything and closed, and the reader has paused at its 64 KiB mark.
    await sleep(200);
    const chunks: Buffer[] = [];
    for await (const chunk of stream) {
      chunks.push(chunk as Buffer);
      await sleep(1);
    }
    expect(Buffer.concat(chunks).equals(big)).toBe(true);
    await rejection(client.stat(), 'POP3_ERR_CLOSED');
  });
});

describe('stalls → POP3_ERR_TIMEOUT within the configured limits', () => {
  it('no greeting at all', async () => {
    const server = await serve({ greetingRaw: '' });
    const started = Date.now();
    await rejection(connect(server, { limits: FAST }), 'POP3_ERR_TIMEOUT');
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('no reply to a command', async () => {
    const server = await serve({ faults: { override: onVerb('STAT', stall()) } });
    const client = await loggedIn(server, undefined, { limits: FAST });
    const started = Date.now();
    const error = await rejection(client.stat(), 'POP3_ERR_TIMEOUT');
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(250);
    expect(elapsed).toBeLessThan(2_000);
    expect(error.retryable).toBe(true);
    expect(client.state).toBe('CLOSED');
  });

  it('a body that stops half way: the stream errors, it does not end', async () => {
    const server = await serve({ messages: [MESSAGE], faults: { body: { stallAfterBodyBytes: 12 } } });
    const client = await loggedIn(server, undefined, { limits: FAST });
    const started = Date.now();
    await rejection(readAll(await client.retr(1)), 'POP3_ERR_TIMEOUT');
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('a list reply that stops half way', async () => {
    const server = await serve({ faults: { override: onVerb('UIDL', { kind: 'reply', raw: '+OK\r\n1 abc\r\n' }) } });
    const client = await loggedIn(server, undefined, { limits: FAST });
    await rejection(client.uidl(), 'POP3_ERR_TIMEOUT');
  });

  it('a status line that trickles in a byte at a time still times out (the command timeout is not an idle one)', async () => {
    // A raw server: greeting, login, then STAT answered one byte every 100 ms, never reaching the line end.
    // Each byte used to restart the command timer, so a server sending a byte a minute held a session (and its
    // mailbox's lease) for days.
    const sockets = new Set<Socket>();
    const timers = new Set<NodeJS.Timeout>();
    const server = createNetServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => {});
      socket.write('+OK ready\r\n');
      let buffered = '';
      socket.on('data', (chunk: Buffer) => {
        buffered += chunk.toString('latin1');
        for (let nl = buffered.indexOf('\r\n'); nl !== -1; nl = buffered.indexOf('\r\n')) {
          const verb = buffered.slice(0, nl).split(' ')[0]!.toUpperCase();
          buffered = buffered.slice(nl + 2);
          if (verb === 'CAPA') socket.write('-ERR\r\n');
          else if (verb !== 'STAT') socket.write('+OK\r\n');
          else {
            socket.write('+OK 1 1');
            const timer = setInterval(() => socket.write(' '), 100);
            timers.add(timer);
          }
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const client = await Pop3Client.connect({
        host: '127.0.0.1',
        port: (server.address() as AddressInfo).port,
        tls: 'none',
        allowInsecureAuth: true,
        limits: FAST,
      });
      await client.login({ username: 'u', password: 'p' });
      const started = Date.now();
      const outcome = await Promise.race([
        client.stat().then(
          () => 'answered',
          (error: unknown) => (error as { code?: string }).code,
        ),
        sleep(3_000).then(() => 'still waiting after 3 s'),
      ]);
      expect(outcome).toBe('POP3_ERR_TIMEOUT');
      expect(Date.now() - started).toBeLessThan(1_500);
    } finally {
      for (const timer of timers) clearInterval(timer);
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('a consumer that holds a body paused longer than the idle timeout is not timed out', async () => {
    const server = await serve({ messages: [`${'x'.repeat(1000)}\r\n`.repeat(2 * 1024)] });
    const client = await loggedIn(server, undefined, { limits: FAST });
    const stream = await client.retr(1);
    await new Promise<void>((resolve) => stream.once('readable', () => resolve()));
    await sleep(700);
    const body = await readAll(stream);
    expect(body.length).toBe(1002 * 2 * 1024);
    await client.noop();
  });
});

describe('RFC 1939 §3 status lines that break the grammar → POP3_ERR_PROTOCOL', () => {
  const cases: Array<[name: string, raw: string]> = [
    ['no indicator', 'OK 1 2\r\n'],
    ['+OKAY', '+OKAY 1 2\r\n'],
    ['-ERROR', '-ERROR nope\r\n'],
    ['an IMAP untagged line', '* OK ready\r\n'],
    ['an empty line', '\r\n'],
    ['a SASL continuation outside AUTH', '+ \r\n'],
    ['STAT numbers that are not numbers', '+OK one two\r\n'],
    ['STAT with one number', '+OK 1\r\n'],
  ];
  it.each(cases)('reply to STAT: %s', async (_name, raw) => {
    const server = await serve({ faults: { override: onVerb('STAT', { kind: 'reply', raw }) } });
    const client = await loggedIn(server);
    await rejection(client.stat(), 'POP3_ERR_PROTOCOL');
  });

  it('a malformed greeting fails connect', async () => {
    const server = await serve({ greetingRaw: 'HELLO there\r\n' });
    await rejection(connect(server), 'POP3_ERR_PROTOCOL');
  });

  it('a LIST entry that is not "n size"', async () => {
    const server = await serve({ faults: { override: onVerb('LIST', { kind: 'reply', raw: '+OK\r\n1 x\r\n.\r\n' }) } });
    const client = await loggedIn(server);
    await rejection(client.list(), 'POP3_ERR_PROTOCOL');
  });

  it('a reply nobody asked for breaks the connection; the next command sees it', async () => {
    const server = await serve({
      faults: { override: onVerb('NOOP', { kind: 'reply', raw: '+OK\r\n+OK extra\r\n' }) },
    });
    const client = await loggedIn(server);
    await client.noop().catch(() => {});
    await sleep(20);
    await rejection(client.stat(), 'POP3_ERR_PROTOCOL');
  });

  it('a UIDL entry longer than any UIDL accepted is refused as it arrives, not once the listing ends', async () => {
    // The listing never ends: before, the long line was held (up to 8 KiB each, 2,000,000 of them, which ran the
    // heap out) and only parseUidlEntry, after the terminator, would have refused it.
    const raw = `+OK\r\n1 ${'u'.repeat(600)}\r\n`;
    const server = await serve({ faults: { override: onVerb('UIDL', { kind: 'reply', raw }) } });
    const client = await loggedIn(server, undefined, {
      limits: { ...FAST, commandTimeoutMs: 5_000, idleTimeoutMs: 5_000 },
    });
    const started = Date.now();
    await rejection(client.uidl(), 'POP3_ERR_LIMIT');
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('a list reply larger than maxListBytes → POP3_ERR_LIMIT', async () => {
    const entries = Array.from({ length: 100 }, (_, i) => `${i + 1} uidl-${String(i).padStart(12, '0')}\r\n`).join('');
    const server = await serve({
      faults: { override: onVerb('UIDL', { kind: 'reply', raw: `+OK\r\n${entries}.\r\n` }) },
    });
    const client = await loggedIn(server, undefined, { limits: { maxListBytes: 1_000 } });
    await rejection(client.uidl(), 'POP3_ERR_LIMIT');
    const roomy = await loggedIn(server, undefined, { limits: { maxListBytes: 10_000 } });
    expect(await roomy.uidl()).toHaveLength(100);
  });

  it('a status line longer than maxStatusLineBytes → POP3_ERR_LIMIT', async () => {
    const server = await serve({ faults: { override: onVerb('NOOP', replyLine(`+OK ${'x'.repeat(200)}`)) } });
    const client = await loggedIn(server, undefined, { limits: { maxStatusLineBytes: 100 } });
    await rejection(client.noop(), 'POP3_ERR_LIMIT');
  });
});

describe('RFC 2449 §8 / RFC 3206 response codes → typed errors', () => {
  type Case = [
    name: string,
    verb: 'PASS' | 'RETR' | 'STAT',
    reply: string,
    expected: { code: ErrorCode; retryable: boolean; responseCode: string | undefined; serverText: string },
  ];
  const cases: Case[] = [
    [
      '[IN-USE] on PASS',
      'PASS',
      '-ERR [IN-USE] Mailbox is locked by another POP3 session',
      {
        code: 'POP3_ERR_IN_USE',
        retryable: true,
        responseCode: 'IN-USE',
        serverText: 'Mailbox is locked by another POP3 session',
      },
    ],
    [
      '[LOGIN-DELAY] on PASS',
      'PASS',
      '-ERR [LOGIN-DELAY] Too soon',
      { code: 'POP3_ERR_LOGIN_DELAY', retryable: true, responseCode: 'LOGIN-DELAY', serverText: 'Too soon' },
    ],
    [
      '[SYS/TEMP] on RETR',
      'RETR',
      '-ERR [SYS/TEMP] Internal error occurred. Refer to server log for more information.',
      {
        code: 'POP3_ERR_SYS_TEMP',
        retryable: true,
        responseCode: 'SYS/TEMP',
        serverText: 'Internal error occurred. Refer to server log for more information.',
      },
    ],
    [
      '[SYS/PERM] on RETR',
      'RETR',
      '-ERR [SYS/PERM] Message is corrupted',
      { code: 'POP3_ERR_SYS_PERM', retryable: false, responseCode: 'SYS/PERM', serverText: 'Message is corrupted' },
    ],
    [
      '[AUTH] on PASS',
      'PASS',
      '-ERR [AUTH] Authentication failed.',
      { code: 'POP3_ERR_AUTH', retryable: false, responseCode: 'AUTH', serverText: 'Authentication failed.' },
    ],
    [
      'unknown code on RETR keeps the code',
      'RETR',
      '-ERR [X-FOO/BAR] something odd',
      { code: 'POP3_ERR_RESPONSE', retryable: false, responseCode: 'X-FOO/BAR', serverText: 'something odd' },
    ],
    [
      'unknown subcode of a known code counts as its parent',
      'STAT',
      '-ERR [IN-USE/SOMETHING] locked',
      { code: 'POP3_ERR_IN_USE', retryable: true, responseCode: 'IN-USE/SOMETHING', serverText: 'locked' },
    ],
    [
      'lower-case code',
      'RETR',
      '-ERR [sys/temp] later',
      { code: 'POP3_ERR_SYS_TEMP', retryable: true, responseCode: 'SYS/TEMP', serverText: 'later' },
    ],
    [
      'no code on PASS → authentication error',
      'PASS',
      '-ERR invalid password',
      { code: 'POP3_ERR_AUTH', retryable: false, responseCode: undefined, serverText: 'invalid password' },
    ],
    [
      'no code on RETR → plain -ERR',
      'RETR',
      '-ERR no such message',
      { code: 'POP3_ERR_RESPONSE', retryable: false, responseCode: undefined, serverText: 'no such message' },
    ],
  ];

  it.each(cases)('%s', async (_name, verb, raw, expected) => {
    const server = await serve({ messages: [MESSAGE], faults: { override: onVerb(verb, replyLine(raw)) } });
    const client = await connect(server);
    const action: (c: Pop3Client) => Promise<unknown> =
      verb === 'PASS'
        ? (c) => c.login({ username: 'alice', password: 'pa55-Secret!', method: 'user' })
        : async (c) => {
            await c.login({ username: 'alice', password: 'pa55-Secret!', method: 'user' });
            return verb === 'RETR' ? c.retr(1) : c.stat();
          };
    const error = await rejection(action(client), expected.code);
    expect({
      retryable: error.retryable,
      responseCode: error.responseCode,
      serverText: error.serverText,
    }).toEqual({ retryable: expected.retryable, responseCode: expected.responseCode, serverText: expected.serverText });
    // A -ERR is an answer, not a broken connection: the session goes on.
    expect(client.state).not.toBe('CLOSED');
  });

  it('[LOGIN-DELAY] carries the delay the server announced in CAPA', async () => {
    const server = await serve({
      capabilities: ['USER', 'LOGIN-DELAY 900', 'RESP-CODES'],
      faults: { override: onVerb('PASS', replyLine('-ERR [LOGIN-DELAY] wait')) },
    });
    const client = await connect(server);
    const error = await rejection(
      client.login({ username: 'alice', password: 'pa55-Secret!', method: 'user' }),
      'POP3_ERR_LOGIN_DELAY',
    );
    expect(error.retryAfterSeconds).toBe(900);
  });
});

describe('RFC 2449 §5 CAPA', () => {
  it('an RFC 1939-only server (CAPA → -ERR): TOP/UIDL/USER assumed, no pipelining', async () => {
    const server = await serve({ capabilities: null, messages: [{ body: 'a', uidl: 'only' }] });
    const client = await loggedIn(server);
    expect(client.capabilities).toMatchObject({ top: true, uidl: true, user: true, pipelining: false, sasl: [] });
    expect((await client.uidl()).map((e) => e.uidl)).toEqual(['only']);
  });

  it('capabilities are read as sent', async () => {
    const server = await serve({
      capabilities: ['TOP', 'SASL plain xoauth2', 'EXPIRE NEVER', 'LOGIN-DELAY 60', 'X-ODD a b'],
    });
    const client = await connect(server);
    expect(client.capabilities).toMatchObject({
      uidl: false,
      pipelining: false,
      sasl: ['PLAIN', 'XOAUTH2'],
      expire: 'NEVER',
      loginDelaySeconds: 60,
    });
    expect(client.capabilities.raw.get('X-ODD')).toEqual(['a', 'b']);
  });
});

describe('RFC 1939 §7 UIDL', () => {
  it('a server without UIDL → uidl() fails with POP3_ERR_UNSUPPORTED', async () => {
    const server = await serve({ uidl: false, messages: [MESSAGE] });
    const client = await loggedIn(server);
    expect(client.capabilities.uidl).toBe(false);
    await rejection(client.uidl(), 'POP3_ERR_UNSUPPORTED');
    await client.noop();
  });

  it('duplicate UIDLs are returned as they are', async () => {
    const server = await serve({
      messages: [
        { body: 'a', uidl: 'same' },
        { body: 'b', uidl: 'same' },
        { body: 'c', uidl: 'other' },
      ],
    });
    const client = await loggedIn(server);
    expect((await client.uidl()).map((e) => [e.msg, e.uidl])).toEqual([
      [1, 'same'],
      [2, 'same'],
      [3, 'other'],
    ]);
    expect((await client.uidlMany([1, 2])).map((e) => e.uidl)).toEqual(['same', 'same']);
  });

  it.each([
    ['70 characters: standard', 'u'.repeat(70), false],
    ['71 characters: accepted, flagged', 'u'.repeat(71), true],
    ['300 characters: accepted, flagged', `${'x'.repeat(299)}!`, true],
    ['a space inside: accepted, flagged', 'two words', true],
    ['8-bit bytes: accepted, flagged', 'caf\u00e9', true],
  ])('%s', async (_name, uidl, nonStandard) => {
    const server = await serve({ messages: [{ body: 'a', uidl }] });
    const client = await loggedIn(server);
    const [all] = await client.uidl();
    expect(all?.nonStandard).toBe(nonStandard);
    const one = await client.uidlOne(1);
    expect(one).toMatchObject({ msg: 1, nonStandard });
    // The listing and `UIDL n` must agree, 8-bit bytes included (one is a list line, the other a status line):
    // the identity of a message may come from either.
    expect(one.uidl).toBe(all?.uidl);
    if (/^[\x20-\x7e]+$/.test(uidl)) expect(one.uidl).toBe(uidl);
  });

  it('a UIDL longer than maxUidlLength → POP3_ERR_LIMIT', async () => {
    const server = await serve({ messages: [{ body: 'a', uidl: 'u'.repeat(600) }] });
    const client = await loggedIn(server);
    await rejection(client.uidl(), 'POP3_ERR_LIMIT');
  });
});

describe('RFC 1939 §3 session states are enforced by the client', () => {
  type Case = [name: string, action: (c: Pop3Client) => Promise<unknown>, neverSent: string];
  const cases: Case[] = [
    ['RETR before login', (c) => c.retr(1), 'RETR'],
    ['STAT before login', (c) => c.stat(), 'STAT'],
    ['UIDL before login', (c) => c.uidl(), 'UIDL'],
    ['DELE before login', (c) => c.dele(1), 'DELE'],
  ];
  it.each(cases)('%s → POP3_ERR_STATE, nothing sent', async (_name, action, verb) => {
    const server = await serve({ messages: [MESSAGE] });
    const client = await connect(server);
    await rejection(action(client), 'POP3_ERR_STATE');
    await client.noop().catch(() => {});
    expect(server.count(verb)).toBe(0);
    // The session is still usable.
    await client.login({ username: 'alice', password: 'pa55-Secret!', method: 'user' });
    await client.noop();
  });

  it('login twice → POP3_ERR_STATE', async () => {
    const server = await serve();
    const client = await loggedIn(server);
    await rejection(client.login({ username: 'alice', password: 'pa55-Secret!', method: 'user' }), 'POP3_ERR_STATE');
    expect(server.count('USER')).toBe(1);
  });

  it('a bad message number is refused before anything is sent', async () => {
    const server = await serve({ messages: [MESSAGE] });
    const client = await loggedIn(server);
    await rejection(client.retr(0), 'POP3_ERR_STATE');
    await rejection(client.dele(1.5), 'POP3_ERR_STATE');
    expect(server.count('RETR') + server.count('DELE')).toBe(0);
  });

  it('after QUIT every command fails typed', async () => {
    const server = await serve();
    const client = await loggedIn(server);
    await client.quit();
    expect(client.state).toBe('CLOSED');
    await rejection(client.stat(), 'POP3_ERR_CLOSED');
    await rejection(client.quit(), 'POP3_ERR_CLOSED');
  });
});

describe('RFC 2449 §6.6 PIPELINING', () => {
  const fifty = Array.from({ length: 50 }, (_, i) => i + 1);
  const messages = fifty.map((n) => ({ body: `Subject: ${n}\r\n\r\nbody ${n}\r\n`, uidl: `uid-${n}` }));

  function uidlReads(server: ScriptedServer): number[] {
    return server.sessions[0]!.received.filter((r) => r.line.startsWith('UIDL ')).map((r) => r.read);
  }

  it('advertised: uidlMany(1..50) arrives in fewer reads than commands, replies in order', async () => {
    const server = await serve({ messages });
    const client = await loggedIn(server);
    expect(client.pipelining).toBe(true);
    const entries = await client.uidlMany(fifty);
    expect(entries.map((e) => e.uidl)).toEqual(fifty.map((n) => `uid-${n}`));
    const reads = uidlReads(server);
    expect(reads).toHaveLength(50);
    expect(new Set(reads).size).toBeLessThan(50);
  });

  it('not advertised: strictly one command per round trip', async () => {
    const server = await serve({ messages, pipelining: false });
    const client = await loggedIn(server);
    expect(client.pipelining).toBe(false);
    const entries = await client.uidlMany(fifty);
    expect(entries.map((e) => e.uidl)).toEqual(fifty.map((n) => `uid-${n}`));
    expect(new Set(uidlReads(server)).size).toBe(50);
    // Every command was answered before the next one arrived.
    const events = server.sessions[0]!.events.filter((e) => e.startsWith('C: ') || e.startsWith('S: '));
    for (let i = 1; i < events.length; i += 1) {
      if (events[i]!.startsWith('C: ')) expect(events[i - 1]!.startsWith('S: '), events[i]).toBe(true);
    }
  });

  it('login commands are never pipelined, even when advertised', async () => {
    const server = await serve();
    await loggedIn(server);
    const session = server.sessions[0]!;
    const user = session.received.find((r) => r.line.startsWith('USER '))!;
    const pass = session.received.find((r) => r.line.startsWith('PASS '))!;
    expect(pass.read).toBeGreaterThan(user.read);
  });

  it('retrEach streams pipelined bodies in order', async () => {
    const server = await serve({ messages: messages.slice(0, 10) });
    const client = await loggedIn(server);
    const got: string[] = [];
    await client.retrEach(fifty.slice(0, 10), async (_n, body) => void got.push((await readAll(body)).toString()));
    expect(got).toEqual(messages.slice(0, 10).map((m) => m.body));
  });
});

describe('RFC 1939 §6 QUIT and the UPDATE state', () => {
  async function setup(options: ScriptedServerOptions = {}): Promise<[ScriptedServer, Pop3Client]> {
    const server = await serve({ messages: [MESSAGE, 'second'], ...options });
    return [server, await loggedIn(server)];
  }

  it('DELE then QUIT removes the message', async () => {
    const [server, client] = await setup();
    await client.dele(1);
    await client.quit();
    expect(server.mailbox.messages.map((m) => m.uidl)).toEqual(['uid-2']);
  });

  it('DELE then the client drops the connection: the message stays', async () => {
    const [server, client] = await setup();
    await client.dele(1);
    client.close();
    await server.sessions[0]!.closed;
    expect(server.mailbox.messages).toHaveLength(2);
    const again = await loggedIn(server);
    expect((await again.stat()).count).toBe(2);
  });

  it('DELE then the server drops the connection: the message stays', async () => {
    const faults: FaultHooks = { override: onVerb('NOOP', drop()) };
    const [server, client] = await setup({ faults });
    await client.dele(1);
    await rejection(client.noop(), 'POP3_ERR_CLOSED');
    expect(server.mailbox.messages).toHaveLength(2);
  });

  it('QUIT answered -ERR → error with the server text', async () => {
    const faults: FaultHooks = { override: onVerb('QUIT', replyLine('-ERR [SYS/TEMP] Could not expunge')) };
    const [server, client] = await setup({ faults });
    await client.dele(1);
    const error = await rejection(client.quit(), 'POP3_ERR_SYS_TEMP');
    expect(error.serverText).toBe('Could not expunge');
    expect(client.state).toBe('CLOSED');
    expect(server.mailbox.messages).toHaveLength(2);
  });

  it('QUIT answered -ERR without a code → POP3_ERR_RESPONSE', async () => {
    const [, client] = await setup({
      faults: { override: onVerb('QUIT', replyLine('-ERR some deleted messages not removed')) },
    });
    await rejection(client.quit(), 'POP3_ERR_RESPONSE');
  });

  it('connection dropped after QUIT was sent → error (the outcome is unknown)', async () => {
    const [, client] = await setup({ faults: { override: onVerb('QUIT', drop()) } });
    await client.dele(1);
    await rejection(client.quit(), 'POP3_ERR_CLOSED');
  });

  it('connection reset after QUIT was sent → error', async () => {
    const [, client] = await setup({ faults: { override: onVerb('QUIT', drop({ reset: true })) } });
    await rejection(client.quit(), 'POP3_ERR_CLOSED');
  });

  it('QUIT in AUTHORIZATION is fine', async () => {
    const server = await serve();
    const client = await connect(server);
    await client.quit();
    expect(client.state).toBe('CLOSED');
  });
});
