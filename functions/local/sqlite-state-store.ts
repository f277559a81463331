/**
 * Local-mode `StateStore` on one SQLite file (better-sqlite3).
 *
 * WAL with `synchronous=FULL`: every committed transaction is fsynced to the
 * WAL before it returns, so a resolved write survives a crash (with NORMAL a
 * power loss may drop the last commits) — except delivery outcomes, which are
 * written with NORMAL (`updateDeliveries` says why that is safe). SQLite is
 * synchronous; the methods return promises only to match the port, and each
 * call is one transaction —
 * except `recordMessage`, which commits in groups (below).
 *
 * Group commit of `recordMessage`: a poll stores several messages at once
 * (the engine overlaps storing with the next RETR), and each commit costs one
 * WAL fsync. Records that arrive within `groupCommit.windowMs` of the first
 * queued one (or `maxRecords` of them) are written in ONE transaction, and
 * every one of their promises resolves only after that transaction is
 * committed and its WAL frames are on disk.
 *
 * That WAL sync runs on libuv's thread pool, not on this thread: the group
 * commits with `synchronous=NORMAL` (no sync inside SQLite), then the WAL file
 * is fsync'ed asynchronously and only then do the promises resolve. In WAL
 * mode, FULL differs from NORMAL only in that sync of the WAL after each
 * commit (https://www.sqlite.org/pragma.html#pragma_synchronous; with the
 * SQLite better-sqlite3 builds, that sync is an fsync of the WAL, as strace
 * shows, so we issue the same call), and NORMAL still syncs the WAL before every
 * checkpoint and its header when the WAL is reused — so a resolved record is
 * exactly as durable as under FULL. better-sqlite3 is synchronous: inside
 * SQLite that sync blocked the thread that also runs the POP3 session and the
 * webhook requests, 0.7 ms per message in `bench/e2e-delivery.ts` (2.1 s of
 * 15 s for 3,000 messages).
 *
 * So promise 1 is unchanged: the engine sends DELE only for
 * messages whose `recordMessage` resolved, i.e. that are durably recorded; a
 * crash before the group's commit loses only records whose promises never
 * resolved (their messages are still on the server and their raw files are
 * stored: the next poll fetches them again, the content-addressed store keeps
 * one copy). A failing commit rejects every record of the group.
 *
 * Schema changes are numbered migrations tracked in `PRAGMA user_version`.
 */
import { gunzipSync, gzipSync } from 'node:zlib';
import type BetterSqlite3 from 'better-sqlite3';
import { BridgeError, isBridgeError } from '../core/errors.js';
import type {
  ClaimOptions,
  DeliveryJob,
  DeliveryPatch,
  DeliveryStatus,
  DeliveryUpdate,
  MailboxPeek,
  MailboxState,
  MessageRecord,
  StateStore,
} from '../core/ports.js';
import { fsyncPath } from './fsync-path.js';
import { Database } from './sqlite-driver.js';
import { stateOpenError } from './sqlite-open-error.js';

export interface SqliteStateStoreOptions {
  /** How long a write waits for another connection's lock before failing. */
  readonly busyTimeoutMs?: number;
  /** Group commit of `recordMessage` (default 2 ms / 32 records); `windowMs: 0` commits each at once. */
  readonly groupCommit?: { readonly windowMs?: number; readonly maxRecords?: number };
  /**
   * Makes the WAL file's written frames durable (default: fsync on libuv's pool). A seam for tests,
   * which use it to hold or fail the sync and see that no record resolves before it.
   */
  readonly syncWal?: (walFile: string) => Promise<void>;
}

interface QueuedRecord {
  readonly record: MessageRecord;
  readonly jobs: ReadonlyArray<DeliveryJob>;
  readonly resolve: (outcome: 'created' | 'exists') => void;
  readonly reject: (error: unknown) => void;
}

export interface StateStoreStats {
  /** One per port method call: what a remote store would bill as a request. */
  readonly roundTrips: number;
}

const DELIVERY_STATUSES = [
  'pending',
  'delivered',
  'failed',
  'dead',
  'disabled',
] as const satisfies readonly DeliveryStatus[];
/** Statuses the delivery engine still works on: `failed` is a failed attempt with a retry scheduled. */
const DUE_STATUSES = ['pending', 'failed'] as const;

/** Migration N brings the schema from user_version N-1 to N. Append only; never edit a shipped one. */
const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE leases (
    mailbox    TEXT PRIMARY KEY,
    owner      TEXT NOT NULL,
    expires_at INTEGER NOT NULL
  ) STRICT;

  -- One JSON document per mailbox: the engine reads and writes it whole.
  CREATE TABLE mailbox_state (
    mailbox TEXT PRIMARY KEY,
    state   TEXT NOT NULL
  ) STRICT;

  -- The uid set of the last reconciliation: gzip of the newline-joined uids
  -- (RFC 1939 §7: a UIDL is 1..70 characters 0x21..0x7E, never a newline).
  CREATE TABLE known_uids (
    mailbox TEXT PRIMARY KEY,
    count   INTEGER NOT NULL,
    uids    BLOB NOT NULL
  ) STRICT;

  CREATE TABLE messages (
    mailbox      TEXT NOT NULL,
    uid          TEXT NOT NULL,
    server_uidl  TEXT,
    sha256       TEXT NOT NULL,
    raw_key      TEXT NOT NULL,
    size         INTEGER NOT NULL,
    fetched_at   INTEGER NOT NULL,
    deleted_at   INTEGER,
    headers_only INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (mailbox, uid)
  ) STRICT, WITHOUT ROWID;
  CREATE INDEX messages_by_sha256 ON messages (mailbox, sha256);
  CREATE INDEX messages_retention ON messages (mailbox, fetched_at) WHERE deleted_at IS NULL;

  CREATE TABLE deliveries (
    webhook_id      TEXT PRIMARY KEY,
    mailbox         TEXT NOT NULL,
    uid             TEXT NOT NULL,
    endpoint_id     TEXT NOT NULL,
    raw_key         TEXT NOT NULL,
    sha256          TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    status          TEXT NOT NULL,
    attempts        INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    last_status     INTEGER,
    last_error      TEXT,
    delivered_at    INTEGER
  ) STRICT;
  CREATE INDEX deliveries_due ON deliveries (status, next_attempt_at);
  CREATE INDEX deliveries_by_mailbox ON deliveries (mailbox, status);
  `,
  `
  -- One message's deliveries (delete-after-delivered asks before each DELE; a UIDL-reset rename moves
  -- them) without reading every delivery of the mailbox.
  CREATE INDEX deliveries_by_message ON deliveries (mailbox, uid);
  `,
  `
  -- When a DELE for the message may first have been sent (MessageRecord.deleSentAt).
  ALTER TABLE messages ADD COLUMN dele_sent_at INTEGER;
  `,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

interface MessageRow {
  mailbox: string;
  uid: string;
  server_uidl: string | null;
  sha256: string;
  raw_key: string;
  size: number;
  fetched_at: number;
  deleted_at: number | null;
  headers_only: number;
  dele_sent_at: number | null;
}

interface DeliveryRow {
  webhook_id: string;
  mailbox: string;
  uid: string;
  endpoint_id: string;
  raw_key: string;
  sha256: string;
  created_at: number;
  status: DeliveryStatus;
  attempts: number;
  next_attempt_at: number;
  last_status: number | null;
  last_error: string | null;
  delivered_at: number | null;
}

/** What the methods use of the connection: cached statements and transactions. */
interface Statements {
  prepare(sql: string): BetterSqlite3.Statement;
  transaction<F extends (...args: never[]) => unknown>(fn: F): BetterSqlite3.Transaction<F>;
  close(): void;
}

/** Patchable delivery fields and their columns. */
const DELIVERY_COLUMNS = {
  rawKey: 'raw_key',
  sha256: 'sha256',
  createdAt: 'created_at',
  status: 'status',
  attempts: 'attempts',
  nextAttemptAt: 'next_attempt_at',
  lastStatus: 'last_status',
  lastError: 'last_error',
  deliveredAt: 'delivered_at',
} as const satisfies Record<keyof DeliveryPatch, string>;

/** One `UPDATE` of the given fields (an unknown webhookId matches no row and creates nothing). */
function applyDeliveryPatch(db: Statements, webhookId: string, patch: DeliveryPatch): void {
  const sets: string[] = [];
  const params: (string | number)[] = [];
  for (const [field, column] of Object.entries(DELIVERY_COLUMNS)) {
    const value = patch[field as keyof DeliveryPatch];
    if (value === undefined) continue;
    sets.push(`${column} = ?`);
    params.push(value);
  }
  if (sets.length === 0) return;
  // Prepared once per distinct set of columns (the statement cache keys on the SQL text).
  db.prepare(`UPDATE deliveries SET ${sets.join(', ')} WHERE webhook_id = ?`).run(...params, webhookId);
}

/** The record and its delivery jobs, inside the caller's transaction; 'exists' when the uid was recorded before. */
function insertRecord(db: Statements, record: MessageRecord, jobs: ReadonlyArray<DeliveryJob>): 'created' | 'exists' {
  const inserted = db
    .prepare(
      `INSERT OR IGNORE INTO messages
       (mailbox, uid, server_uidl, sha256, raw_key, size, fetched_at, deleted_at, headers_only, dele_sent_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    )
    .run(
      record.mailbox,
      record.uid,
      record.serverUidl ?? null,
      record.sha256,
      record.rawKey,
      record.size,
      record.fetchedAt,
      record.deletedAt ?? null,
      record.headersOnly === true ? 1 : 0,
      record.deleSentAt ?? null,
    );
  if (inserted.changes === 0) return 'exists';
  const insertJob = db.prepare(
    `INSERT OR IGNORE INTO deliveries
     (webhook_id, mailbox, uid, endpoint_id, raw_key, sha256, created_at, status, attempts,
      next_attempt_at, last_status, last_error, delivered_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  for (const job of jobs) {
    insertJob.run(
      job.webhookId,
      job.mailbox,
      job.uid,
      job.endpointId,
      job.rawKey,
      job.sha256,
      job.createdAt,
      job.status,
      job.attempts,
      job.nextAttemptAt,
      job.lastStatus ?? null,
      job.lastError ?? null,
      job.deliveredAt ?? null,
    );
  }
  return 'created';
}

function toMessage(row: MessageRow): MessageRecord {
  return {
    mailbox: row.mailbox,
    uid: row.uid,
    serverUidl: row.server_uidl ?? undefined,
    sha256: row.sha256,
    rawKey: row.raw_key,
    size: row.size,
    fetchedAt: row.fetched_at,
    ...(row.deleted_at !== null && { deletedAt: row.deleted_at }),
    ...(row.headers_only !== 0 && { headersOnly: true }),
    ...(row.dele_sent_at !== null && { deleSentAt: row.dele_sent_at }),
  };
}

function toDelivery(row: DeliveryRow): DeliveryJob {
  return {
    webhookId: row.webhook_id,
    mailbox: row.mailbox,
    uid: row.uid,
    endpointId: row.endpoint_id,
    rawKey: row.raw_key,
    sha256: row.sha256,
    createdAt: row.created_at,
    status: row.status,
    attempts: row.attempts,
    nextAttemptAt: row.next_attempt_at,
    ...(row.last_status !== null && { lastStatus: row.last_status }),
    ...(row.last_error !== null && { lastError: row.last_error }),
    ...(row.delivered_at !== null && { deliveredAt: row.delivered_at }),
  };
}

export function encodeUids(uids: ReadonlySet<string>): Buffer {
  for (const uid of uids) {
    if (uid.length === 0 || uid.includes('\n')) {
      throw new BridgeError('STATE_ERR_IO', 'a uid must be non-empty and contain no newline', { retryable: false });
    }
  }
  return gzipSync([...uids].join('\n'), { level: 1 });
}

export function decodeUids(blob: Buffer): Set<string> {
  const text = gunzipSync(blob).toString('utf8');
  return new Set(text === '' ? [] : text.split('\n'));
}

function applyMigrations(db: BetterSqlite3.Database): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > MIGRATIONS.length) {
    throw new BridgeError(
      'STATE_ERR_IO',
      `state database has schema version ${current}, newer than this build understands (${MIGRATIONS.length})`,
      { retryable: false },
    );
  }
  for (let version = current; version < MIGRATIONS.length; version++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[version] ?? '');
      db.pragma(`user_version = ${version + 1}`);
    }).immediate();
  }
}

/** A failed group commit or WAL sync fails every record of the group: none of them is known durable. */
function rejectGroup(group: ReadonlyArray<QueuedRecord>, err: unknown): void {
  const error = isBridgeError(err)
    ? err
    : new BridgeError('STATE_ERR_IO', 'state store recordMessage failed', {
        cause: err,
        context: { operation: 'recordMessage' },
      });
  for (const queued of group) queued.reject(error);
}

export class SqliteStateStore implements StateStore {
  readonly file: string;
  readonly #db: BetterSqlite3.Database;
  readonly #statements = new Map<string, BetterSqlite3.Statement>();
  #roundTrips = 0;
  readonly #groupWindowMs: number;
  readonly #groupMax: number;
  #queued: QueuedRecord[] = [];
  #groupTimer: NodeJS.Timeout | undefined;
  /** Group commits of `recordMessage` so far (transactions, successful or not). */
  #recordGroups = 0;
  /** The WAL file whose sync settles a record group; undefined when SQLite keeps no WAL (`:memory:`). */
  readonly #walFile: string | undefined;
  readonly #syncWal: (walFile: string) => Promise<void>;
  /** Record groups committed whose WAL sync has not finished: `close` waits for them. */
  readonly #syncing = new Set<Promise<void>>();

  /** Opens (creating if needed) the database and brings its schema up to date. */
  constructor(file: string, options: SqliteStateStoreOptions = {}) {
    this.file = file;
    this.#groupWindowMs = Math.max(0, options.groupCommit?.windowMs ?? 2);
    this.#groupMax = Math.max(1, Math.trunc(options.groupCommit?.maxRecords ?? 32));
    try {
      this.#db = new Database(file);
      const journalMode = this.#db.pragma('journal_mode = WAL', { simple: true });
      this.#db.pragma('synchronous = FULL');
      this.#db.pragma(`busy_timeout = ${Math.max(0, Math.trunc(options.busyTimeoutMs ?? 5000))}`);
      applyMigrations(this.#db);
      // SQLite names the WAL after the main database's full path as it resolved it (`PRAGMA database_list`),
      // plus `-wal`; an in-memory or temporary database has no file there and no WAL.
      const mainFile = (this.#db.pragma('database_list') as { name: string; file: string }[]).find(
        (entry) => entry.name === 'main',
      )?.file;
      this.#walFile = journalMode === 'wal' && mainFile ? `${mainFile}-wal` : undefined;
      this.#syncWal = options.syncWal ?? fsyncPath;
    } catch (err) {
      throw stateOpenError(file, err);
    }
  }

  /** `prepare` is cached per SQL text; `transaction` and `open` pass through. */
  readonly #statementsView: Statements = {
    prepare: (sql: string) => {
      let statement = this.#statements.get(sql);
      if (statement === undefined) {
        statement = this.#db.prepare(sql);
        this.#statements.set(sql, statement);
      }
      return statement;
    },
    transaction: (fn) => this.#db.transaction(fn),
    close: () => {
      if (this.#db.open) this.#db.close();
    },
  };

  stats(): StateStoreStats & { readonly recordGroups: number } {
    return { roundTrips: this.#roundTrips, recordGroups: this.#recordGroups };
  }

  /** The connection's durability settings, read live (for tests and `doctor`-style diagnostics). */
  settings(): {
    journalMode: string;
    synchronous: 'OFF' | 'NORMAL' | 'FULL' | 'EXTRA';
    busyTimeoutMs: number;
    schemaVersion: number;
  } {
    const synchronous = this.#db.pragma('synchronous', { simple: true }) as number;
    return {
      journalMode: String(this.#db.pragma('journal_mode', { simple: true })),
      synchronous: (['OFF', 'NORMAL', 'FULL', 'EXTRA'] as const)[synchronous] ?? 'OFF',
      busyTimeoutMs: this.#db.pragma('busy_timeout', { simple: true }) as number,
      schemaVersion: this.#db.pragma('user_version', { simple: true }) as number,
    };
  }

  /** One port call: counted, run, and failures other than our own translated to STATE_ERR_IO. */
  #call<T>(operation: string, fn: (db: Statements) => T): Promise<T> {
    this.#roundTrips++;
    try {
      return Promise.resolve(fn(this.#statementsView));
    } catch (err) {
      if (isBridgeError(err)) return Promise.reject(err);
      return Promise.reject(
        new BridgeError('STATE_ERR_IO', `state store ${operation} failed`, { cause: err, context: { operation } }),
      );
    }
  }

  acquireLease(mailbox: string, owner: string, ttlMs: number, now: number): Promise<boolean> {
    return this.#call('acquireLease', (db) => {
      const result = db
        .prepare(
          `INSERT INTO leases (mailbox, owner, expires_at) VALUES (?, ?, ?)
           ON CONFLICT (mailbox) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
           WHERE leases.owner = excluded.owner OR leases.expires_at <= ?`,
        )
        .run(mailbox, owner, now + ttlMs, now);
      return result.changes === 1;
    });
  }

  releaseLease(mailbox: string, owner: string): Promise<void> {
    return this.#call('releaseLease', (db) => {
      db.prepare('DELETE FROM leases WHERE mailbox = ? AND owner = ?').run(mailbox, owner);
    });
  }

  peekMailbox(mailbox: string, now: number): Promise<MailboxPeek> {
    return this.#call('peekMailbox', (db) =>
      // One read transaction: the state and the lease as of the same moment.
      db.transaction(() => {
        const row = db.prepare('SELECT state FROM mailbox_state WHERE mailbox = ?').get(mailbox) as
          | { state: string }
          | undefined;
        const lease = db.prepare('SELECT 1 FROM leases WHERE mailbox = ? AND expires_at > ?').get(mailbox, now);
        return {
          state: row === undefined ? undefined : { ...(JSON.parse(row.state) as object), mailbox },
          leaseHeld: lease !== undefined,
        };
      })(),
    );
  }

  getMailboxState(mailbox: string): Promise<MailboxState | undefined> {
    return this.#call('getMailboxState', (db) => {
      const row = db.prepare('SELECT state FROM mailbox_state WHERE mailbox = ?').get(mailbox) as
        | { state: string }
        | undefined;
      return row === undefined ? undefined : { ...(JSON.parse(row.state) as object), mailbox };
    });
  }

  updateMailboxState(mailbox: string, patch: Partial<Omit<MailboxState, 'mailbox'>>): Promise<void> {
    return this.#call('updateMailboxState', (db) => {
      db.transaction(() => {
        const row = db.prepare('SELECT state FROM mailbox_state WHERE mailbox = ?').get(mailbox) as
          | { state: string }
          | undefined;
        const state: Record<string, unknown> = row === undefined ? {} : JSON.parse(row.state);
        for (const [key, value] of Object.entries(patch)) {
          if (value !== undefined && key !== 'mailbox') state[key] = value;
        }
        db.prepare(
          'INSERT INTO mailbox_state (mailbox, state) VALUES (?, ?) ON CONFLICT (mailbox) DO UPDATE SET state = excluded.state',
        ).run(mailbox, JSON.stringify(state));
      }).immediate();
    });
  }

  listMailboxStates(): Promise<MailboxState[]> {
    return this.#call('listMailboxStates', (db) => {
      const rows = db.prepare('SELECT mailbox, state FROM mailbox_state ORDER BY mailbox').all() as {
        mailbox: string;
        state: string;
      }[];
      return rows.map((row) => ({ ...(JSON.parse(row.state) as object), mailbox: row.mailbox }));
    });
  }

  getKnownUids(mailbox: string): Promise<ReadonlySet<string>> {
    return this.#call('getKnownUids', (db) => {
      const row = db.prepare('SELECT uids FROM known_uids WHERE mailbox = ?').get(mailbox) as
        | { uids: Buffer }
        | undefined;
      return row === undefined ? new Set<string>() : decodeUids(row.uids);
    });
  }

  putKnownUids(mailbox: string, uids: ReadonlySet<string>): Promise<void> {
    return this.#call('putKnownUids', (db) => {
      db.prepare(
        `INSERT INTO known_uids (mailbox, count, uids) VALUES (?, ?, ?)
         ON CONFLICT (mailbox) DO UPDATE SET count = excluded.count, uids = excluded.uids`,
      ).run(mailbox, uids.size, encodeUids(uids));
    });
  }

  getMessages(mailbox: string, uids: ReadonlyArray<string>): Promise<Map<string, MessageRecord>> {
    return this.#call('getMessages', (db) => {
      const rows = db
        .prepare('SELECT * FROM messages WHERE mailbox = ? AND uid IN (SELECT value FROM json_each(?))')
        .all(mailbox, JSON.stringify(uids)) as MessageRow[];
      return new Map(rows.map((row) => [row.uid, toMessage(row)]));
    });
  }

  findMessagesBySha256(mailbox: string, sha256s: ReadonlyArray<string>): Promise<MessageRecord[]> {
    return this.#call('findMessagesBySha256', (db) => {
      const rows = db
        .prepare(
          'SELECT * FROM messages WHERE mailbox = ? AND sha256 IN (SELECT value FROM json_each(?)) ORDER BY fetched_at, uid',
        )
        .all(mailbox, JSON.stringify(sha256s)) as MessageRow[];
      return rows.map(toMessage);
    });
  }

  recordMessage(record: MessageRecord, jobs: ReadonlyArray<DeliveryJob>): Promise<'created' | 'exists'> {
    this.#roundTrips++;
    return new Promise((resolve, reject) => {
      this.#queued.push({ record, jobs, resolve, reject });
      if (this.#queued.length >= this.#groupMax || this.#groupWindowMs === 0) this.#commitRecords();
      else this.#groupTimer ??= setTimeout(() => this.#commitRecords(), this.#groupWindowMs);
    });
  }

  /**
   * Writes every queued record in one IMMEDIATE transaction, then syncs the WAL off this thread (see the
   * file comment) and only then settles their promises.
   */
  #commitRecords(): void {
    clearTimeout(this.#groupTimer);
    this.#groupTimer = undefined;
    const group = this.#queued;
    this.#queued = [];
    if (group.length === 0) return;
    this.#recordGroups++;
    const walFile = this.#walFile;
    let outcomes: Array<'created' | 'exists'>;
    try {
      const db = this.#statementsView;
      const commit = () =>
        db.transaction(() => group.map(({ record, jobs }) => insertRecord(db, record, jobs))).immediate();
      outcomes = walFile === undefined ? commit() : this.#withoutWalSync(commit);
    } catch (err) {
      rejectGroup(group, err);
      return;
    }
    const settle = () => {
      for (const [i, queued] of group.entries()) queued.resolve(outcomes[i]!);
    };
    if (walFile === undefined) {
      settle();
      return;
    }
    // Frames written before this call are covered by it, whatever later commits append meanwhile.
    let synced: Promise<void>;
    try {
      synced = this.#syncWal(walFile);
    } catch (err) {
      // This runs from a timer: a sync that throws instead of rejecting must still fail only its group.
      synced = Promise.reject(err);
    }
    const syncing = synced.then(settle, (err: unknown) => rejectGroup(group, err));
    this.#syncing.add(syncing);
    void syncing.finally(() => this.#syncing.delete(syncing));
  }

  /**
   * Runs `commit` with `synchronous=NORMAL`, so SQLite does not sync the WAL inside it, then restores the
   * connection's FULL for every other write. Callers make the commit durable some other way (see their docs).
   */
  #withoutWalSync<T>(commit: () => T): T {
    this.#db.pragma('synchronous = NORMAL');
    try {
      return commit();
    } finally {
      this.#db.pragma('synchronous = FULL');
    }
  }

  /** One transaction: the record and its deliveries move together, or (new uid taken) neither does. */
  renameMessage(mailbox: string, fromUid: string, toUid: string, serverUidl: string | undefined): Promise<void> {
    return this.#call('renameMessage', (db) => {
      db.transaction(() => {
        const moved = db
          .prepare('UPDATE messages SET uid = ?, server_uidl = ? WHERE mailbox = ? AND uid = ?')
          .run(toUid, serverUidl ?? null, mailbox, fromUid);
        if (moved.changes === 0) return;
        db.prepare('UPDATE deliveries SET uid = ? WHERE mailbox = ? AND uid = ?').run(toUid, mailbox, fromUid);
      }).immediate();
    });
  }

  markDeleted(mailbox: string, uids: ReadonlyArray<string>, at: number): Promise<void> {
    return this.#call('markDeleted', (db) => {
      db.prepare(
        `UPDATE messages SET deleted_at = ?
         WHERE mailbox = ? AND deleted_at IS NULL AND uid IN (SELECT value FROM json_each(?))`,
      ).run(at, mailbox, JSON.stringify(uids));
    });
  }

  markDeleSent(mailbox: string, uids: ReadonlyArray<string>, at: number): Promise<void> {
    return this.#call('markDeleSent', (db) => {
      db.prepare(
        `UPDATE messages SET dele_sent_at = ?
         WHERE mailbox = ? AND deleted_at IS NULL AND dele_sent_at IS NULL AND uid IN (SELECT value FROM json_each(?))`,
      ).run(at, mailbox, JSON.stringify(uids));
    });
  }

  listRetentionDue(mailbox: string, before: number, limit: number): Promise<MessageRecord[]> {
    return this.#call('listRetentionDue', (db) => {
      const rows = db
        .prepare(
          `SELECT * FROM messages WHERE mailbox = ? AND deleted_at IS NULL AND fetched_at < ?
           ORDER BY fetched_at, uid LIMIT ?`,
        )
        .all(mailbox, before, limit) as MessageRow[];
      return rows.map(toMessage);
    });
  }

  listDueDeliveries(now: number, limit: number): Promise<DeliveryJob[]> {
    return this.#call('listDueDeliveries', (db) => {
      const rows = db
        .prepare(
          `SELECT * FROM deliveries WHERE status IN (${DUE_STATUSES.map(() => '?').join(', ')}) AND next_attempt_at <= ?
           ORDER BY next_attempt_at, created_at, webhook_id LIMIT ?`,
        )
        .all(...DUE_STATUSES, now, limit) as DeliveryRow[];
      return rows.map(toDelivery);
    });
  }

  claimDueDeliveries(
    now: number,
    limit: number,
    visibilityMs: number,
    options: ClaimOptions = {},
  ): Promise<DeliveryJob[]> {
    const skip = options.skipEndpoints ?? [];
    // Row values (SQLite 3.15+): `(mailbox, endpoint_id) NOT IN (VALUES (?, ?), ...)`.
    const skipSql =
      skip.length === 0 ? '' : `AND (mailbox, endpoint_id) NOT IN (VALUES ${skip.map(() => '(?, ?)').join(', ')})`;
    const skipParams = skip.flatMap(({ mailbox, endpointId }) => [mailbox, endpointId]);
    return this.#call('claimDueDeliveries', (db) =>
      // IMMEDIATE: the select and the update happen under one write lock, so two workers never claim one job.
      db
        .transaction(() => {
          const rows = db
            .prepare(
              `SELECT * FROM deliveries WHERE status IN (${DUE_STATUSES.map(() => '?').join(', ')}) AND next_attempt_at <= ?
               ${skipSql} ORDER BY next_attempt_at, created_at, webhook_id LIMIT ?`,
            )
            .all(...DUE_STATUSES, now, ...skipParams, limit) as DeliveryRow[];
          const hide = db.prepare('UPDATE deliveries SET next_attempt_at = ? WHERE webhook_id = ?');
          for (const row of rows) hide.run(now + visibilityMs, row.webhook_id);
          return rows.map(toDelivery);
        })
        .immediate(),
    );
  }

  listDeliveries(filter: {
    mailbox?: string;
    status?: DeliveryStatus;
    uid?: string;
    limit?: number;
  }): Promise<DeliveryJob[]> {
    return this.#call('listDeliveries', (db) => {
      const where: string[] = [];
      const params: (string | number)[] = [];
      for (const column of ['mailbox', 'status', 'uid'] as const) {
        const value = filter[column];
        if (value === undefined) continue;
        where.push(`${column} = ?`);
        params.push(value);
      }
      const sql = `SELECT * FROM deliveries ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
        ORDER BY created_at, webhook_id LIMIT ?`;
      const rows = db.prepare(sql).all(...params, filter.limit ?? -1) as DeliveryRow[];
      return rows.map(toDelivery);
    });
  }

  getDelivery(webhookId: string): Promise<DeliveryJob | undefined> {
    return this.#call('getDelivery', (db) => {
      const row = db.prepare('SELECT * FROM deliveries WHERE webhook_id = ?').get(webhookId) as DeliveryRow | undefined;
      return row === undefined ? undefined : toDelivery(row);
    });
  }

  updateDelivery(webhookId: string, patch: DeliveryPatch): Promise<void> {
    return this.#call('updateDelivery', (db) => applyDeliveryPatch(db, webhookId, patch));
  }

  /**
   * All patches in one transaction: one WAL commit instead of one per outcome, which was 9–15 % of the
   * deliver path's CPU. All apply or none do.
   *
   * That commit has no WAL fsync of its own (`synchronous=NORMAL` for this transaction only): the WAL is
   * written in order, so the next synced commit (a message record group) or checkpoint makes the outcomes durable
   * too, and until then they survive a crash of the process (they are in the OS's page cache), only not a
   * power loss. Losing one is harmless by design (outcome-buffer.ts: the job was claimed, it becomes due
   * again and goes out once more under the same webhook-id). The fsync blocked the thread that also runs
   * the poll and the HTTP requests: ≈ 1.2 ms per delivered message in `bench/profile.ts deliver`.
   */
  updateDeliveries(patches: ReadonlyArray<DeliveryUpdate>): Promise<void> {
    return this.#call('updateDeliveries', (db) => {
      if (patches.length === 0) return;
      this.#withoutWalSync(() =>
        db.transaction(() => {
          for (const { webhookId, patch } of patches) applyDeliveryPatch(db, webhookId, patch);
        })(),
      );
    });
  }

  countDeliveries(mailbox: string): Promise<Record<DeliveryStatus, number>> {
    return this.#call('countDeliveries', (db) => {
      const counts = Object.fromEntries(DELIVERY_STATUSES.map((s) => [s, 0])) as Record<DeliveryStatus, number>;
      const rows = db
        .prepare('SELECT status, COUNT(*) AS n FROM deliveries WHERE mailbox = ? GROUP BY status')
        .all(mailbox) as { status: DeliveryStatus; n: number }[];
      for (const row of rows) counts[row.status] = row.n;
      return counts;
    });
  }

  async close(): Promise<void> {
    // Records still waiting for their group are committed first, and their WAL syncs finish: their callers
    // are waiting for them.
    this.#commitRecords();
    await Promise.all(this.#syncing);
    return this.#call('close', (db) => db.close());
  }
}
