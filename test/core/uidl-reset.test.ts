/**
 * A UIDL reset on a real Dovecot: after the first poll we delete the
 * mailbox's dovecot-uidlist and indexes, as a server migration or a rebuilt
 * maildir would, and Dovecot hands out new UIDVALIDITY-based UIDLs for the same
 * messages. The next poll must notice, match the messages by content hash,
 * deliver nothing again, record the event — and still deliver a message that
 * is really new.
 */
import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { dovecotFromInjected } from '../support/dovecot.js';
import { type EngineHarness, engineHarness, target } from '../support/engine-harness.js';

const dovecot = dovecotFromInjected();
let harness: EngineHarness | undefined;
afterEach(async () => {
  await harness?.cleanup();
});

/**
 * Forgets Dovecot's UID bookkeeping (its dovecot-* files), as a server migration or a rebuilt maildir would:
 * the next session hands out new UIDLs for the same messages. UIDVALIDITY is a timestamp: wait for a new second.
 */
async function forgetUidls(user: string): Promise<void> {
  const maildir = path.join(dovecot.facts.mailRoot, user);
  for (const name of await readdir(maildir)) {
    if (name.startsWith('dovecot')) await rm(path.join(maildir, name), { recursive: true, force: true });
  }
  await new Promise((resolve) => setTimeout(resolve, 1100));
}

function messages(n: number, tag: string): Buffer[] {
  return Array.from({ length: n }, (_, i) =>
    Buffer.from(`Subject: ${tag} ${i}\r\nMessage-ID: <${tag}${i}@x>\r\n\r\n${tag} body ${i}\r\n`),
  );
}

it('matches the known messages by content hash after a UIDL reset and delivers only what is new', async () => {
  const account = await dovecot.createMailbox(messages(15, 'old'));
  harness = await engineHarness(dovecot, account);
  const first = await harness.poll(target());
  expect(first.fetched).toBe(15);
  const jobsBefore = await harness.state.listDeliveries({ mailbox: 'inbox' });

  await forgetUidls(account.user);
  await dovecot.appendMessages(account.user, messages(1, 'new'));

  const second = await harness.poll(target());
  expect(second.status).toBe('ok');
  expect(second.uidlReset).toEqual({ matchedByHash: 15, unknown: 1 });
  expect(second.fetched).toBe(1);
  const jobsAfter = await harness.state.listDeliveries({ mailbox: 'inbox' });
  // Only the new message got delivery jobs (2 endpoints); nothing old is queued again.
  expect(jobsAfter.length - jobsBefore.length).toBe(2);
  expect((await harness.state.getMailboxState('inbox'))?.lastUidlReset).toMatchObject({
    matchedByHash: 15,
    unknown: 1,
  });

  const third = await harness.poll(target());
  expect(third).toMatchObject({ status: 'ok', fetched: 0 });
  expect(third.uidlReset).toBeUndefined();
});

it('a small mailbox (under 10 known UIDLs) is matched too, once every known UIDL is gone', async () => {
  const account = await dovecot.createMailbox(messages(3, 'small'));
  harness = await engineHarness(dovecot, account);
  expect((await harness.poll(target())).fetched).toBe(3);
  const jobsBefore = await harness.state.listDeliveries({ mailbox: 'inbox' });

  await forgetUidls(account.user);
  await dovecot.appendMessages(account.user, messages(1, 'fresh'));

  const second = await harness.poll(target());
  expect(second.uidlReset).toEqual({ matchedByHash: 3, unknown: 1 });
  expect(second.fetched).toBe(1);
  expect((await harness.state.listDeliveries({ mailbox: 'inbox' })).length - jobsBefore.length).toBe(2);
});

it('a small mailbox where a known UIDL is still there is not taken for a reset: new mail is just new', async () => {
  const account = await dovecot.createMailbox(messages(2, 'kept'));
  harness = await engineHarness(dovecot, account);
  expect((await harness.poll(target())).fetched).toBe(2);
  await dovecot.appendMessages(account.user, messages(2, 'later'));
  const second = await harness.poll(target());
  expect(second.fetched).toBe(2);
  expect(second.uidlReset).toBeUndefined();
});
