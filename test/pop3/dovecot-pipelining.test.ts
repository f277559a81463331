/**
 * RFC 2449 §6.6 PIPELINING against the real Dovecot, which advertises it: batches of UIDL n, RETR and DELE
 * go out before their replies come back and still come back in order, byte for byte. And backpressure with a
 * real server: a consumer that stops reading a 20 MB RETR holds the client to a few hundred KB.
 */
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import v8 from 'node:v8';
import vm from 'node:vm';
import { describe, expect, it } from 'vitest';
import { Pop3Client } from '../../functions/pop3/client.js';
import { dovecotFromInjected } from '../support/dovecot.js';
import { bigMessage, fixtures } from '../support/fixtures.js';
import {
  connectOptions,
  expectedRetrBytes,
  loggedIn,
  readAll,
  type TraceLine,
  TraceRecorder,
} from './dovecot-support.js';

const dovecot = dovecotFromInjected();
const { facts } = dovecot;

/**
 * The V8 garbage collector, so a memory baseline does not include garbage that would be freed during the
 * measurement and hide real growth (the usual trick without starting node with --expose-gc).
 */
function collectGarbage(): void {
  v8.setFlagsFromString('--expose-gc');
  (vm.runInNewContext('gc') as () => void)();
}

/** How many client lines, starting with `first`, went out before the first server line after it. */
function sentBeforeFirstReply(lines: readonly TraceLine[], first: string): number {
  const start = lines.findIndex((l) => l.dir === 'C' && l.line === first);
  if (start === -1) return 0;
  const reply = lines.findIndex((l, i) => i > start && l.dir === 'S');
  return (reply === -1 ? lines.length : reply) - start;
}

describe('pipelining (RFC 2449 §6.6)', () => {
  const messages = fixtures().map((f) => f.bytes);
  const n = messages.length;
  const all = Array.from({ length: n }, (_, i) => i + 1);

  it('is on after login, because Dovecot advertises PIPELINING', async () => {
    const account = await dovecot.createMailbox(messages.slice(0, 1));
    const client = await Pop3Client.connect(connectOptions(facts, 'implicit'));
    expect(client.capabilities.pipelining).toBe(true);
    // Never while authenticating: state-changing commands are not pipelined.
    expect(client.pipelining).toBe(false);
    await client.login({ username: account.user, password: account.password });
    expect(client.pipelining).toBe(true);
    await client.quit();
  });

  it('uidlMany sends every UIDL n before the first reply and equals UIDL', async () => {
    const account = await dovecot.createMailbox(messages);
    const trace = new TraceRecorder();
    const client = await loggedIn(facts, account, { extra: { trace: trace.sink } });
    const listed = await client.uidl();
    const many = await client.uidlMany(all);
    expect(many).toEqual(listed);
    // Out of order asks come back matched to their own numbers.
    const reversed = await client.uidlMany([...all].reverse());
    expect(reversed).toEqual([...listed].reverse());
    // Evidence that the batch was pipelined: all n commands were written before any reply was read.
    expect(sentBeforeFirstReply(trace.lines, 'UIDL 1'), trace.toString()).toBe(n);
    expect(trace.sentFrom('UIDL 1').slice(0, n)).toEqual(all.map((i) => `UIDL ${i}`));
    await client.quit();
  });

  it('retrEach hands out every body in order, byte for byte, with the next RETRs already sent', async () => {
    const account = await dovecot.createMailbox(messages);
    const trace = new TraceRecorder();
    const client = await loggedIn(facts, account, { extra: { trace: trace.sink } });
    const seen: number[] = [];
    const count = await client.retrEach(all, async (i, body) => {
      seen.push(i);
      const bytes = await readAll(body);
      expect(bytes.equals(expectedRetrBytes(messages[i - 1]!)), `message ${i}`).toBe(true);
    });
    expect(count).toBe(n);
    expect(seen).toEqual(all);
    // The default depth is 4: RETR 1..4 went out together.
    expect(sentBeforeFirstReply(trace.lines, 'RETR 1'), trace.toString()).toBe(4);
    expect(trace.sent.filter((l) => l.startsWith('RETR '))).toEqual(all.map((i) => `RETR ${i}`));
    // The session is still in step after the batch.
    expect((await client.stat()).count).toBe(n);
    await client.quit();
  });

  it('retrEach lets go of every body it has handed out, so a long session does not grow', async () => {
    // A session over thousands of messages must not keep each one's stream (and what its consumer hung on
    // it) until the last: that grew the poll's heap by ~6 KB a message, 30 MB over 5,000.
    const count = 30;
    const account = await dovecot.createMailbox(Array.from({ length: count }, (_, i) => messages[i % n]!));
    const client = await loggedIn(facts, account);
    const bodies: Array<WeakRef<object>> = [];
    let stillHeld = -1;
    await client.retrEach(
      Array.from({ length: count }, (_, i) => i + 1),
      async (i, body) => {
        bodies.push(new WeakRef(body));
        await readAll(body);
        if (i !== count) return;
        // A turn of the event loop first: V8 keeps a WeakRef's target alive until the job that made it ends.
        await sleep(0);
        collectGarbage();
        // All but the bodies that may still be in flight (the pipelining depth is 4) must be gone.
        stillHeld = bodies.slice(0, count - 8).filter((ref) => ref.deref() !== undefined).length;
      },
    );
    expect(stillHeld).toBe(0);
    await client.quit();
  });

  it('deleMany then QUIT removes every message', async () => {
    const account = await dovecot.createMailbox(messages);
    const trace = new TraceRecorder();
    const client = await loggedIn(facts, account, { extra: { trace: trace.sink } });
    await client.deleMany(all);
    expect(sentBeforeFirstReply(trace.lines, 'DELE 1')).toBe(n);
    expect(await client.stat()).toEqual({ count: 0, size: 0 });
    await client.quit();
    await expect.poll(() => dovecot.mailboxFiles(account.user)).toEqual([]);
    const again = await loggedIn(facts, account);
    expect(await again.newest()).toEqual({ count: 0, size: 0, lastUidl: undefined });
    await again.quit();
  });

  it('retrEach closes the session when the consumer fails, and the bodies pipelined behind it fail quietly', async () => {
    const account = await dovecot.createMailbox(messages);
    const client = await loggedIn(facts, account);
    await client.dele(n);
    const boom = new Error('consumer failed');
    let calls = 0;
    const outcome = client.retrEach(all.slice(0, -1), async (i, body) => {
      calls += 1;
      await readAll(body);
      if (i === 2) throw boom;
    });
    await expect(outcome).rejects.toBe(boom);
    expect(calls).toBe(2);
    expect(client.state).toBe('CLOSED');
    // RETR 3..5 were already on the wire; their unread bodies must not surface as unhandled errors (vitest
    // fails the run on those), and the DELE of this session is dropped with the connection.
    expect((await client.stat().catch((e: unknown) => e)) as object).toMatchObject({ code: 'POP3_ERR_CLOSED' });
    await expect.poll(async () => (await dovecot.mailboxFiles(account.user)).length).toBe(n);
  });

  it('a DELE of a message that is not there fails alone; the rest of the batch stands', async () => {
    const account = await dovecot.createMailbox(messages.slice(0, 3));
    const client = await loggedIn(facts, account);
    const results = await Promise.allSettled([client.dele(1), client.dele(9), client.dele(3)]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((results[1] as PromiseRejectedResult).reason).toMatchObject({ code: 'POP3_ERR_RESPONSE' });
    expect((await client.stat()).count).toBe(1);
    await client.quit();
    await expect.poll(async () => (await dovecot.mailboxFiles(account.user)).length).toBe(1);
  });
});

describe('backpressure with a real server', () => {
  it('a paused consumer of a 20 MB RETR keeps only a few hundred KB buffered', async () => {
    const big = bigMessage(20 * 1024 * 1024, 20);
    const expected = expectedRetrBytes(big);
    const expectedHash = createHash('sha256').update(expected).digest('hex');
    const account = await dovecot.createMailbox([big]);
    const client = await loggedIn(facts, account);
    const started = Date.now();

    const body = await client.retr(1);
    collectGarbage();
    const baseline = process.memoryUsage();
    let maxBuffered = 0;
    let maxArrayBuffersGrowth = 0;
    let maxRssGrowth = 0;
    const sample = (paused: boolean): void => {
      maxBuffered = Math.max(maxBuffered, body.readableLength);
      if (!paused) return;
      const now = process.memoryUsage();
      maxArrayBuffersGrowth = Math.max(maxArrayBuffersGrowth, now.arrayBuffers - baseline.arrayBuffers);
      maxRssGrowth = Math.max(maxRssGrowth, now.rss - baseline.rss);
    };

    const hash = createHash('sha256');
    let received = 0;
    let chunks = 0;
    let receivedBeforePause = 0;
    for await (const chunk of body) {
      const buf = chunk as Buffer;
      hash.update(buf);
      received += buf.length;
      chunks += 1;
      sample(false);
      if (chunks === 1) {
        receivedBeforePause = received;
        // Stop reading for a while: Dovecot can fill every buffer on the way in far less time than this.
        for (let i = 0; i < 20; i += 1) {
          await sleep(20);
          sample(true);
        }
        // While paused, the stream held no more than its high-water mark and one TCP/TLS chunk.
        expect(body.readableLength).toBeLessThanOrEqual(256 * 1024);
      }
    }

    expect(received).toBe(expected.length);
    expect(hash.digest('hex')).toBe(expectedHash);
    expect(receivedBeforePause).toBeLessThan(256 * 1024);
    // Had the client read the whole message into memory during the pause, these would be ~20 MB (measured
    // only while paused: once reading resumes, chunks already consumed are garbage the GC has not freed yet).
    expect(maxBuffered).toBeLessThanOrEqual(256 * 1024);
    expect(maxArrayBuffersGrowth).toBeLessThan(2 * 1024 * 1024);
    expect(maxRssGrowth).toBeLessThan(64 * 1024 * 1024);
    expect((await client.stat()).count).toBe(1);
    await client.quit();
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});
