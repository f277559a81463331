import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isBridgeError } from '../../functions/core/errors.js';
import { Database } from '../../functions/local/sqlite-driver.js';
import { decodeUids, encodeUids, SCHEMA_VERSION, SqliteStateStore } from '../../functions/local/sqlite-state-store.js';
import { describeStateStoreContract, job, record } from '../contract/state-store.contract.js';

describeStateStoreContract('SqliteStateStore', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'pop3-bridge-state-'));
  const store = new SqliteStateStore(join(dir, 'state.sqlite'));
  return {
    store,
    cleanup: async () => {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});

describe('SqliteStateStore (local specifics)', () => {
  let dir: string;
  let file: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pop3-bridge-state-'));
    file = join(dir, 'state.sqlite');
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('opens in WAL mode with synchronous=FULL and the current schema version', async () => {
    const store = new SqliteStateStore(file);
    await store.close();
    const db = new Database(file, { readonly: true });
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    const tables = (
      db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as {
        name: string;
      }[]
    ).map((t) => t.name);
    expect(tables).toEqual(['deliveries', 'known_uids', 'leases', 'mailbox_state', 'messages']);
    db.close();
    // synchronous and busy_timeout are per connection: ask the store's own.
    const again = new SqliteStateStore(file, { busyTimeoutMs: 1234 });
    expect(again.settings()).toEqual({
      journalMode: 'wal',
      synchronous: 'FULL',
      busyTimeoutMs: 1234,
      schemaVersion: SCHEMA_VERSION,
    });
    await again.close();
  });

  it('reopening keeps the data and does not re-run migrations', async () => {
    const first = new SqliteStateStore(file);
    const rec = record('mb', 'u1');
    await first.recordMessage(rec, [job(rec, 'ep')]);
    await first.putKnownUids('mb', new Set(['u1']));
    await first.close();
    const second = new SqliteStateStore(file);
    expect((await second.getMessages('mb', ['u1'])).get('u1')).toEqual(rec);
    expect([...(await second.getKnownUids('mb'))]).toEqual(['u1']);
    await second.close();
  });

  it('a database of schema version 2 gains dele_sent_at and keeps its records', async () => {
    const first = new SqliteStateStore(file);
    const rec = record('mb', 'u1');
    await first.recordMessage(rec, [job(rec, 'ep')]);
    await first.close();
    // What a version-2 database looks like: the column migration 3 adds is not there yet.
    const db = new Database(file);
    db.exec('ALTER TABLE messages DROP COLUMN dele_sent_at');
    db.pragma('user_version = 2');
    db.close();
    const second = new SqliteStateStore(file);
    expect((await second.getMessages('mb', ['u1'])).get('u1')).toEqual(rec);
    await second.markDeleSent('mb', ['u1'], 42);
    expect((await second.getMessages('mb', ['u1'])).get('u1')).toEqual({ ...rec, deleSentAt: 42 });
    expect(second.settings().schemaVersion).toBe(3);
    await second.close();
  });

  it('refuses a database from a newer schema version', async () => {
    const db = new Database(file);
    db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    db.close();
    let error: unknown;
    try {
      new SqliteStateStore(file);
    } catch (err) {
      error = err;
    }
    expect(isBridgeError(error, 'STATE_ERR_IO')).toBe(true);
  });

  it('counts one round trip per port call, whatever the batch size', async () => {
    const store = new SqliteStateStore(file);
    const before = store.stats().roundTrips;
    await store.getKnownUids('mb');
    await store.getMessages(
      'mb',
      Array.from({ length: 1000 }, (_, i) => `u${i}`),
    );
    await store.acquireLease('mb', 'me', 1000, 0);
    await store.releaseLease('mb', 'me');
    expect(store.stats().roundTrips - before).toBe(4);
    await store.close();
  });

  it('updateDeliveries is one round trip and one transaction: a patch SQLite refuses rolls back the whole batch', async () => {
    const store = new SqliteStateStore(file);
    const jobs = [];
    for (let i = 0; i < 100; i++) {
      const rec = record('mb', `u${i}`);
      const j = job(rec, 'ep1');
      await store.recordMessage(rec, [j]);
      jobs.push(j);
    }
    const before = store.stats().roundTrips;
    await store.updateDeliveries(
      jobs.map((j) => ({ webhookId: j.webhookId, patch: { status: 'delivered', attempts: 1 } })),
    );
    expect(store.stats().roundTrips - before).toBe(1);
    expect(await store.countDeliveries('mb')).toMatchObject({ delivered: 100 });

    // better-sqlite3 refuses to bind an object: thrown inside the transaction, after the first UPDATE ran.
    const bad = { attempts: {} as unknown as number };
    const error = await store
      .updateDeliveries([
        { webhookId: jobs[0]!.webhookId, patch: { status: 'failed', attempts: 2 } },
        { webhookId: jobs[1]!.webhookId, patch: bad },
      ])
      .catch((e: unknown) => e);
    expect(isBridgeError(error, 'STATE_ERR_IO')).toBe(true);
    expect(await store.getDelivery(jobs[0]!.webhookId)).toMatchObject({ status: 'delivered', attempts: 1 });
    // Outcomes are committed with synchronous=NORMAL; the connection is back to FULL after, the failed batch too,
    // so the next message record is fsynced as before.
    expect(store.settings().synchronous).toBe('FULL');
    await store.close();
  });

  it('two connections on one file see one lease', async () => {
    const a = new SqliteStateStore(file);
    const b = new SqliteStateStore(file);
    const results = await Promise.all([a.acquireLease('mb', 'a', 60_000, 0), b.acquireLease('mb', 'b', 60_000, 0)]);
    expect(results.filter(Boolean)).toHaveLength(1);
    await a.close();
    await b.close();
  });

  it('translates SQLite failures to STATE_ERR_IO (here: use after close)', async () => {
    const store = new SqliteStateStore(file);
    await store.close();
    await expect(store.getMailboxState('mb')).rejects.toMatchObject({ code: 'STATE_ERR_IO' });
  });

  it('known-uid blobs are compact and refuse uids that would break the encoding', () => {
    const uids = new Set(Array.from({ length: 100_000 }, (_, i) => `${i.toString(16).padStart(8, '0')}4f1e2a3b`));
    const blob = encodeUids(uids);
    expect(blob.length).toBeLessThan(1_700_000 / 2);
    expect(decodeUids(blob)).toEqual(uids);
    expect(() => encodeUids(new Set(['a\nb']))).toThrow(/newline/);
    expect(() => encodeUids(new Set(['']))).toThrow();
  });

  describe('group commit of recordMessage', () => {
    it('records arriving within the window are one transaction, each promise resolving after it', async () => {
      const store = new SqliteStateStore(file, { groupCommit: { windowMs: 50 } });
      const other = new SqliteStateStore(file);
      const recs = Array.from({ length: 5 }, (_, i) => record('mb', `g${i}`));
      const before = store.stats().recordGroups;
      const pending = recs.map((rec) => store.recordMessage(rec, [job(rec, 'ep')]));
      // Not yet committed: another connection does not see them.
      expect((await other.getMessages('mb', ['g0'])).size).toBe(0);
      expect(await Promise.all(pending)).toEqual(['created', 'created', 'created', 'created', 'created']);
      expect(store.stats().recordGroups - before).toBe(1);
      // Resolved means committed: visible to another connection at once.
      expect(
        (
          await other.getMessages(
            'mb',
            recs.map((r) => r.uid),
          )
        ).size,
      ).toBe(5);
      expect(await other.listDeliveries({ mailbox: 'mb' })).toHaveLength(5);
      expect(await store.recordMessage(recs[0]!, [job(recs[0]!, 'ep')])).toBe('exists');
      await other.close();
      await store.close();
    });

    it('a full group commits at once, without waiting for the window', async () => {
      const store = new SqliteStateStore(file, { groupCommit: { windowMs: 60_000, maxRecords: 2 } });
      const recs = Array.from({ length: 2 }, (_, i) => record('mb', `full${i}`));
      const started = Date.now();
      await Promise.all(recs.map((rec) => store.recordMessage(rec, [])));
      expect(Date.now() - started).toBeLessThan(30_000);
      expect(store.stats().recordGroups).toBe(1);
      await store.close();
    });

    it('windowMs 0 commits every record on its own', async () => {
      const store = new SqliteStateStore(file, { groupCommit: { windowMs: 0 } });
      await Promise.all([store.recordMessage(record('mb', 'a'), []), store.recordMessage(record('mb', 'b'), [])]);
      expect(store.stats().recordGroups).toBe(2);
      await store.close();
    });

    it('a failing group rejects every record in it and commits none of them (all or nothing)', async () => {
      const store = new SqliteStateStore(file, { groupCommit: { windowMs: 50 } });
      const good = record('mb', 'good');
      // A value SQLite cannot bind makes the transaction throw half-way.
      const bad = record('mb', 'bad', { size: { not: 'a number' } as unknown as number });
      const results = await Promise.allSettled([store.recordMessage(good, []), store.recordMessage(bad, [])]);
      for (const result of results) {
        expect(result.status).toBe('rejected');
        expect(isBridgeError((result as PromiseRejectedResult).reason, 'STATE_ERR_IO')).toBe(true);
      }
      expect((await store.getMessages('mb', ['good', 'bad'])).size).toBe(0);
      // The store works on: the next group commits.
      expect(await store.recordMessage(good, [])).toBe('created');
      await store.close();
    });

    it('close commits the records still waiting for their group', async () => {
      const store = new SqliteStateStore(file, { groupCommit: { windowMs: 60_000 } });
      const pending = store.recordMessage(record('mb', 'late'), []);
      await store.close();
      expect(await pending).toBe('created');
      const reopened = new SqliteStateStore(file);
      expect((await reopened.getMessages('mb', ['late'])).size).toBe(1);
      await reopened.close();
    });
  });

  describe('the WAL sync of a record group (off the event loop)', () => {
    /** A `syncWal` the test releases or fails by hand, recording which file it was asked to sync. */
    function heldSync() {
      const calls: { file: string; release: () => void; fail: (error: Error) => void }[] = [];
      const syncWal = (walFile: string) =>
        new Promise<void>((resolve, reject) => {
          calls.push({ file: walFile, release: resolve, fail: reject });
        });
      return { calls, syncWal };
    }

    it('no record resolves before the WAL holding its group is synced; SQLite itself commits with NORMAL', async () => {
      const held = heldSync();
      const store = new SqliteStateStore(file, { groupCommit: { windowMs: 0 }, syncWal: held.syncWal });
      let resolved = false;
      const pending = store.recordMessage(record('mb', 'w1'), []).then((outcome) => {
        resolved = true;
        return outcome;
      });
      for (let i = 0; i < 5 && held.calls.length === 0; i++) await new Promise((r) => setImmediate(r));
      expect(held.calls.map((c) => c.file)).toEqual([`${file}-wal`]);
      // The group is committed (another connection sees it) and its WAL file exists to be synced …
      const other = new SqliteStateStore(file);
      expect((await other.getMessages('mb', ['w1'])).size).toBe(1);
      expect(existsSync(`${file}-wal`)).toBe(true);
      // … but its promise waits for the sync, and the connection is back at FULL for every other write.
      await new Promise((r) => setTimeout(r, 20));
      expect(resolved).toBe(false);
      expect(store.settings().synchronous).toBe('FULL');
      held.calls[0]!.release();
      expect(await pending).toBe('created');
      await other.close();
      await store.close();
    });

    it('a failed WAL sync rejects every record of its group with STATE_ERR_IO; the next group still works', async () => {
      const held = heldSync();
      const store = new SqliteStateStore(file, { groupCommit: { windowMs: 50 }, syncWal: held.syncWal });
      const results = Promise.allSettled([
        store.recordMessage(record('mb', 'f1'), []),
        store.recordMessage(record('mb', 'f2'), []),
      ]);
      for (let i = 0; i < 50 && held.calls.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
      held.calls[0]!.fail(Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' }));
      for (const result of await results) {
        expect(result.status).toBe('rejected');
        expect(isBridgeError((result as PromiseRejectedResult).reason, 'STATE_ERR_IO')).toBe(true);
      }
      // Not known durable, so the engine never DELEs them; the rows are there, so the next poll's record is 'exists'.
      const again = store.recordMessage(record('mb', 'f1'), []);
      for (let i = 0; i < 50 && held.calls.length < 2; i++) await new Promise((r) => setTimeout(r, 10));
      held.calls[1]!.release();
      expect(await again).toBe('exists');
      await store.close();
    });

    it('a sync that throws instead of rejecting fails its group, not the process', async () => {
      const store = new SqliteStateStore(file, {
        groupCommit: { windowMs: 5 },
        syncWal: () => {
          throw new Error('EBADF: bad file descriptor');
        },
      });
      const result = await store.recordMessage(record('mb', 't1'), []).catch((error: unknown) => error);
      expect(isBridgeError(result, 'STATE_ERR_IO')).toBe(true);
      await store.close();
    });

    it('close waits for the WAL syncs still running', async () => {
      const held = heldSync();
      const store = new SqliteStateStore(file, { groupCommit: { windowMs: 0 }, syncWal: held.syncWal });
      const pending = store.recordMessage(record('mb', 'c1'), []);
      for (let i = 0; i < 5 && held.calls.length === 0; i++) await new Promise((r) => setImmediate(r));
      let closed = false;
      const closing = store.close().then(() => {
        closed = true;
      });
      await new Promise((r) => setTimeout(r, 20));
      expect(closed).toBe(false);
      held.calls[0]!.release();
      await closing;
      expect(await pending).toBe('created');
    });

    it('the default sync (fsync of the real WAL file) resolves records', async () => {
      const store = new SqliteStateStore(file, { groupCommit: { windowMs: 0 } });
      expect(await store.recordMessage(record('mb', 'd1'), [])).toBe('created');
      await store.close();
    });

    it('syncs the WAL SQLite named, after the full path it resolved (not the path as given)', async () => {
      const held = heldSync();
      const roundabout = join(dir, 'sub', '..', 'state.sqlite');
      await mkdir(join(dir, 'sub'));
      const store = new SqliteStateStore(roundabout, { groupCommit: { windowMs: 0 }, syncWal: held.syncWal });
      const pending = store.recordMessage(record('mb', 'p1'), []);
      for (let i = 0; i < 5 && held.calls.length === 0; i++) await new Promise((r) => setImmediate(r));
      expect(held.calls.map((c) => c.file)).toEqual([`${file}-wal`]);
      expect(existsSync(held.calls[0]!.file)).toBe(true);
      held.calls[0]!.release();
      expect(await pending).toBe('created');
      await store.close();
    });

    it('an in-memory database has no WAL to sync: records resolve after the commit alone', async () => {
      const held = heldSync();
      const store = new SqliteStateStore(':memory:', { groupCommit: { windowMs: 0 }, syncWal: held.syncWal });
      expect(await store.recordMessage(record('mb', 'm1'), [])).toBe('created');
      expect(held.calls).toHaveLength(0);
      await store.close();
    });
  });

  it('a resolved recordMessage survives the process being SIGKILLed right after', async () => {
    const moduleUrl = new URL('../../functions/local/sqlite-state-store.ts', import.meta.url).href;
    const script = join(dir, 'record-and-die.mts');
    await writeFile(
      script,
      `import { SqliteStateStore } from ${JSON.stringify(moduleUrl)};
const store = new SqliteStateStore(process.argv[2]!);
const rec = { mailbox: 'mb', uid: 'crash-1', serverUidl: 'crash-1', sha256: 'a'.repeat(64), rawKey: 'raw/aa/x.eml', size: 1, fetchedAt: 1 };
const job = { webhookId: 'msg_crash', mailbox: 'mb', uid: 'crash-1', endpointId: 'ep', rawKey: rec.rawKey, sha256: rec.sha256, createdAt: 1, status: 'pending' as const, attempts: 0, nextAttemptAt: 1 };
await store.recordMessage(rec, [job]);
process.kill(process.pid, 'SIGKILL');
`,
    );
    const root = fileURLToPath(new URL('../..', import.meta.url));
    const child = spawn(process.execPath, ['--import', 'tsx', script, file], {
      cwd: root,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += String(d);
    });
    const signal = await new Promise<NodeJS.Signals | null>((resolve) =>
      child.on('exit', (_code, sig) => resolve(sig)),
    );
    expect(signal, stderr).toBe('SIGKILL');

    const store = new SqliteStateStore(file);
    expect((await store.getMessages('mb', ['crash-1'])).get('crash-1')?.sha256).toBe('a'.repeat(64));
    expect(await store.listDeliveries({ uid: 'crash-1' })).toHaveLength(1);
    await store.close();
  });
});
