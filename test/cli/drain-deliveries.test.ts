/**
 * `drainDeliveries` (what `poll`, `deliver`, `replay` and `demo` send with)
 * goes on until a round finds nothing due. It used to stop after 50 rounds,
 * so a first sync of more than 5,000 messages (50 rounds of 100) delivered
 * 5,000 and left the rest queued. Here rounds of 2 jobs stand in for rounds
 * of 100: 120 queued events need 60 rounds. Real Dovecot, real local
 * runtime, a loopback receiver that verifies every signature.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect, it } from 'vitest';
import { drainDeliveries } from '../../functions/cli/commands/deliver.js';
import type { CliContext } from '../../functions/cli/context.js';
import { parseConfig } from '../../functions/config/validate.js';
import { silentLogger } from '../../functions/core/logger.js';
import { pollMailbox } from '../../functions/core/poll/poll-mailbox.js';
import { pollTargetOf } from '../../functions/core/poll/target.js';
import { openLocalRuntime } from '../../functions/local/runtime.js';
import { oneMailboxConfig, startVerifyingReceiver } from '../support/cli-mailbox.js';
import { dovecotFromInjected } from '../support/dovecot.js';

const dovecot = dovecotFromInjected();
const COUNT = 120;

it('drains a queue of more than 50 rounds: every event delivered once', async () => {
  const account = await dovecot.createMailbox(
    Array.from({ length: COUNT }, (_, i) =>
      Buffer.from(
        `From: <s${i}@example.test>\r\nSubject: drain ${i}\r\nMessage-ID: <drain${i}@x>\r\n\r\nbody ${i}\r\n`,
      ),
    ),
  );
  const dir = await mkdtemp(path.join(tmpdir(), 'pop3-bridge-drain-'));
  const receiver = await startVerifyingReceiver();
  try {
    const { config } = parseConfig(
      await oneMailboxConfig(dir, dovecot.facts, account, {
        name: 'drain',
        webhookUrl: receiver.url,
        storeDir: path.join(dir, 'state'),
      }),
    );
    const runtime = openLocalRuntime(config, { baseDir: dir });
    try {
      const mailbox = config.mailboxes[0]!;
      const polled = await pollMailbox(pollTargetOf(mailbox), runtime.depsFor(mailbox, silentLogger));
      expect(polled).toMatchObject({ status: 'ok', fetched: COUNT });
      expect(receiver.verified).toHaveLength(0);

      const ctx = { logger: silentLogger } as unknown as CliContext;
      const result = await drainDeliveries(runtime, ctx, { limit: 2 });
      expect(result).toMatchObject({ attempted: COUNT, delivered: COUNT, retrying: 0, dead: 0 });
      expect(receiver.verified).toHaveLength(COUNT);
      expect(new Set(receiver.verified).size).toBe(COUNT);
      expect(receiver.bad()).toBe(0);
      expect((await runtime.state.countDeliveries('drain')).delivered).toBe(COUNT);
    } finally {
      await runtime.close();
    }
  } finally {
    await receiver.close();
    await rm(dir, { recursive: true, force: true });
  }
});
