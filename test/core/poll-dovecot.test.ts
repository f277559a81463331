/**
 * The poll engine's promises against the real Dovecot: store → record → queue,
 * never twice, DELE only after the durable record and only on QUIT, retention,
 * leases, and the constant cost of an idle poll.
 */
import { readFile } from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { sha256Hex } from '../support/bytes.js';
import { dovecotFromInjected } from '../support/dovecot.js';
import { type EngineHarness, engineHarness, target } from '../support/engine-harness.js';
import { fixtures } from '../support/fixtures.js';

const dovecot = dovecotFromInjected();
let harness: EngineHarness | undefined;

afterEach(async () => {
  await harness?.cleanup();
  harness = undefined;
});

function messages(n: number, tag = 'm'): Buffer[] {
  return Array.from({ length: n }, (_, i) =>
    Buffer.from(
      `From: a${i}@example.test\r\nSubject: ${tag} ${i}\r\nMessage-ID: <${tag}${i}@example.test>\r\n\r\nbody ${i}\r\n`,
    ),
  );
}

describe('leave mode', () => {
  it('stores, records and queues every message once per endpoint, oldest first, and fetches nothing twice', async () => {
    const all = fixtures().map((f) => f.bytes);
    const account = await dovecot.createMailbox(all);
    harness = await engineHarness(dovecot, account);

    const first = await harness.poll(target());
    expect(first).toMatchObject({ status: 'ok', path: 'full', fetched: all.length, remaining: 0 });

    const records = await harness.state.listDeliveries({ mailbox: 'inbox' });
    expect(records).toHaveLength(all.length * 2);
    expect(new Set(records.map((r) => r.webhookId)).size).toBe(all.length * 2);
    const uids = [...new Set(records.map((r) => r.uid))];
    const stored = await harness.state.getMessages('inbox', uids);
    expect(stored.size).toBe(all.length);
    // Every stored object is exactly what RETR gave (Dovecot adds CRLF to a message without one, see dovecot.ts).
    for (const record of stored.values()) {
      const bytes = await readFile(harness.store.pathOf(record.rawKey));
      expect(sha256Hex(bytes)).toBe(record.sha256);
      expect(bytes.length).toBe(record.size);
    }

    const second = await harness.poll(target());
    expect(second).toMatchObject({ status: 'ok', fetched: 0 });
    expect(await harness.state.listDeliveries({ mailbox: 'inbox' })).toHaveLength(all.length * 2);
  });

  it('an idle poll costs a constant number of state-store round trips and uses STAT + UIDL n only', async () => {
    const account = await dovecot.createMailbox(messages(40));
    const trace: string[] = [];
    harness = await engineHarness(dovecot, account, (dir, line) => {
      if (dir === 'C') trace.push(line);
    });
    await harness.poll(target());
    const costs: number[] = [];
    for (let i = 0; i < 3; i += 1) {
      trace.length = 0;
      const before = harness.state.stats().roundTrips;
      const idle = await harness.poll(target());
      expect(idle).toMatchObject({ status: 'ok', path: 'idle', fetched: 0 });
      costs.push(harness.state.stats().roundTrips - before);
      expect(trace.filter((l) => l === 'UIDL' || l === 'LIST' || l.startsWith('RETR'))).toEqual([]);
      expect(trace).toContain('STAT');
      expect(trace).toContain('UIDL 40');
    }
    // One read (state and lease together) and no write, whatever the mailbox size: test/core/idle-poll.test.ts.
    expect(costs).toEqual([1, 1, 1]);
  });

  it('new mail appended to a known mailbox is found incrementally without a full UIDL listing', async () => {
    const account = await dovecot.createMailbox(messages(10, 'old'));
    const trace: string[] = [];
    harness = await engineHarness(dovecot, account, (dir, line) => {
      if (dir === 'C') trace.push(line);
    });
    await harness.poll(target());
    await dovecot.appendMessages(account.user, messages(3, 'new'));
    trace.length = 0;
    const result = await harness.poll(target());
    expect(result).toMatchObject({ status: 'ok', path: 'incremental', fetched: 3 });
    expect(trace).not.toContain('UIDL');
    expect(trace.filter((l) => l.startsWith('RETR'))).toEqual(['RETR 11', 'RETR 12', 'RETR 13']);
  });

  it('retention deletes recorded messages older than N days, only after QUIT, and never unrecorded ones', async () => {
    const account = await dovecot.createMailbox(messages(5));
    harness = await engineHarness(dovecot, account);
    let clock = Date.UTC(2026, 0, 1);
    const now = () => clock;
    await harness.poll(target({ retentionDays: 7 }), {}, { now });
    await dovecot.appendMessages(account.user, messages(2, 'late'));
    clock += 8 * 86_400_000;
    const result = await harness.poll(target({ retentionDays: 7 }), {}, { now });
    // The 5 old ones are past retention and go; the 2 new ones are fetched and stay.
    expect(result).toMatchObject({ status: 'ok', fetched: 2, deleted: 5 });
    expect(await dovecot.mailboxFiles(account.user)).toHaveLength(2);
  });

  it('two concurrent polls of one mailbox: one fetches, the other is busy or finds nothing left', async () => {
    const account = await dovecot.createMailbox(messages(20));
    harness = await engineHarness(dovecot, account);
    const [a, b] = await Promise.all([harness.poll(target()), harness.poll(target())]);
    // Both log in before either takes the lease; the loser is busy, or (if the winner finished first)
    // re-checks under the lease and finds nothing new.
    expect([a.status, b.status]).toContain('ok');
    for (const r of [a, b]) expect(['ok', 'busy']).toContain(r.status);
    expect([a.fetched, b.fetched].sort((x, y) => x - y)).toEqual([0, 20]);
    expect(await harness.state.listDeliveries({ mailbox: 'inbox' })).toHaveLength(40);
  });
});

describe('delete mode', () => {
  it('DELEs a message only after it is stored and recorded, and the server removes it on QUIT', async () => {
    const account = await dovecot.createMailbox(messages(6));
    harness = await engineHarness(dovecot, account);
    const seen: string[] = [];
    const result = await harness.poll(
      target({ mode: 'delete' }),
      {},
      {
        probe: async (point, info) => {
          if (point === 'after-record' && info.uid) {
            const rec = await harness!.state.getMessages('inbox', [info.uid]);
            expect(rec.size).toBe(1);
          }
          seen.push(point);
        },
      },
    );
    expect(result).toMatchObject({ status: 'ok', fetched: 6, deleted: 6 });
    expect(seen.indexOf('after-dele')).toBeGreaterThan(seen.lastIndexOf('after-record'));
    expect(await dovecot.mailboxFiles(account.user)).toEqual([]);
    const again = await harness.poll(target({ mode: 'delete' }));
    expect(again).toMatchObject({ status: 'ok', path: 'idle', fetched: 0 });
  });

  it('a session that dies before QUIT keeps every message on the server; the next poll DELEs without fetching again', async () => {
    const account = await dovecot.createMailbox(messages(4));
    harness = await engineHarness(dovecot, account);
    const died = await harness.poll(
      target({ mode: 'delete' }),
      {},
      {
        probe: (point) => {
          if (point === 'before-quit') throw new Error('simulated crash before QUIT');
        },
      },
    );
    expect(died.status).toBe('error');
    expect(await dovecot.mailboxFiles(account.user)).toHaveLength(4);
    const jobsBefore = await harness.state.listDeliveries({ mailbox: 'inbox' });
    expect(jobsBefore).toHaveLength(8);

    const next = await harness.poll(target({ mode: 'delete' }));
    expect(next).toMatchObject({ status: 'ok', fetched: 0, deleted: 4 });
    expect(await dovecot.mailboxFiles(account.user)).toEqual([]);
    expect(await harness.state.listDeliveries({ mailbox: 'inbox' })).toHaveLength(8);
  });
});

describe('budget and caps', () => {
  it('stops taking new messages at the deadline, finishes the current one, QUITs, and the next poll resumes', async () => {
    // More messages than the poll has in flight at once (16 storing, 4 more requested), so the deadline,
    // reached after the first records, leaves some unrequested.
    const total = 40;
    const account = await dovecot.createMailbox(messages(total));
    harness = await engineHarness(dovecot, account);
    let stored = 0;
    let clock = 1_000_000;
    const first = await harness.poll(
      target(),
      { deadline: 1_000_000 + 4 },
      {
        now: () => clock,
        probe: (point) => {
          if (point === 'after-record') {
            stored += 1;
            clock += 1;
          }
        },
      },
    );
    expect(first.status).toBe('ok');
    expect(first.fetched).toBeGreaterThanOrEqual(4);
    expect(first.fetched).toBeLessThan(total);
    expect(first.remaining).toBe(total - first.fetched);
    const second = await harness.poll(target());
    expect(second.fetched).toBe(total - first.fetched);
    expect(stored).toBe(first.fetched);
  });

  it('maxMessagesPerRun caps one run; the rest come next time', async () => {
    const account = await dovecot.createMailbox(messages(7));
    harness = await engineHarness(dovecot, account);
    const a = await harness.poll(target({ caps: { maxMessagesPerRun: 3 } }));
    expect(a).toMatchObject({ fetched: 3, remaining: 4 });
    const b = await harness.poll(target({ caps: { maxMessagesPerRun: 3 } }));
    expect(b).toMatchObject({ fetched: 3, remaining: 1 });
    const c = await harness.poll(target({ caps: { maxMessagesPerRun: 3 } }));
    expect(c).toMatchObject({ fetched: 1, remaining: 0 });
  });

  it('size limit headers-only stores the headers and queues an event; skip stores headers without an event', async () => {
    const big = Buffer.from(`Subject: big\r\n\r\n${'x'.repeat(50_000)}\r\n`);
    const account = await dovecot.createMailbox([big, ...messages(1)]);
    harness = await engineHarness(dovecot, account);
    const result = await harness.poll(target({ sizeLimit: { maxBytes: 10_000, action: 'skip' } }));
    expect(result).toMatchObject({ status: 'ok', skipped: 1 });
    const jobs = await harness.state.listDeliveries({ mailbox: 'inbox' });
    expect(jobs).toHaveLength(2); // only the small message, two endpoints
  });
});
