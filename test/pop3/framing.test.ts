/**
 * RFC 1939 §3 multi-line framing against the scripted server: byte-stuffing,
 * the terminator wherever TCP cuts it, bare LF, backpressure, and how a body
 * stream and the next command relate.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { multiLineBody, onVerb, reply } from '../../functions/scripted-server/index.js';
import { connect, loggedIn, readAll, rejection, serve, sleep } from './scripted-helpers.js';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** A deterministic multi-megabyte message with dot lines every so often. */
function bigMessage(bytes: number): Buffer {
  const lines: string[] = ['Subject: big', ''];
  let size = 16;
  for (let i = 0; size < bytes; i += 1) {
    const line = i % 97 === 0 ? `.dot line ${i}` : `line ${i} ${'x'.repeat(60 + (i % 20))}`;
    lines.push(line);
    size += line.length + 2;
  }
  return Buffer.from(`${lines.join('\r\n')}\r\n`, 'latin1');
}

describe('RFC 1939 §3 byte-stuffing: bodies arrive byte-exact', () => {
  const cases: Array<[name: string, stored: string, expected: string]> = [
    ['plain message', 'Subject: a\r\n\r\nhello\r\n', 'Subject: a\r\n\r\nhello\r\n'],
    ['a line that is a single dot', 'S: a\r\n\r\n.\r\nafter\r\n', 'S: a\r\n\r\n.\r\nafter\r\n'],
    ['a line of two dots', 'S: a\r\n\r\n..\r\n', 'S: a\r\n\r\n..\r\n'],
    ['dots at the start of the first and last lines', '.first\r\nmid\r\n...last\r\n', '.first\r\nmid\r\n...last\r\n'],
    ['a dot line as the very last line', 'S: a\r\n\r\nbody\r\n.\r\n', 'S: a\r\n\r\nbody\r\n.\r\n'],
    ['a dot not at a line start stays', 'a.b\r\n x.\r\n', 'a.b\r\n x.\r\n'],
    ['no final line end: CR LF appended, as Dovecot does', 'S: a\r\n\r\nno newline', 'S: a\r\n\r\nno newline\r\n'],
    ['a final dot without a line end', 'S: a\r\n\r\n.', 'S: a\r\n\r\n.\r\n'],
    ['empty message', '', ''],
    ['stored with bare LF: sent and received as is', 'S: a\n\n.\nline\n..\n', 'S: a\n\n.\nline\n..\n'],
    ['a CR alone is not a line end', 'a\r.b\r\n', 'a\r.b\r\n'],
  ];

  it.each(cases)('%s', async (_name, stored, expected) => {
    const server = await serve({ messages: [stored] });
    const client = await loggedIn(server);
    const body = await readAll(await client.retr(1));
    expect(body.toString('latin1')).toBe(expected);
    // The connection is still in step: the next command gets its own reply.
    await client.noop();
  });

  it('bare-LF replies (status line, body and terminator all LF) give the LF body', async () => {
    const stored = 'Subject: lf\r\n\r\n.dot\r\nline\r\n';
    const server = await serve({ messages: [stored], faults: { body: { bareLf: true } } });
    const client = await loggedIn(server);
    expect((await readAll(await client.retr(1))).toString('latin1')).toBe('Subject: lf\n\n.dot\nline\n');
    await client.noop();
  });

  it('TOP n 0 gives the header and the blank line', async () => {
    const server = await serve({ messages: ['Subject: t\r\nX: y\r\n\r\n.body\r\nmore\r\n'] });
    const client = await loggedIn(server);
    expect((await readAll(await client.top(1, 0))).toString()).toBe('Subject: t\r\nX: y\r\n\r\n');
    expect((await readAll(await client.top(1, 1))).toString()).toBe('Subject: t\r\nX: y\r\n\r\n.body\r\n');
  });
});

describe('RFC 1939 §3 terminator split across TCP reads', () => {
  const message = Buffer.from('Subject: s\r\n\r\n.\r\n..x\r\nlast\r\n', 'latin1');
  const status = Buffer.from(`+OK ${message.length} octets\r\n`, 'latin1');

  for (const eol of ['\r\n', '\n'] as const) {
    const bareLf = eol === '\n';
    const expected = bareLf ? message.toString('latin1').replaceAll('\r\n', '\n') : message.toString('latin1');
    const wireLength =
      (bareLf ? status.length - 1 : status.length) + multiLineBody(Buffer.from(expected, 'latin1'), eol).length;

    it(`${bareLf ? 'bare LF' : 'CR LF'}: every single cut offset gives the exact body`, async () => {
      const server = await serve({
        messages: [message],
        // RETR number k is cut at offset k: one session walks every offset of the reply.
        faults: { body: (command) => ({ splitAt: [command.nth], bareLf }) },
      });
      const client = await loggedIn(server);
      for (let offset = 1; offset < wireLength; offset += 1) {
        const body = await readAll(await client.retr(1));
        expect(body.toString('latin1'), `cut at ${offset}`).toBe(expected);
      }
      await client.noop();
      expect(server.count('RETR')).toBe(wireLength - 1);
    });

    it(`${bareLf ? 'bare LF' : 'CR LF'}: every pair of cuts in the last 10 bytes gives the exact body`, async () => {
      const pairs: Array<[number, number]> = [];
      for (let a = wireLength - 10; a < wireLength; a += 1) {
        for (let b = a + 1; b < wireLength; b += 1) pairs.push([a, b]);
      }
      const server = await serve({
        messages: [message],
        faults: { body: (command) => ({ splitAt: pairs[command.nth - 1] ?? [], bareLf }) },
      });
      const client = await loggedIn(server);
      for (const pair of pairs) {
        expect((await readAll(await client.retr(1))).toString('latin1'), `cuts at ${pair}`).toBe(expected);
      }
      await client.noop();
    });
  }

  it('every byte in its own TCP read', async () => {
    const server = await serve({
      messages: [message],
      faults: { body: { splitAt: Array.from({ length: 80 }, (_, i) => i + 1) } },
    });
    const client = await loggedIn(server);
    expect((await readAll(await client.retr(1))).toString('latin1')).toBe(message.toString('latin1'));
    await client.noop();
  });
});

describe('status lines and list replies split across TCP reads', () => {
  const uidlReply = '+OK\r\n1 first\r\n2 .dotted\r\n3 third\r\n.\r\n';
  const statReply = '+OK 3 300\r\n';

  it('UIDL list: every cut offset gives the same entries', async () => {
    const server = await serve({
      faults: { override: (c) => (c.verb === 'UIDL' ? reply(uidlReply, [c.nth]) : undefined) },
    });
    const client = await loggedIn(server);
    for (let offset = 1; offset < uidlReply.length; offset += 1) {
      const entries = await client.uidl();
      expect(
        entries.map((e) => e.uidl),
        `cut at ${offset}`,
      ).toEqual(['first', '.dotted', 'third']);
    }
    await client.noop();
  });

  it('UIDL list: every line in its own read', async () => {
    const cuts = [...uidlReply.matchAll(/\n/g)].map((m) => m.index + 1);
    const server = await serve({ faults: { override: onVerb('UIDL', reply(uidlReply, cuts)) } });
    const client = await loggedIn(server);
    expect((await client.uidl()).map((e) => e.msg)).toEqual([1, 2, 3]);
  });

  it('status line: every cut offset gives the same reply', async () => {
    const server = await serve({
      faults: { override: (c) => (c.verb === 'STAT' ? reply(statReply, [c.nth]) : undefined) },
    });
    const client = await loggedIn(server);
    for (let offset = 1; offset < statReply.length; offset += 1) {
      expect(await client.stat(), `cut at ${offset}`).toEqual({ count: 3, size: 300 });
    }
  });
});

describe('backpressure and the order of body and next command', () => {
  it('a slow consumer pauses the socket: the server cannot write the whole message', async () => {
    const message = bigMessage(24 * 1024 * 1024);
    const server = await serve({ messages: [message], pipelining: false });
    const client = await loggedIn(server);
    const session = await server.session(1);
    const stream = await client.retr(1);
    // Read one chunk in paused mode, then read nothing for a while.
    await new Promise<void>((resolve) => stream.once('readable', () => resolve()));
    const first = stream.read() as Buffer;
    expect(first.length).toBeGreaterThan(0);
    await sleep(400);
    const flushedWhilePaused = session.stats.bytesFlushed;
    await sleep(200);
    // The server is blocked on `drain`, and got nowhere during the last 200 ms.
    expect(session.stats.waitingForDrain).toBe(true);
    expect(session.stats.writeReturnedFalse).toBeGreaterThan(0);
    expect(session.stats.bytesFlushed).toBe(flushedWhilePaused);
    expect(flushedWhilePaused).toBeLessThan(message.length / 2);
    const rest = await readAll(stream);
    const body = Buffer.concat([first, rest]);
    expect(body.length).toBe(message.length);
    expect(sha256(body)).toBe(sha256(message));
    await client.noop();
  });

  it('the next command is written only after the body was read off the wire', async () => {
    const message = bigMessage(8 * 1024 * 1024);
    const server = await serve({ messages: [message], pipelining: false });
    const client = await loggedIn(server);
    const session = await server.session(1);
    const stream = await client.retr(1);
    stream.pause();
    const noop = client.noop();
    await sleep(300);
    // The consumer holds the body, so the NOOP must still be in the client.
    expect(server.count('NOOP')).toBe(0);
    const body = await readAll(stream);
    expect(sha256(body)).toBe(sha256(message));
    await noop;
    const endOfBody = session.events.indexOf('S: end of RETR body');
    const noopArrived = session.events.indexOf('C: NOOP');
    expect(endOfBody).toBeGreaterThan(-1);
    expect(noopArrived).toBeGreaterThan(endOfBody);
  });

  it('a small body: the next command still arrives after the terminator', async () => {
    const server = await serve({ messages: ['Subject: a\r\n\r\nsmall\r\n'], pipelining: false });
    const client = await loggedIn(server);
    const session = await server.session(1);
    const [stream, stat] = await Promise.all([client.retr(1), client.stat()]);
    expect(stat.count).toBe(1);
    expect((await readAll(stream)).toString()).toBe('Subject: a\r\n\r\nsmall\r\n');
    expect(session.events.indexOf('C: STAT')).toBeGreaterThan(session.events.indexOf('S: end of RETR body'));
  });

  it('destroying a body stream early closes the connection; the next command fails typed', async () => {
    const message = bigMessage(4 * 1024 * 1024);
    const server = await serve({ messages: [message] });
    const client = await loggedIn(server);
    const session = await server.session(1);
    const stream = await client.retr(1);
    await new Promise<void>((resolve) => stream.once('data', () => resolve()));
    stream.destroy();
    await session.closed;
    expect(client.state).toBe('CLOSED');
    await rejection(client.noop(), 'POP3_ERR_ABORTED');
    expect(server.count('NOOP')).toBe(0);
    // Nothing was deleted: no QUIT was sent.
    expect(server.mailbox.messages).toHaveLength(1);
  });

  it('a body that was read off the wire completely may be destroyed without harm', async () => {
    const server = await serve({ messages: ['Subject: a\r\n\r\nsmall\r\n'] });
    const client = await connect(server);
    await client.login({ username: 'alice', password: 'pa55-Secret!', method: 'user' });
    const stream = await client.retr(1);
    await client.noop(); // the NOOP reply comes after the terminator, so the body is complete on the wire
    stream.destroy();
    await sleep(20);
    expect(client.state).toBe('TRANSACTION');
    await client.noop();
  });
});
