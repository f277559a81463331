/**
 * After a session that ended before QUIT's outcome was known, the next poll compares each listed message's
 * `TOP n 0` with the header section of what RETR stored (same-message.ts). With Dovecot, a message whose two
 * header sections differed would be judged another message and delivered twice: these messages, each a shape
 * Dovecot treats specially (folding, 8-bit bytes, bare LF, no body, no blank line, no headers, a dot at the
 * start of a line, a long line), must compare as the same message.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { compareHeaderSections, headerSection, readStoredHeaders } from '../../functions/core/poll/same-message.js';
import { dovecotFromInjected } from '../support/dovecot.js';
import { dovecotSession, type EngineHarness, engineHarness, target } from '../support/engine-harness.js';

const dovecot = dovecotFromInjected();
let harness: EngineHarness | undefined;

afterEach(async () => {
  await harness?.cleanup();
  harness = undefined;
});

const tricky: ReadonlyArray<[string, Buffer]> = [
  ['folded fields', Buffer.from('Subject: a\r\n\tfolded\r\n  twice\r\nMessage-ID: <f@x>\r\n\r\nbody\r\n')],
  [
    '8-bit bytes in fields',
    Buffer.from([
      ...Buffer.from('Subject: caf'),
      0xe9,
      0xc3,
      0xa9,
      ...Buffer.from('\r\nMessage-ID: <8@x>\r\n\r\nb\r\n'),
    ]),
  ],
  ['bare LF line ends', Buffer.from('Subject: lf\nMessage-ID: <lf@x>\n\nbody\n')],
  ['mixed line ends', Buffer.from('Subject: mixed\r\nMessage-ID: <mx@x>\n\r\nbody\r\n')],
  ['no body after the blank line', Buffer.from('Subject: empty\r\nMessage-ID: <e@x>\r\n\r\n')],
  ['no blank line at all', Buffer.from('Subject: headers only\r\nMessage-ID: <h@x>\r\n')],
  ['no final line end', Buffer.from('Subject: tail\r\nMessage-ID: <t@x>')],
  ['no header fields', Buffer.from('\r\njust a body\r\n')],
  ['a dot at the start of a line', Buffer.from('Subject: dot\r\n.X-Dot: y\r\nMessage-ID: <d@x>\r\n\r\n.\r\n..\r\n')],
  ['a whitespace-only line among the fields', Buffer.from('Subject: ws\r\n \r\nMessage-ID: <w@x>\r\n\r\nb\r\n')],
  ['a lone CR in a field', Buffer.from('Subject: a\rb\r\nMessage-ID: <cr@x>\r\n\r\nb\r\n')],
  ['a NUL byte in a field', Buffer.from('Subject: a\0b\r\nMessage-ID: <nul@x>\r\n\r\nb\r\n')],
  ['a 200 kB field', Buffer.from(`Subject: long\r\nX-Long: ${'x'.repeat(200_000)}\r\nMessage-ID: <l@x>\r\n\r\nb\r\n`)],
  ['an mbox From_ line first', Buffer.from('From someone@x Mon Nov 30 00:00:00 2026\r\nSubject: from\r\n\r\nb\r\n')],
];

describe('Dovecot: TOP n 0 and the stored RETR agree on the header section', () => {
  it('each tricky message compares as the same message', async () => {
    const account = await dovecot.createMailbox(tricky.map(([, bytes]) => bytes));
    harness = await engineHarness(dovecot, account);
    expect(await harness.poll(target())).toMatchObject({ status: 'ok', fetched: tricky.length });
    const client = await dovecotSession(dovecot, account);
    const uidls = await client.uidl();
    const records = await harness.state.getMessages(
      'inbox',
      uidls.map((e) => e.uidl),
    );
    const verdicts: Record<string, string> = {};
    for (const [i, [name]] of tricky.entries()) {
      const chunks: Buffer[] = [];
      for await (const chunk of await client.top(i + 1, 0)) chunks.push(chunk as Buffer);
      const listed = headerSection(Buffer.concat(chunks));
      const stored = await readStoredHeaders(harness.store, records.get(uidls[i]!.uidl)!.rawKey);
      // Byte for byte, not only after the comparison's normalising (line ends, folding, status fields).
      const bytes = stored !== undefined && listed.equals(stored) ? 'equal bytes' : 'other bytes';
      verdicts[name] = `${compareHeaderSections(listed, stored)}, ${bytes}`;
    }
    await client.quit();
    // A message without Message-ID or Received cannot be told from another one without: not comparable, by design.
    const expected = (name: string) =>
      name === 'no header fields' || name === 'an mbox From_ line first' ? 'unknown' : 'same';
    expect(verdicts).toEqual(Object.fromEntries(tricky.map(([name]) => [name, `${expected(name)}, equal bytes`])));
  });

  it('delete mode: a session dropped before QUIT is followed by DELE of the same messages, none delivered twice', async () => {
    const account = await dovecot.createMailbox(tricky.map(([, bytes]) => bytes));
    harness = await engineHarness(dovecot, account);
    const died = await harness.poll(
      target({ mode: 'delete' }),
      {},
      {
        probe: (point) => {
          if (point === 'before-quit') throw new Error('simulated drop before QUIT');
        },
      },
    );
    expect(died).toMatchObject({ status: 'error', fetched: tricky.length });
    const next = await harness.poll(target({ mode: 'delete' }));
    // All but the two without Message-ID or Received, which are fetched again, matched by content, and DELEted later.
    expect(next).toMatchObject({ status: 'ok', fetched: 0, deleted: tricky.length - 2 });
    for (let i = 0; i < 2; i += 1) expect(await harness.poll(target({ mode: 'delete' }))).toMatchObject({ fetched: 0 });
    expect(await dovecot.mailboxFiles(account.user)).toEqual([]);
    expect(await harness.state.listDeliveries({ mailbox: 'inbox' })).toHaveLength(tricky.length * 2);
  });
});
