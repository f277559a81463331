/**
 * What a failed poll leaves behind: back-off for transient errors (with
 * LOGIN-DELAY honoured), a failing mark for permanent ones, deferral until
 * the next allowed time, and a clean slate after a success.
 * The errors come from the session opener exactly as the client raises them
 * (see test/pop3 for the client mapping server replies onto these codes).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BridgeError, type ErrorCode } from '../../functions/core/errors.js';
import { decideBackoff } from '../../functions/core/poll/backoff.js';
import { pollMailbox } from '../../functions/core/poll/poll-mailbox.js';
import { FolderRawStore } from '../../functions/local/folder-raw-store.js';
import { SqliteStateStore } from '../../functions/local/sqlite-state-store.js';
import type { Pop3Client } from '../../functions/pop3/client.js';

let dir: string;
let state: SqliteStateStore;
let store: FolderRawStore;

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'pop3-bridge-backoff-'));
  state = new SqliteStateStore(path.join(dir, 'state.db'));
  store = new FolderRawStore(path.join(dir, 'mail'));
});
afterEach(async () => {
  await state.close();
  await rm(dir, { recursive: true, force: true });
});

const T0 = Date.UTC(2026, 10, 26);
const target = { name: 'mb', mode: 'leave' as const, endpointIds: ['a'] };

function failingWith(code: ErrorCode, extra: ConstructorParameters<typeof BridgeError>[2] = {}) {
  return async (): Promise<Pop3Client> => {
    throw new BridgeError(code, `server said no (${code})`, { serverText: 'the server text', ...extra });
  };
}

describe('back-off after a failed poll', () => {
  it.each([['POP3_ERR_IN_USE'], ['POP3_ERR_SYS_TEMP'], ['POP3_ERR_CONNECT'], ['POP3_ERR_TIMEOUT']] as const)(
    '%s: exponential back-off, not failing; the next poll is deferred until then',
    async (code) => {
      let now = T0;
      const deps = {
        state,
        store,
        openSession: failingWith(code),
        now: () => now,
        backoff: { baseMs: 60_000, capMs: 3_600_000, failingRetryMs: 6 * 3_600_000 },
      };
      const delays: number[] = [];
      for (let i = 0; i < 8; i += 1) {
        const result = await pollMailbox(target, deps);
        expect(result.status).toBe('error');
        expect(result.error?.code).toBe(code);
        const st = await state.getMailboxState('mb');
        expect(st).toMatchObject({ failing: false, consecutiveFailures: i + 1, lastError: { code } });
        delays.push(st!.nextPollAfter! - now);
        // Before the back-off ends the mailbox is not even connected to.
        expect((await pollMailbox(target, { ...deps, openSession: failingWith('POLL_ERR_INTERNAL') })).status).toBe(
          'deferred',
        );
        now = st!.nextPollAfter!;
      }
      // Grows (within jitter: half to all of base·2^n) and stops at the cap.
      expect(delays[0]).toBeGreaterThanOrEqual(30_000);
      expect(delays[0]).toBeLessThanOrEqual(60_000);
      expect(delays[3]).toBeGreaterThanOrEqual(240_000);
      expect(Math.max(...delays)).toBeLessThanOrEqual(3_600_000);
      expect(delays[7]).toBeGreaterThanOrEqual(1_800_000);
    },
  );

  it('[LOGIN-DELAY] is honoured: no retry before the announced delay', async () => {
    const result = await pollMailbox(target, {
      state,
      store,
      now: () => T0,
      openSession: failingWith('POP3_ERR_LOGIN_DELAY', { retryAfterSeconds: 900 }),
    });
    expect(result.error?.code).toBe('POP3_ERR_LOGIN_DELAY');
    expect((await state.getMailboxState('mb'))!.nextPollAfter! - T0).toBeGreaterThanOrEqual(900_000);
  });

  it.each([['POP3_ERR_AUTH'], ['POP3_ERR_SYS_PERM'], ['POP3_ERR_TLS']] as const)(
    '%s marks the mailbox failing with the server text and retries only at the slow rate',
    async (code) => {
      const result = await pollMailbox(target, { state, store, now: () => T0, openSession: failingWith(code) });
      expect(result.status).toBe('error');
      const st = await state.getMailboxState('mb');
      expect(st).toMatchObject({ failing: true, lastError: { code } });
      expect(st!.nextPollAfter! - T0).toBe(6 * 3_600_000);
    },
  );

  it('an unexpected exception becomes POLL_ERR_INTERNAL, releases the lease, and never escapes', async () => {
    const result = await pollMailbox(target, {
      state,
      store,
      openSession: async () => {
        throw new TypeError('boom');
      },
    });
    expect(result).toMatchObject({ status: 'error', error: { code: 'POLL_ERR_INTERNAL' } });
    expect(await state.acquireLease('mb', 'someone-else', 1000, Date.now())).toBe(true);
  });

  it('a forced poll ignores the back-off', async () => {
    await pollMailbox(target, { state, store, now: () => T0, openSession: failingWith('POP3_ERR_IN_USE') });
    const forced = await pollMailbox(
      target,
      { state, store, now: () => T0, openSession: failingWith('POP3_ERR_SYS_TEMP') },
      { force: true },
    );
    expect(forced.error?.code).toBe('POP3_ERR_SYS_TEMP');
  });

  it('decideBackoff: jitter stays within half to all of the ceiling', () => {
    const error = new BridgeError('POP3_ERR_SYS_TEMP', 'x');
    expect(decideBackoff(error, 1, 0, undefined, () => 0).nextPollAfter).toBe(30_000);
    expect(decideBackoff(error, 1, 0, undefined, () => 1).nextPollAfter).toBe(60_000);
    expect(decideBackoff(error, 40, 0, undefined, () => 1).nextPollAfter).toBe(3_600_000);
  });
});
