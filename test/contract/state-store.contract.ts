/**
 * The behaviour every `StateStore` adapter must have (SQLite, DynamoDB, …).
 * Adapter test files call `describeStateStoreContract` with a factory that
 * returns a fresh, empty store.
 */
import { createHash } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DeliveryJob, MessageRecord, StateStore } from '../../functions/core/ports.js';
import { DisabledEndpoints } from '../../functions/delivery/disabled-endpoints.js';

export interface StateStoreHarness {
  readonly store: StateStore;
  cleanup(): Promise<void>;
}

const T0 = 1_700_000_000_000;

export function sha(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

export function record(mailbox: string, uid: string, overrides: Partial<MessageRecord> = {}): MessageRecord {
  const hash = sha(`${mailbox}/${uid}`);
  return {
    mailbox,
    uid,
    serverUidl: uid,
    sha256: hash,
    rawKey: `raw/${hash.slice(0, 2)}/${hash}.eml`,
    size: 1234,
    fetchedAt: T0,
    ...overrides,
  };
}

export function job(rec: MessageRecord, endpointId: string, overrides: Partial<DeliveryJob> = {}): DeliveryJob {
  return {
    webhookId: `msg_${sha(`${rec.mailbox}/${rec.uid}/${endpointId}`).slice(0, 24)}`,
    mailbox: rec.mailbox,
    uid: rec.uid,
    endpointId,
    rawKey: rec.rawKey,
    sha256: rec.sha256,
    createdAt: rec.fetchedAt,
    status: 'pending',
    attempts: 0,
    nextAttemptAt: rec.fetchedAt,
    ...overrides,
  };
}

export function describeStateStoreContract(name: string, makeStore: () => Promise<StateStoreHarness>): void {
  describe(`StateStore contract: ${name}`, () => {
    let h: StateStoreHarness;
    let store: StateStore;
    beforeEach(async () => {
      h = await makeStore();
      store = h.store;
    });
    afterEach(async () => {
      await h.cleanup();
    });

    describe('leases', () => {
      it('concurrent acquires: exactly one wins', async () => {
        const owners = Array.from({ length: 16 }, (_, i) => `poller-${i}`);
        const results = await Promise.all(owners.map((o) => store.acquireLease('mb', o, 60_000, T0)));
        expect(results.filter(Boolean)).toHaveLength(1);
      });

      it('the holder may renew; others are refused until it expires', async () => {
        expect(await store.acquireLease('mb', 'a', 60_000, T0)).toBe(true);
        expect(await store.acquireLease('mb', 'b', 60_000, T0 + 1)).toBe(false);
        expect(await store.acquireLease('mb', 'a', 60_000, T0 + 50_000)).toBe(true);
        // Renewed: still held at the original expiry.
        expect(await store.acquireLease('mb', 'b', 60_000, T0 + 60_000)).toBe(false);
      });

      it('expiry lets another take it', async () => {
        expect(await store.acquireLease('mb', 'a', 1000, T0)).toBe(true);
        expect(await store.acquireLease('mb', 'b', 1000, T0 + 999)).toBe(false);
        expect(await store.acquireLease('mb', 'b', 1000, T0 + 1000)).toBe(true);
        expect(await store.acquireLease('mb', 'a', 1000, T0 + 1001)).toBe(false);
      });

      it('release by a non-owner is a no-op; release by the owner frees it', async () => {
        expect(await store.acquireLease('mb', 'a', 60_000, T0)).toBe(true);
        await store.releaseLease('mb', 'b');
        expect(await store.acquireLease('mb', 'b', 60_000, T0 + 1)).toBe(false);
        await store.releaseLease('mb', 'a');
        expect(await store.acquireLease('mb', 'b', 60_000, T0 + 2)).toBe(true);
      });

      it('releasing a lease nobody holds is a no-op', async () => {
        await store.releaseLease('nobody', 'a');
        expect(await store.acquireLease('nobody', 'a', 1000, T0)).toBe(true);
      });

      it('mailboxes have independent leases', async () => {
        expect(await store.acquireLease('one', 'a', 60_000, T0)).toBe(true);
        expect(await store.acquireLease('two', 'b', 60_000, T0)).toBe(true);
      });
    });

    describe('mailbox state', () => {
      it('is undefined until written', async () => {
        expect(await store.getMailboxState('mb')).toBeUndefined();
        expect(await store.listMailboxStates()).toEqual([]);
      });

      it('merges patches: undefined fields keep their value, nested objects are replaced whole', async () => {
        await store.updateMailboxState('mb', {
          lastPollAt: T0,
          lastError: { code: 'POP3_ERR_TIMEOUT', message: 'timed out', at: T0 },
          cursor: { count: 3, size: 300, lastUidl: 'u3' },
          failing: true,
          consecutiveFailures: 2,
        });
        await store.updateMailboxState('mb', {
          lastOkAt: T0 + 5,
          cursor: { count: 4, size: 400, lastUidl: undefined },
          failing: false,
          consecutiveFailures: 0,
        });
        const state = await store.getMailboxState('mb');
        expect(state).toEqual({
          mailbox: 'mb',
          lastPollAt: T0,
          lastOkAt: T0 + 5,
          lastError: { code: 'POP3_ERR_TIMEOUT', message: 'timed out', at: T0 },
          cursor: { count: 4, size: 400 },
          failing: false,
          consecutiveFailures: 0,
        });
      });

      it("a delivery round's view of the disabled endpoints: read once, its own 410s at once, others' kept", async () => {
        // disabled-endpoints.ts over this store: the round reads the list once, a disabling re-reads it and
        // keeps an endpoint another process disabled meanwhile, and the list the store holds has both.
        await store.updateMailboxState('mb', { lastPollAt: T0 });
        const disabled = new DisabledEndpoints(store, { now: () => T0, maxAgeMs: 5_000 });
        expect(await disabled.has('mb', 'a')).toBe(false);
        await store.updateMailboxState('mb', { disabledEndpoints: [{ id: 'other', at: T0, reason: '410 elsewhere' }] });
        expect(await disabled.has('mb', 'other')).toBe(false); // its view is still the first read's
        await disabled.disable('mb', { id: 'a', at: T0 + 1, reason: '410 Gone from receiver.test' });
        expect(await disabled.has('mb', 'a')).toBe(true);
        expect(await disabled.has('mb', 'other')).toBe(true);
        const state = await store.getMailboxState('mb');
        expect(state?.disabledEndpoints?.map((d) => d.id)).toEqual(['other', 'a']);
        expect(state?.lastPollAt).toBe(T0);
      });

      it('round-trips every field', async () => {
        const full = {
          lastPollAt: 1,
          lastOkAt: 2,
          lastError: { code: 'X', message: 'm', at: 3 },
          nextPollAfter: 4,
          failing: true,
          consecutiveFailures: 5,
          cursor: { count: 6, size: 7, lastUidl: 'u' },
          lastFullSyncAt: 8,
          storedCount: 9,
          storedBytes: 10,
          lastUidlReset: { at: 11, matchedByHash: 12, unknown: 13 },
        };
        await store.updateMailboxState('mb', full);
        expect(await store.getMailboxState('mb')).toEqual({ mailbox: 'mb', ...full });
      });

      it('lists every mailbox state', async () => {
        await store.updateMailboxState('b', { lastPollAt: 2 });
        await store.updateMailboxState('a', { lastPollAt: 1 });
        const states = await store.listMailboxStates();
        expect(states.map((s) => s.mailbox).sort()).toEqual(['a', 'b']);
        expect(states.find((s) => s.mailbox === 'a')?.lastPollAt).toBe(1);
      });
    });

    describe('peekMailbox (the read before an idle poll decides)', () => {
      it('a mailbox never seen: no state, no lease', async () => {
        expect(await store.peekMailbox('mb', T0)).toEqual({ state: undefined, leaseHeld: false });
      });

      it('returns the same state getMailboxState does, and nothing of the messages beside it', async () => {
        await store.recordMessage(record('mb', 'u1'), []);
        expect(await store.peekMailbox('mb', T0)).toEqual({ state: undefined, leaseHeld: false });
        await store.updateMailboxState('mb', {
          lastOkAt: T0,
          cursor: { count: 1, size: 1234, lastUidl: 'u1' },
          lastFullSyncAt: T0,
        });
        const peek = await store.peekMailbox('mb', T0);
        expect(peek.state).toEqual(await store.getMailboxState('mb'));
        expect(peek.state).toMatchObject({ mailbox: 'mb', cursor: { count: 1, size: 1234, lastUidl: 'u1' } });
        expect(peek.leaseHeld).toBe(false);
      });

      it('sees a lease held by anyone until it expires or is released, and only on its own mailbox', async () => {
        await store.updateMailboxState('mb', { lastOkAt: T0 });
        expect(await store.acquireLease('mb', 'a', 1000, T0)).toBe(true);
        expect(await store.peekMailbox('mb', T0 + 999)).toMatchObject({ leaseHeld: true, state: { lastOkAt: T0 } });
        // Expiry is exclusive, as for acquireLease: at the expiry instant another poller may take it.
        expect((await store.peekMailbox('mb', T0 + 1000)).leaseHeld).toBe(false);
        expect((await store.peekMailbox('other', T0)).leaseHeld).toBe(false);
        await store.releaseLease('mb', 'a');
        expect((await store.peekMailbox('mb', T0)).leaseHeld).toBe(false);
      });
    });

    describe('known uids', () => {
      it('is empty until written', async () => {
        expect((await store.getKnownUids('mb')).size).toBe(0);
      });

      it('round-trips 100,000 uids and replaces the set on each put', async () => {
        const big = new Set(
          Array.from({ length: 100_000 }, (_, i) => `${(i * 7919).toString(16).padStart(8, '0')}5f3a9c21`),
        );
        await store.putKnownUids('mb', big);
        const back = await store.getKnownUids('mb');
        expect(back.size).toBe(100_000);
        expect([...back].sort()).toEqual([...big].sort());

        await store.putKnownUids('mb', new Set(['only', `sha256:${sha('x')}`, 'dup#2']));
        expect([...(await store.getKnownUids('mb'))].sort()).toEqual(['dup#2', 'only', `sha256:${sha('x')}`].sort());

        await store.putKnownUids('mb', new Set());
        expect((await store.getKnownUids('mb')).size).toBe(0);
      });

      it('keeps mailboxes apart', async () => {
        await store.putKnownUids('a', new Set(['1']));
        await store.putKnownUids('b', new Set(['2']));
        expect([...(await store.getKnownUids('a'))]).toEqual(['1']);
      });
    });

    describe('messages', () => {
      it('recordMessage creates once; the second call reports exists and writes nothing', async () => {
        const rec = record('mb', 'u1');
        expect(await store.recordMessage(rec, [job(rec, 'ep1')])).toBe('created');

        const changed = { ...rec, size: 999, sha256: sha('other'), rawKey: 'raw/xx/other.eml' };
        expect(await store.recordMessage(changed, [job(rec, 'ep1', { attempts: 9 }), job(rec, 'ep2')])).toBe('exists');

        expect((await store.getMessages('mb', ['u1'])).get('u1')).toEqual(rec);
        const jobs = await store.listDeliveries({ mailbox: 'mb' });
        expect(jobs).toEqual([job(rec, 'ep1')]);
      });

      it('records every job with the message, and ignores jobs whose webhookId is already queued', async () => {
        const a = record('mb', 'a');
        const b = record('mb', 'b');
        const shared = job(a, 'ep1');
        expect(await store.recordMessage(a, [shared, job(a, 'ep2')])).toBe('created');
        expect(await store.recordMessage(b, [{ ...shared, uid: 'b', attempts: 5 }, job(b, 'ep1')])).toBe('created');
        const jobs = await store.listDeliveries({});
        expect(jobs).toHaveLength(3);
        expect(jobs.find((j) => j.webhookId === shared.webhookId)).toEqual(shared);
      });

      it('recordMessage is atomic: a failure while writing the jobs leaves neither record nor jobs', async () => {
        const rec = record('mb', 'u1');
        const good = job(rec, 'ep1');
        const broken = { ...job(rec, 'ep2') };
        Object.defineProperty(broken, 'rawKey', {
          enumerable: true,
          get() {
            throw new Error('boom while serializing');
          },
        });
        await expect(store.recordMessage(rec, [good, broken])).rejects.toThrow();
        expect((await store.getMessages('mb', ['u1'])).size).toBe(0);
        expect(await store.listDeliveries({})).toEqual([]);
        // And the store is still usable afterwards.
        expect(await store.recordMessage(rec, [good])).toBe('created');
      });

      it('round-trips optional fields', async () => {
        const plain = record('mb', 'plain', { serverUidl: undefined });
        const full = record('mb', 'full', { deletedAt: T0 + 1, headersOnly: true });
        await store.recordMessage(plain, []);
        await store.recordMessage(full, []);
        const got = await store.getMessages('mb', ['plain', 'full']);
        expect(got.get('plain')).toEqual(plain);
        expect(got.get('full')).toEqual(full);
        expect(got.get('plain')).not.toHaveProperty('deletedAt');
        expect(got.get('plain')).not.toHaveProperty('headersOnly');
      });

      it('getMessages returns only the records that exist, for large batches too', async () => {
        for (let i = 0; i < 300; i += 2) await store.recordMessage(record('mb', `u${i}`), []);
        await store.recordMessage(record('other', 'u1'), []);
        const asked = Array.from({ length: 300 }, (_, i) => `u${i}`);
        const got = await store.getMessages('mb', asked);
        expect(got.size).toBe(150);
        expect([...got.keys()].every((uid) => Number(uid.slice(1)) % 2 === 0)).toBe(true);
        expect((await store.getMessages('mb', [])).size).toBe(0);
        expect((await store.getMessages('nobody', ['u0'])).size).toBe(0);
      });

      it('findMessagesBySha256 matches within the mailbox only', async () => {
        const shared = sha('same content');
        await store.recordMessage(record('mb', 'u1', { sha256: shared }), []);
        await store.recordMessage(record('mb', 'u2', { sha256: shared }), []);
        await store.recordMessage(record('mb', 'u3'), []);
        await store.recordMessage(record('other', 'u1', { sha256: shared }), []);
        const found = await store.findMessagesBySha256('mb', [shared, sha('absent')]);
        expect(found.map((r) => r.uid).sort()).toEqual(['u1', 'u2']);
        expect(found.every((r) => r.mailbox === 'mb')).toBe(true);
        expect(await store.findMessagesBySha256('mb', [])).toEqual([]);
      });

      it('renameMessage moves a record to a new uid and server UIDL, keeping its content', async () => {
        const rec = record('mb', 'old');
        await store.recordMessage(rec, []);
        await store.renameMessage('mb', 'old', 'new', 'NEW-UIDL');
        const got = await store.getMessages('mb', ['old', 'new']);
        expect(got.has('old')).toBe(false);
        expect(got.get('new')).toEqual({ ...rec, uid: 'new', serverUidl: 'NEW-UIDL' });

        await store.renameMessage('mb', 'new', `sha256:${rec.sha256}`, undefined);
        const moved = (await store.getMessages('mb', [`sha256:${rec.sha256}`])).get(`sha256:${rec.sha256}`);
        expect(moved?.serverUidl).toBeUndefined();
        // A uid that is not recorded again is a new message.
        expect(await store.recordMessage(record('mb', 'old'), [])).toBe('created');
      });

      it("renameMessage re-points the message's deliveries at the new uid, their webhook-ids unchanged", async () => {
        // After a UIDL reset the record moves to the server's new identity; a delivery still naming the old
        // uid could not find its message (no event to send or replay), and delete-after-delivered would see
        // no deliveries for the new uid and DELE too early.
        const rec = record('mb', 'old');
        const other = record('mb', 'older');
        const jobs = [job(rec, 'ep1', { status: 'delivered', attempts: 1, deliveredAt: T0 + 5 }), job(rec, 'ep2')];
        const otherJob = job(other, 'ep1');
        await store.recordMessage(rec, jobs);
        await store.recordMessage(other, [otherJob]);
        await store.renameMessage('mb', 'old', 'new', 'NEW-UIDL');
        const moved = jobs.map((j) => ({ ...j, uid: 'new' }));
        expect(await store.listDeliveries({ mailbox: 'mb', uid: 'new' })).toEqual(moved);
        expect(await store.listDeliveries({ mailbox: 'mb', uid: 'old' })).toEqual([]);
        for (const j of moved) expect(await store.getDelivery(j.webhookId)).toEqual(j);
        // A uid that only starts like the renamed one is another message: untouched.
        expect(await store.listDeliveries({ mailbox: 'mb', uid: 'older' })).toEqual([otherJob]);
        expect(await store.getDelivery(otherJob.webhookId)).toEqual(otherJob);
      });

      it('renameMessage to a uid already recorded moves neither the record nor its deliveries', async () => {
        const a = record('mb', 'a');
        const b = record('mb', 'b');
        await store.recordMessage(a, [job(a, 'ep1')]);
        await store.recordMessage(b, [job(b, 'ep1')]);
        await store.renameMessage('mb', 'a', 'b', 'b').catch(() => {});
        expect(await store.listDeliveries({ mailbox: 'mb', uid: 'a' })).toEqual([job(a, 'ep1')]);
        expect(await store.listDeliveries({ mailbox: 'mb', uid: 'b' })).toEqual([job(b, 'ep1')]);
        expect((await store.getMessages('mb', ['a'])).get('a')).toEqual(a);
      });

      it('renameMessage of an unknown uid changes nothing', async () => {
        await store.renameMessage('mb', 'ghost', 'new', 'x');
        expect((await store.getMessages('mb', ['ghost', 'new'])).size).toBe(0);
      });

      it('markDeleted sets deletedAt on the listed uids only, and keeps the first time', async () => {
        for (const uid of ['a', 'b', 'c']) await store.recordMessage(record('mb', uid), []);
        await store.markDeleted('mb', ['a', 'b', 'ghost'], T0 + 10);
        await store.markDeleted('mb', ['a'], T0 + 20);
        const got = await store.getMessages('mb', ['a', 'b', 'c']);
        expect(got.get('a')?.deletedAt).toBe(T0 + 10);
        expect(got.get('b')?.deletedAt).toBe(T0 + 10);
        expect(got.get('c')?.deletedAt).toBeUndefined();
        expect((await store.getMessages('mb', ['ghost'])).size).toBe(0);
      });

      it('markDeleSent sets deleSentAt once, on recorded uids not deleted; the record keeps it through a rename', async () => {
        await store.recordMessage(record('mb', 'a', { deleSentAt: T0 + 1 }), []);
        for (const uid of ['b', 'c', 'd']) await store.recordMessage(record('mb', uid), []);
        await store.markDeleted('mb', ['d'], T0 + 5);
        await store.markDeleSent('mb', ['a', 'b', 'd', 'ghost'], T0 + 10);
        await store.markDeleSent('mb', ['b'], T0 + 20);
        const got = await store.getMessages('mb', ['a', 'b', 'c', 'd']);
        expect(got.get('a')?.deleSentAt).toBe(T0 + 1);
        expect(got.get('b')?.deleSentAt).toBe(T0 + 10);
        expect(got.get('c')?.deleSentAt).toBeUndefined();
        expect(got.get('d')?.deleSentAt).toBeUndefined();
        expect((await store.getMessages('mb', ['ghost'])).size).toBe(0);
        await store.renameMessage('mb', 'b', 'b2', 'b2');
        expect((await store.getMessages('mb', ['b2'])).get('b2')?.deleSentAt).toBe(T0 + 10);
        expect((await store.listRetentionDue('mb', T0 + 1, 10)).find((r) => r.uid === 'a')?.deleSentAt).toBe(T0 + 1);
      });

      it('listRetentionDue: fetched before the cut-off, not deleted, this mailbox, oldest first, limited', async () => {
        const day = 86_400_000;
        for (let i = 0; i < 10; i++) await store.recordMessage(record('mb', `u${i}`, { fetchedAt: T0 + i * day }), []);
        await store.recordMessage(record('other', 'x', { fetchedAt: T0 }), []);
        await store.markDeleted('mb', ['u1'], T0 + 100 * day);
        const due = await store.listRetentionDue('mb', T0 + 5 * day, 100);
        expect(due.map((r) => r.uid)).toEqual(['u0', 'u2', 'u3', 'u4']);
        expect((await store.listRetentionDue('mb', T0 + 5 * day, 2)).map((r) => r.uid)).toEqual(['u0', 'u2']);
        expect(await store.listRetentionDue('mb', T0, 100)).toEqual([]);
      });
    });

    describe('deliveries', () => {
      async function seed(): Promise<DeliveryJob[]> {
        const a = record('mb', 'a');
        const b = record('mb', 'b');
        const c = record('other', 'c');
        const jobs = [
          job(a, 'ep1', { nextAttemptAt: T0 + 30 }),
          job(a, 'ep2', { nextAttemptAt: T0 + 10 }),
          job(b, 'ep1', {
            nextAttemptAt: T0 + 20,
            status: 'failed',
            attempts: 1,
            lastStatus: 503,
            lastError: 'HTTP 503',
          }),
          job(c, 'ep1', { nextAttemptAt: T0 + 40 }),
        ];
        await store.recordMessage(a, [jobs[0]!, jobs[1]!]);
        await store.recordMessage(b, [jobs[2]!]);
        await store.recordMessage(c, [jobs[3]!]);
        return jobs;
      }

      it('listDueDeliveries returns due jobs (pending, or failed awaiting retry), soonest first, limited', async () => {
        const jobs = await seed();
        const due = await store.listDueDeliveries(T0 + 30, 10);
        expect(due).toEqual([jobs[1], jobs[2], jobs[0]]);
        expect(await store.listDueDeliveries(T0 + 30, 2)).toEqual([jobs[1], jobs[2]]);
        expect(await store.listDueDeliveries(T0 + 9, 10)).toEqual([]);
      });

      it('claimDueDeliveries hands each due job to one claimer and hides it until the visibility timeout', async () => {
        const jobs = await seed();
        const [first, second] = await Promise.all([
          store.claimDueDeliveries(T0 + 30, 2, 1_000),
          store.claimDueDeliveries(T0 + 30, 10, 1_000),
        ]);
        const claimed = [...first, ...second].map((j) => j.webhookId).sort();
        expect(claimed).toEqual([jobs[0]!, jobs[1]!, jobs[2]!].map((j) => j.webhookId).sort());
        expect(await store.claimDueDeliveries(T0 + 500, 10, 1_000)).toEqual([jobs[3]]);
        // A claimer that died: its jobs are due again once the visibility timeout has passed.
        const again = await store.claimDueDeliveries(T0 + 30 + 1_000, 10, 1_000);
        expect(again.map((j) => j.webhookId).sort()).toEqual(claimed);
      });

      it('claimDueDeliveries passes over the skipped endpoints without counting them against the limit', async () => {
        const jobs = await seed();
        // Due order is jobs 1, 2, 0, 3; jobs 2 and 0 belong to mb's ep1. The other mailbox's ep1 is another endpoint.
        const claimed = await store.claimDueDeliveries(T0 + 50, 2, 1_000, {
          skipEndpoints: [{ mailbox: 'mb', endpointId: 'ep1' }],
        });
        expect(claimed).toEqual([jobs[1], jobs[3]]);
        // Passed over, not claimed: still due for the next claimer.
        expect(await store.claimDueDeliveries(T0 + 50, 10, 1_000)).toEqual([jobs[2], jobs[0]]);
      });

      it('updateDelivery patches only the given fields; delivered, dead and disabled jobs are not due', async () => {
        const jobs = await seed();
        await store.updateDelivery(jobs[1]!.webhookId, {
          status: 'delivered',
          attempts: 1,
          deliveredAt: T0 + 11,
          lastStatus: 204,
        });
        await store.updateDelivery(jobs[2]!.webhookId, { status: 'dead', attempts: 8 });
        await store.updateDelivery(jobs[3]!.webhookId, { status: 'disabled' });
        await store.updateDelivery(jobs[0]!.webhookId, {
          nextAttemptAt: T0 + 1000,
          attempts: 1,
          status: 'failed',
          lastError: 'timeout',
        });
        expect(await store.listDueDeliveries(T0 + 999, 10)).toEqual([]);
        expect(await store.listDueDeliveries(T0 + 1000, 10)).toEqual([
          { ...jobs[0], nextAttemptAt: T0 + 1000, attempts: 1, status: 'failed', lastError: 'timeout' },
        ]);
        const [delivered] = await store.listDeliveries({ status: 'delivered' });
        expect(delivered).toEqual({
          ...jobs[1],
          status: 'delivered',
          attempts: 1,
          deliveredAt: T0 + 11,
          lastStatus: 204,
        });
        const [dead] = await store.listDeliveries({ status: 'dead' });
        expect(dead).toEqual({ ...jobs[2], status: 'dead', attempts: 8 });
      });

      it('updateDelivery of an unknown webhookId creates nothing', async () => {
        await store.updateDelivery('msg_unknown', { status: 'delivered' }).catch(() => {});
        expect(await store.listDeliveries({})).toEqual([]);
      });

      it('updateDeliveries applies each patch exactly as updateDelivery would; unknown ids create nothing', async () => {
        const jobs = await seed();
        await store.updateDeliveries([]);
        await store.updateDeliveries([
          {
            webhookId: jobs[1]!.webhookId,
            patch: { status: 'delivered', attempts: 1, deliveredAt: T0 + 11, lastStatus: 204 },
          },
          { webhookId: 'msg_unknown', patch: { status: 'delivered' } },
          { webhookId: jobs[2]!.webhookId, patch: { status: 'dead', attempts: 8 } },
          { webhookId: jobs[3]!.webhookId, patch: { status: 'disabled' } },
          {
            webhookId: jobs[0]!.webhookId,
            patch: { nextAttemptAt: T0 + 1000, attempts: 1, status: 'failed', lastError: 'timeout' },
          },
        ]);
        expect(await store.listDueDeliveries(T0 + 999, 10)).toEqual([]);
        expect(await store.listDueDeliveries(T0 + 1000, 10)).toEqual([
          { ...jobs[0], nextAttemptAt: T0 + 1000, attempts: 1, status: 'failed', lastError: 'timeout' },
        ]);
        expect(await store.getDelivery(jobs[1]!.webhookId)).toEqual({
          ...jobs[1],
          status: 'delivered',
          attempts: 1,
          deliveredAt: T0 + 11,
          lastStatus: 204,
        });
        expect(await store.getDelivery(jobs[2]!.webhookId)).toEqual({ ...jobs[2], status: 'dead', attempts: 8 });
        expect(await store.getDelivery(jobs[3]!.webhookId)).toEqual({ ...jobs[3], status: 'disabled' });
        expect(await store.getDelivery('msg_unknown')).toBeUndefined();
        expect(await store.listDeliveries({})).toHaveLength(4);
      });

      it('updateDeliveries writes a batch larger than any request limit (120 claimed jobs), every one', async () => {
        const jobs: DeliveryJob[] = [];
        for (let i = 0; i < 60; i++) {
          const rec = record('bulk', `u${i}`);
          const pair = [job(rec, 'ep1', { nextAttemptAt: T0 }), job(rec, 'ep2', { nextAttemptAt: T0 })];
          await store.recordMessage(rec, pair);
          jobs.push(...pair);
        }
        const claimed = await store.claimDueDeliveries(T0, 200, 60_000);
        expect(claimed).toHaveLength(120);
        // The engine's flush: even jobs delivered, odd ones failed with a retry, in one call.
        await store.updateDeliveries(
          claimed.map((j, i) => ({
            webhookId: j.webhookId,
            patch:
              i % 2 === 0
                ? { status: 'delivered' as const, attempts: 1, lastStatus: 200, deliveredAt: T0 + 1 }
                : { status: 'failed' as const, attempts: 1, lastStatus: 500, nextAttemptAt: T0 + 5_000 },
          })),
        );
        expect(await store.countDeliveries('bulk')).toMatchObject({ delivered: 60, failed: 60, pending: 0 });
        expect(await store.claimDueDeliveries(T0 + 4_999, 200, 60_000)).toEqual([]);
        const due = await store.claimDueDeliveries(T0 + 5_000, 200, 60_000);
        expect(due.map((j) => j.webhookId).sort()).toEqual(
          claimed
            .filter((_, i) => i % 2 === 1)
            .map((j) => j.webhookId)
            .sort(),
        );
      });

      it('getDelivery finds one job by webhook-id, follows its updates, and is undefined for an unknown id', async () => {
        const jobs = await seed();
        for (const j of jobs) expect(await store.getDelivery(j.webhookId)).toEqual(j);
        await store.updateDelivery(jobs[2]!.webhookId, { status: 'dead', attempts: 8, lastError: 'HTTP 500' });
        expect(await store.getDelivery(jobs[2]!.webhookId)).toEqual({
          ...jobs[2],
          status: 'dead',
          attempts: 8,
          lastError: 'HTTP 500',
        });
        expect(await store.getDelivery('msg_unknown')).toBeUndefined();
        // A uid or mailbox is not a webhook-id: no match by any other field.
        expect(await store.getDelivery(jobs[0]!.uid)).toBeUndefined();
        expect(await store.getDelivery('')).toBeUndefined();
      });

      it('listDeliveries filters by mailbox, status and uid, with a limit', async () => {
        const jobs = await seed();
        expect((await store.listDeliveries({ mailbox: 'mb' })).map((j) => j.webhookId).sort()).toEqual(
          [jobs[0]!, jobs[1]!, jobs[2]!].map((j) => j.webhookId).sort(),
        );
        expect(await store.listDeliveries({ mailbox: 'mb', uid: 'b' })).toEqual([jobs[2]]);
        expect(await store.listDeliveries({ status: 'failed' })).toEqual([jobs[2]]);
        expect(await store.listDeliveries({ mailbox: 'mb', status: 'pending', uid: 'a', limit: 1 })).toHaveLength(1);
        expect(await store.listDeliveries({ mailbox: 'nobody' })).toEqual([]);
      });

      it('countDeliveries counts per status, every status present', async () => {
        const jobs = await seed();
        await store.updateDelivery(jobs[0]!.webhookId, { status: 'delivered', deliveredAt: T0 });
        expect(await store.countDeliveries('mb')).toEqual({
          pending: 1,
          delivered: 1,
          failed: 1,
          dead: 0,
          disabled: 0,
        });
        expect(await store.countDeliveries('nobody')).toEqual({
          pending: 0,
          delivered: 0,
          failed: 0,
          dead: 0,
          disabled: 0,
        });
      });
    });
  });
}
