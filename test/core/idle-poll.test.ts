/**
 * Idle polls write nothing (issue 5, docs/cost-model.md item 3), and the
 * promises still hold around them: against the real Dovecot, with the real
 * state store of each mode (SQLite, and DynamoDB on moto_server) behind a
 * wrapper that counts every port call.
 *
 * - An idle poll makes one state read and no write; its session is STAT,
 *   `UIDL n`, QUIT.
 * - New mail after idle polls is fetched exactly once.
 * - Two pollers on one mailbox fetch each message once, also when one decided
 *   to work before the other finished (it re-checks under the lease, in a new
 *   session).
 * - Failures are still recorded with back-off, and a recovered mailbox is
 *   cleared; an idle mailbox's status is refreshed once a day.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type AwsClients, createAwsClients } from '../../functions/aws/clients.js';
import { DynamoStateStore } from '../../functions/aws/dynamo-state-store.js';
import { createTable } from '../../functions/aws/table-schema.js';
import {
  type PollDeps,
  type PollOptions,
  type PollTarget,
  pollMailbox,
} from '../../functions/core/poll/poll-mailbox.js';
import type { StateStore } from '../../functions/core/ports.js';
import { FolderRawStore } from '../../functions/local/folder-raw-store.js';
import { SqliteStateStore } from '../../functions/local/sqlite-state-store.js';
import { type CountingStateStore, countingStateStore } from '../support/counting-state-store.js';
import { dovecotFromInjected } from '../support/dovecot.js';
import { dovecotSession } from '../support/engine-harness.js';
import { type Moto, startMoto, uniqueName } from '../support/moto.js';

const dovecot = dovecotFromInjected();
const DAY_MS = 86_400_000;
const TARGET: PollTarget = { name: 'inbox', mode: 'leave', endpointIds: ['hook-a', 'hook-b'] };

let moto: Moto | undefined;
let aws: AwsClients | undefined;

beforeAll(async () => {
  moto = await startMoto();
  aws = createAwsClients({
    region: moto.region,
    endpoint: moto.endpoint,
    forcePathStyle: true,
    credentials: moto.credentials,
    // One request at a time: moto 5.2 evaluates conditional writes without a lock (see dynamo-state-store.test.ts).
    maxSockets: 1,
  });
});
afterAll(async () => {
  aws?.dynamo.destroy();
  aws?.s3.destroy();
  await moto?.stop();
});

interface Setup {
  readonly state: StateStore;
  readonly store: FolderRawStore;
  cleanup(): Promise<void>;
}

const STORES: ReadonlyArray<{ name: string; open: (dir: string) => Promise<StateStore> }> = [
  { name: 'SQLite', open: async (dir) => new SqliteStateStore(path.join(dir, 'state.db')) },
  {
    name: 'DynamoDB (moto)',
    open: async () => {
      const table = uniqueName('idle');
      const bucket = uniqueName('idle');
      await createTable(aws!.dynamo, table);
      await aws!.s3.send(new CreateBucketCommand({ Bucket: bucket }));
      return new DynamoStateStore({ doc: aws!.doc, s3: aws!.s3 }, { table, bucket });
    },
  },
];

function messages(n: number, tag: string): Buffer[] {
  return Array.from({ length: n }, (_, i) =>
    Buffer.from(
      `From: a${i}@example.test\r\nSubject: ${tag} ${i}\r\nMessage-ID: <${tag}${i}@example.test>\r\n\r\nbody\r\n`,
    ),
  );
}

/** One poller: its own counting view of the shared store, its own session count and client trace. */
interface Poller {
  readonly counting: CountingStateStore;
  readonly commands: string[];
  sessions: number;
  poll(target?: Partial<PollTarget>, options?: PollOptions, extra?: Partial<PollDeps>): ReturnType<typeof pollMailbox>;
}

function poller(
  setup: Setup,
  account: { user: string; password: string },
  before?: Parameters<typeof countingStateStore>[1],
): Poller {
  const counting = countingStateStore(setup.state, before);
  const p: Poller = {
    counting,
    commands: [],
    sessions: 0,
    poll(target = {}, options = {}, extra = {}) {
      return pollMailbox(
        { ...TARGET, ...target },
        {
          state: counting.store,
          store: setup.store,
          openSession: () => {
            p.sessions += 1;
            return dovecotSession(dovecot, account, (dir, line) => {
              if (dir === 'C') p.commands.push(line);
            });
          },
          ...extra,
        },
        options,
      );
    },
  };
  return p;
}

/** The commands of the transaction state (after login): what the poll asked the server. */
function transaction(commands: ReadonlyArray<string>): string[] {
  return commands.filter((c) => !/^(CAPA|USER|PASS|AUTH|APOP|STLS)\b/.test(c) && c !== '********' && c !== '*');
}

describe.each(STORES)('idle polls with the $name state store', ({ open }) => {
  let setup: Setup | undefined;

  async function fresh(): Promise<Setup> {
    const dir = await mkdtemp(path.join(tmpdir(), 'pop3-bridge-idle-'));
    const state = await open(dir);
    setup = {
      state,
      store: new FolderRawStore(path.join(dir, 'store')),
      cleanup: async () => {
        await state.close();
        await rm(dir, { recursive: true, force: true });
      },
    };
    return setup;
  }

  afterEach(async () => {
    await setup?.cleanup();
    setup = undefined;
  });

  it('leave mode: an idle poll makes one state read and no write; the session is STAT, UIDL n, QUIT', async () => {
    const s = await fresh();
    const account = await dovecot.createMailbox(messages(5, 'idle'));
    const p = poller(s, account);
    expect(await p.poll()).toMatchObject({ status: 'ok', path: 'full', fetched: 5 });
    expect(p.counting.writes()).toContain('updateMailboxState');
    const stateAfterSync = await s.state.getMailboxState('inbox');

    for (let i = 0; i < 3; i += 1) {
      p.counting.reset();
      p.commands.length = 0;
      expect(await p.poll()).toMatchObject({ status: 'ok', path: 'idle', fetched: 0 });
      expect(p.counting.writes()).toEqual([]);
      expect(p.counting.calls).toEqual(['peekMailbox']);
      expect(transaction(p.commands)).toEqual(['STAT', 'UIDL 5', 'QUIT']);
    }
    // Nothing moved, not even lastPollAt: the schedule no longer needs it (dispatch slots, poll-schedule.ts).
    expect(await s.state.getMailboxState('inbox')).toEqual(stateAfterSync);
  });

  it('delete mode: polling an empty mailbox writes nothing', async () => {
    const s = await fresh();
    const account = await dovecot.createMailbox(messages(2, 'del'));
    const p = poller(s, account);
    expect(await p.poll({ mode: 'delete' })).toMatchObject({ status: 'ok', fetched: 2, deleted: 2 });
    p.counting.reset();
    p.commands.length = 0;
    expect(await p.poll({ mode: 'delete' })).toMatchObject({ status: 'ok', path: 'idle' });
    expect(p.counting.writes()).toEqual([]);
    expect(transaction(p.commands)).toEqual(['STAT', 'QUIT']);
  });

  it('new mail after idle polls is fetched exactly once, then the mailbox is idle again', async () => {
    const s = await fresh();
    const account = await dovecot.createMailbox(messages(4, 'old'));
    const p = poller(s, account);
    await p.poll();
    for (let i = 0; i < 2; i += 1) expect(await p.poll()).toMatchObject({ path: 'idle', fetched: 0 });

    await dovecot.appendMessages(account.user, messages(3, 'new'));
    p.counting.reset();
    expect(await p.poll()).toMatchObject({ status: 'ok', path: 'incremental', fetched: 3 });
    expect(p.counting.calls.filter((c) => c === 'recordMessage')).toHaveLength(3);
    expect(p.counting.writes()).toContain('acquireLease');

    p.counting.reset();
    expect(await p.poll()).toMatchObject({ status: 'ok', path: 'idle', fetched: 0 });
    expect(p.counting.writes()).toEqual([]);
    const jobs = await s.state.listDeliveries({ mailbox: 'inbox' });
    expect(jobs).toHaveLength(7 * 2);
    expect(new Set(jobs.map((j) => j.webhookId)).size).toBe(7 * 2);
  });

  it.each(['leave', 'delete'] as const)(
    '%s mode: two concurrent pollers with new mail fetch each message once',
    async (mode) => {
      const s = await fresh();
      const account = await dovecot.createMailbox(messages(12, `race-${mode}`));
      const [a, b] = [poller(s, account), poller(s, account)];
      const results = await Promise.all([a.poll({ mode }), b.poll({ mode })]);
      for (const r of results) expect(['ok', 'busy']).toContain(r.status);
      expect(results.reduce((n, r) => n + r.fetched, 0)).toBe(12);
      expect(results.some((r) => r.status === 'ok' && r.fetched === 12)).toBe(true);
      const jobs = await s.state.listDeliveries({ mailbox: 'inbox' });
      expect(jobs).toHaveLength(24);
      expect(new Set(jobs.map((j) => j.webhookId)).size).toBe(24);
      if (mode === 'delete') expect(await dovecot.mailboxFiles(account.user)).toEqual([]);
      // And again, now with both sessions racing over appended mail.
      await dovecot.appendMessages(account.user, messages(5, `race2-${mode}`));
      const again = await Promise.all([a.poll({ mode }), b.poll({ mode })]);
      expect(again.reduce((n, r) => n + r.fetched, 0)).toBe(5);
      expect(await s.state.listDeliveries({ mailbox: 'inbox' })).toHaveLength(34);
    },
  );

  it.each(['leave', 'delete'] as const)(
    '%s mode: a poller that decided to work while another fetched re-checks under the lease in a new session',
    async (mode) => {
      const s = await fresh();
      const account = await dovecot.createMailbox(messages(6, `late-${mode}`));
      // A stops right before taking the lease, after its session saw the 6 new messages.
      let release: () => void = () => {};
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      let reachedLease: () => void = () => {};
      const atLease = new Promise<void>((resolve) => {
        reachedLease = resolve;
      });
      let held = false;
      const a = poller(s, account, async (method) => {
        if (method === 'acquireLease' && !held) {
          held = true;
          reachedLease();
          await gate;
        }
      });
      const b = poller(s, account);
      const pending = a.poll({ mode });
      await atLease;
      // B polls start to finish meanwhile: fetches all, and in delete mode DELEs them and QUITs.
      expect(await b.poll({ mode })).toMatchObject({ status: 'ok', fetched: 6, deleted: mode === 'delete' ? 6 : 0 });
      release();
      const late = await pending;

      expect(late).toMatchObject({ status: 'ok', path: 'idle', fetched: 0, deleted: 0 });
      // Its first session predates B's QUIT: it opened a second one and found nothing to do, sent no DELE.
      expect(a.sessions).toBe(2);
      expect(a.commands.filter((c) => c.startsWith('DELE') || c.startsWith('RETR'))).toEqual([]);
      // It held the lease and wrote nothing else: the state is B's.
      expect(a.counting.writes()).toEqual(['acquireLease', 'releaseLease']);
      expect(await s.state.listDeliveries({ mailbox: 'inbox' })).toHaveLength(12);
      if (mode === 'delete') expect(await dovecot.mailboxFiles(account.user)).toEqual([]);
    },
  );

  it('a held lease: busy without connecting and without writing', async () => {
    const s = await fresh();
    const account = await dovecot.createMailbox(messages(1, 'held'));
    expect(await s.state.acquireLease('inbox', 'someone-else', 60_000, Date.now())).toBe(true);
    const p = poller(s, account);
    expect(await p.poll()).toMatchObject({ status: 'busy', fetched: 0 });
    expect(p.sessions).toBe(0);
    expect(p.counting.calls).toEqual(['peekMailbox']);
  });

  it('a failing mailbox is recorded with back-off; once it recovers the next poll clears it, then idles without writes', async () => {
    const s = await fresh();
    const account = await dovecot.createMailbox(messages(3, 'fail'));
    const p = poller(s, account);
    await p.poll();
    const broken = poller(s, { user: account.user, password: 'not-the-password' });
    const failed = await broken.poll();
    expect(failed).toMatchObject({ status: 'error', error: { code: 'POP3_ERR_AUTH' } });
    // Recorded under the lease, as before.
    expect(broken.counting.writes()).toEqual(['acquireLease', 'updateMailboxState', 'releaseLease']);
    const st = await s.state.getMailboxState('inbox');
    expect(st).toMatchObject({ failing: true, consecutiveFailures: 1, lastError: { code: 'POP3_ERR_AUTH' } });
    expect(st?.nextPollAfter).toBeGreaterThan(Date.now());
    // Backing off: deferred, no session, no write.
    p.counting.reset();
    expect(await p.poll()).toMatchObject({ status: 'deferred' });
    expect(p.sessions).toBe(1);
    expect(p.counting.writes()).toEqual([]);

    // The password is fixed (forced: the back-off has not ended). Nothing new, but the failure must go.
    p.counting.reset();
    expect(await p.poll({}, { force: true })).toMatchObject({ status: 'ok', path: 'idle', fetched: 0 });
    expect(p.counting.writes()).toEqual(['acquireLease', 'updateMailboxState', 'releaseLease']);
    expect(await s.state.getMailboxState('inbox')).toMatchObject({
      failing: false,
      consecutiveFailures: 0,
      nextPollAfter: 0,
    });
    p.counting.reset();
    expect(await p.poll()).toMatchObject({ status: 'ok', path: 'idle' });
    expect(p.counting.writes()).toEqual([]);
  });

  it('an idle mailbox gets one status write a day (lastOkAt), and none in between', async () => {
    const s = await fresh();
    const account = await dovecot.createMailbox(messages(1, 'day'));
    const p = poller(s, account);
    let clock = Date.UTC(2026, 10, 27, 6);
    const now = () => clock;
    const start = clock;
    await p.poll({ mode: 'delete' }, {}, { now });
    for (const hours of [1, 12, 23]) {
      clock = start + hours * 3_600_000;
      p.counting.reset();
      expect(await p.poll({ mode: 'delete' }, {}, { now })).toMatchObject({ status: 'ok', path: 'idle' });
      expect(p.counting.writes()).toEqual([]);
    }
    clock = start + DAY_MS;
    p.counting.reset();
    expect(await p.poll({ mode: 'delete' }, {}, { now })).toMatchObject({ status: 'ok', path: 'idle' });
    expect(p.counting.writes()).toEqual(['acquireLease', 'updateMailboxState', 'releaseLease']);
    expect((await s.state.getMailboxState('inbox'))?.lastOkAt).toBe(start + DAY_MS);
  });
});
