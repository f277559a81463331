/**
 * DisabledEndpoints (functions/delivery/disabled-endpoints.ts) over a real
 * SQLite state store: a round reads a mailbox's disabled endpoints once per
 * max age, not once per delivery; its own 410s count at once; a disabling
 * keeps what another process wrote meanwhile.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { MailboxState } from '../../functions/core/ports.js';
import { DisabledEndpoints } from '../../functions/delivery/disabled-endpoints.js';
import { SqliteStateStore } from '../../functions/local/sqlite-state-store.js';

let dir: string;
let state: SqliteStateStore;
let reads: number;
let writes: number;
let failNextRead: boolean;
/** The store as the round sees it, with its reads and writes counted. */
let counted: Pick<SqliteStateStore, 'getMailboxState' | 'updateMailboxState'>;

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'pop3-bridge-disabled-'));
  state = new SqliteStateStore(path.join(dir, 'state.db'));
  reads = 0;
  writes = 0;
  failNextRead = false;
  counted = {
    getMailboxState: (mailbox) => {
      reads += 1;
      if (failNextRead) {
        failNextRead = false;
        return Promise.reject(new Error('read failed'));
      }
      return state.getMailboxState(mailbox);
    },
    updateMailboxState: (mailbox, patch) => {
      writes += 1;
      return state.updateMailboxState(mailbox, patch);
    },
  };
});

afterEach(async () => {
  await state.close();
  await rm(dir, { recursive: true, force: true });
});

const gone = (id: string, at = 1): NonNullable<MailboxState['disabledEndpoints']>[number] => ({
  id,
  at,
  reason: '410 Gone from receiver.test',
});

describe('DisabledEndpoints', () => {
  it('reads a mailbox once per max age, whatever the number of deliveries', async () => {
    await state.updateMailboxState('mb', { disabledEndpoints: [gone('a')] });
    let now = 1_000;
    const disabled = new DisabledEndpoints(counted, { now: () => now, maxAgeMs: 5_000 });
    const answers = await Promise.all(
      Array.from({ length: 50 }, (_, i) => disabled.has('mb', i % 2 === 0 ? 'a' : 'b')),
    );
    expect(answers.filter(Boolean)).toHaveLength(25);
    expect(reads).toBe(1);
    await disabled.has('other', 'a');
    expect(reads).toBe(2);

    // Another process disables b: seen once the view is older than the max age, not before.
    await state.updateMailboxState('mb', { disabledEndpoints: [gone('a'), gone('b')] });
    now += 5_000;
    expect(await disabled.has('mb', 'b')).toBe(false);
    now += 1;
    expect(await disabled.has('mb', 'b')).toBe(true);
    expect(reads).toBe(3);
  });

  it("counts the round's own 410 at once, and keeps what another process disabled meanwhile", async () => {
    const disabled = new DisabledEndpoints(counted, { now: () => 1_000, maxAgeMs: 5_000 });
    expect(await disabled.has('mb', 'x')).toBe(false);
    await state.updateMailboxState('mb', { disabledEndpoints: [gone('elsewhere')] });
    await disabled.disable('mb', gone('x', 2));
    expect(await disabled.has('mb', 'x')).toBe(true);
    expect(await disabled.has('mb', 'elsewhere')).toBe(true);
    expect((await state.getMailboxState('mb'))?.disabledEndpoints).toEqual([gone('elsewhere'), gone('x', 2)]);
  });

  it('writes nothing when the endpoint is already disabled (two 410s of one round)', async () => {
    const disabled = new DisabledEndpoints(counted, { now: () => 1_000, maxAgeMs: 5_000 });
    await Promise.all([disabled.disable('mb', gone('x', 2)), disabled.disable('mb', gone('x', 3))]);
    await disabled.disable('mb', gone('x', 4));
    const list = (await state.getMailboxState('mb'))?.disabledEndpoints ?? [];
    expect(list.map((d) => d.id)).toEqual(['x']);
    expect(writes).toBeLessThanOrEqual(2);
    const writesBefore = writes;
    await disabled.disable('mb', gone('x', 5));
    expect(writes).toBe(writesBefore);
  });

  it('does not keep a failed read: the next delivery of the mailbox reads again', async () => {
    await state.updateMailboxState('mb', { disabledEndpoints: [gone('a')] });
    const disabled = new DisabledEndpoints(counted, { now: () => 1_000, maxAgeMs: 5_000 });
    failNextRead = true;
    await expect(disabled.has('mb', 'a')).rejects.toThrow('read failed');
    expect(await disabled.has('mb', 'a')).toBe(true);
    expect(reads).toBe(2);
  });
});
