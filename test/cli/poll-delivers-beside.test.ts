/**
 * `pop3-bridge poll` sends webhooks while it stores messages, as `run` does,
 * instead of after the last one: when the receiver gets its first event, the
 * poll has stored only part of the mailbox. Before, every message was stored
 * (and its record written) before the first POST. Every event still arrives
 * exactly once, and the summary counts them all.
 */
import { readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect, it } from 'vitest';
import { startVerifyingReceiver, writeOneMailboxConfig } from '../support/cli-mailbox.js';
import { dovecotFromInjected } from '../support/dovecot.js';
import { runCli } from '../support/run-cli.js';

const dovecot = dovecotFromInjected();
const COUNT = 300;

/** Raw messages the store holds now (files under <store>/mail/raw). */
function storedRaw(dir: string): number {
  try {
    return readdirSync(path.join(dir, 'state', 'mail', 'raw'), { recursive: true }).filter((f) =>
      String(f).endsWith('.eml'),
    ).length;
  } catch {
    return 0;
  }
}

it('poll delivers beside the poll: the first event arrives before the last message is stored', async () => {
  // ~100 KB each, so the poll takes long enough (about a second here) to be seen from the outside.
  const account = await dovecot.createMailbox(
    Array.from({ length: COUNT }, (_, i) =>
      Buffer.from(
        `From: <s${i}@example.test>\r\nSubject: beside ${i}\r\nMessage-ID: <beside${i}@x>\r\n\r\n${`line ${i} of a longer body\r\n`.repeat(4000)}`,
      ),
    ),
  );
  const dir = await mkdtemp(path.join(tmpdir(), 'pop3-bridge-poll-beside-'));
  let storedAtFirstEvent: number | undefined;
  const receiver = await startVerifyingReceiver({ onRequest: () => (storedAtFirstEvent ??= storedRaw(dir)) });
  try {
    await writeOneMailboxConfig(dir, dovecot.facts, account, { name: 'beside', webhookUrl: receiver.url });
    const polled = await runCli(dir, ['poll', '--json']);
    expect(polled.code, polled.stderr).toBe(0);
    const out = JSON.parse(polled.stdout) as {
      results: Array<{ status: string; fetched: number }>;
      delivery: { attempted: number; delivered: number };
    };
    expect(out.results[0]).toMatchObject({ status: 'ok', fetched: COUNT });
    expect(out.delivery).toMatchObject({ attempted: COUNT, delivered: COUNT });
    expect(receiver.verified).toHaveLength(COUNT);
    expect(new Set(receiver.verified).size).toBe(COUNT);
    expect(receiver.bad()).toBe(0);
    expect(storedRaw(dir)).toBe(COUNT);
    // Sending only after the poll, the store held all 300 at the first event.
    expect(storedAtFirstEvent).toBeLessThan(COUNT);
  } finally {
    await receiver.close();
    await rm(dir, { recursive: true, force: true });
  }
});
