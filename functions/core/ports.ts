/**
 * The interfaces the core (poll engine, delivery engine) depends on. Each is
 * implemented twice: local (folder + SQLite) and AWS (S3 + DynamoDB + SQS).
 * Both must pass the contract suite in `test/contract/`.
 */
import type { Readable } from 'node:stream';

/** A content-addressed object in the raw store. */
export interface StoredObject {
  /** Store key, derived from the SHA-256 of the content (e.g. `raw/ab/abcdef….eml`). */
  readonly key: string;
  readonly sha256: string;
  readonly size: number;
}

export type ObjectKind = 'raw' | 'attachment';

export interface RawStore {
  /**
   * Streams `input` into the store, computing SHA-256 on the way, and files it
   * under a key derived from that hash. A raw message is durable when the
   * promise resolves (local: temp file, fsync, rename, fsync dir; S3: the PUT's
   * answer). An attachment is derived from a durable raw message: S3 makes it
   * durable all the same, the local store leaves the fsyncs to the kernel and
   * rebuilds one an OS crash damaged when its link is fetched
   * (folder-raw-store.ts). Storing the same bytes twice yields the same key and
   * keeps one copy. Never buffers the whole input.
   * If `input` errors, nothing is left behind under a content key.
   */
  put(input: Readable, kind: ObjectKind): Promise<StoredObject>;
  /**
   * How many puts a pipelining caller (the poll) may have running at once: the one still reading its input
   * and those that have read it to the end and are making it durable. Absent: the caller's default (4).
   * A store whose finishing puts hold no message bytes can take more; one that buffers a put's bytes until
   * it is acknowledged bounds memory with this.
   */
  readonly putsInFlight?: number;
  /** A stream of the stored bytes; fails with STORE_ERR_NOT_FOUND. */
  get(key: string): Promise<Readable>;
  has(key: string): Promise<boolean>;
}

/** Status and incremental-check cursor of one mailbox. */
export interface MailboxState {
  readonly mailbox: string;
  readonly lastPollAt?: number;
  readonly lastOkAt?: number;
  readonly lastError?: { readonly code: string; readonly message: string; readonly at: number };
  /** Epoch ms before which the mailbox must not be polled (back-off, LOGIN-DELAY). */
  readonly nextPollAfter?: number;
  /** Set by [AUTH] / [SYS/PERM]: polled only at the slow retry rate until it succeeds. */
  readonly failing?: boolean;
  readonly consecutiveFailures?: number;
  /** What the last complete poll saw: used by the fast "nothing new" check. */
  readonly cursor?: { readonly count: number; readonly size: number; readonly lastUidl: string | undefined };
  readonly lastFullSyncAt?: number;
  readonly storedCount?: number;
  readonly storedBytes?: number;
  /** Endpoints that answered 410 Gone: nothing more is sent to them until the config changes their id. */
  readonly disabledEndpoints?: ReadonlyArray<{ readonly id: string; readonly at: number; readonly reason: string }>;
  /** Set when a UIDL reset was detected (epoch ms) and how many messages matched by content hash. */
  readonly lastUidlReset?: { readonly at: number; readonly matchedByHash: number; readonly unknown: number };
}

/** One message the bridge has durably stored. Identity: (mailbox, uid). */
export interface MessageRecord {
  readonly mailbox: string;
  /**
   * Identity within the mailbox: the server's UIDL, `uidl#2`, `uidl#3`, … for
   * duplicates in one listing, or `sha256:<hex>` for servers without UIDL.
   */
  readonly uid: string;
  /** The UIDL as the server sent it (undefined for servers without UIDL). */
  readonly serverUidl: string | undefined;
  readonly sha256: string;
  readonly rawKey: string;
  readonly size: number;
  readonly fetchedAt: number;
  /** Set once a DELE for it was committed by a successful QUIT. */
  readonly deletedAt?: number;
  /**
   * Set before the first DELE for it may be sent (with the record itself when the mailbox DELEs right after
   * storing). Without `deletedAt` the message may or may not still be on the server: the session's QUIT may
   * have been answered +OK, and so have removed it, just before a crash or a dropped connection kept the
   * deletion from being recorded. A message listed under its UIDL then is compared with the stored one before
   * anything is DELEted (poll-mailbox.ts), since a server may hand a removed message's UIDL to a new one.
   */
  readonly deleSentAt?: number;
  /** True when only the headers were stored (size limit action `headers-only`). */
  readonly headersOnly?: boolean;
}

export type DeliveryStatus = 'pending' | 'delivered' | 'failed' | 'dead' | 'disabled';

/** One event for one endpoint. `webhookId` is stable across retries and replays. */
export interface DeliveryJob {
  readonly webhookId: string;
  readonly mailbox: string;
  readonly uid: string;
  readonly endpointId: string;
  readonly rawKey: string;
  readonly sha256: string;
  readonly createdAt: number;
  readonly status: DeliveryStatus;
  readonly attempts: number;
  readonly nextAttemptAt: number;
  readonly lastStatus?: number;
  readonly lastError?: string;
  readonly deliveredAt?: number;
}

/** The fields of a delivery a worker may change; its identity (webhookId, mailbox, uid, endpoint) never changes. */
export type DeliveryPatch = Partial<Omit<DeliveryJob, 'webhookId' | 'mailbox' | 'uid' | 'endpointId'>>;

/** A mailbox's webhook endpoint, as deliveries name it. */
export interface EndpointRef {
  readonly mailbox: string;
  readonly endpointId: string;
}

/** Options of `claimDueDeliveries`. */
export interface ClaimOptions {
  /** Endpoints whose jobs are left unclaimed (a few: those the caller knows not to answer). */
  readonly skipEndpoints?: ReadonlyArray<EndpointRef>;
}

/** One patch of a batched `updateDeliveries`. */
export interface DeliveryUpdate {
  readonly webhookId: string;
  readonly patch: DeliveryPatch;
}

/** What a poll reads before it decides whether it has anything to do: no write, one request. */
export interface MailboxPeek {
  readonly state: MailboxState | undefined;
  /** True while someone holds an unexpired lease on the mailbox (at `now`). */
  readonly leaseHeld: boolean;
}

export interface StateStore {
  /**
   * The mailbox state and whether its lease is held, in one cheap read (SQLite: one read transaction;
   * DynamoDB: one eventually consistent Query of the two items). May be slightly stale on DynamoDB:
   * anything that mutates must take the lease and read again with `getMailboxState`.
   */
  peekMailbox(mailbox: string, now: number): Promise<MailboxPeek>;
  /**
   * Conditional write with expiry: true if `owner` now holds the lease of the
   * mailbox (it was free, expired, or already ours), false if someone else holds it.
   */
  acquireLease(mailbox: string, owner: string, ttlMs: number, now: number): Promise<boolean>;
  /** Releases the lease only if `owner` holds it. */
  releaseLease(mailbox: string, owner: string): Promise<void>;

  getMailboxState(mailbox: string): Promise<MailboxState | undefined>;
  /** Merges `patch` into the stored state (creating it); `undefined` fields are left as they were. */
  updateMailboxState(mailbox: string, patch: Partial<Omit<MailboxState, 'mailbox'>>): Promise<void>;
  listMailboxStates(): Promise<MailboxState[]>;

  /**
   * The set of uids the last full reconciliation saw on the server, kept as
   * one blob so an idle poll or a reconciliation costs one read, not one per message.
   */
  getKnownUids(mailbox: string): Promise<ReadonlySet<string>>;
  putKnownUids(mailbox: string, uids: ReadonlySet<string>): Promise<void>;

  /** Batch look-up; returns only the records that exist. Cost grows with `uids.length`, not with the mailbox. */
  getMessages(mailbox: string, uids: ReadonlyArray<string>): Promise<Map<string, MessageRecord>>;
  /** Records of the mailbox whose content hash is one of `sha256s` (UIDL-reset matching). */
  findMessagesBySha256(mailbox: string, sha256s: ReadonlyArray<string>): Promise<MessageRecord[]>;
  /**
   * Atomically: put the record if (mailbox, uid) is not recorded yet, and the
   * delivery jobs if their webhookIds are not queued yet. Returns `created` or
   * `exists` (then nothing was written). Durable when it resolves.
   */
  recordMessage(record: MessageRecord, jobs: ReadonlyArray<DeliveryJob>): Promise<'created' | 'exists'>;
  /**
   * Re-points a record at a new uid after a UIDL reset (same content, new server identity), and its
   * deliveries with it (their webhook-ids unchanged). Renaming to a uid already recorded fails and moves nothing.
   */
  renameMessage(mailbox: string, fromUid: string, toUid: string, serverUidl: string | undefined): Promise<void>;
  markDeleted(mailbox: string, uids: ReadonlyArray<string>, at: number): Promise<void>;
  /** Sets `deleSentAt` once on the listed uids that are recorded and not deleted. Durable when it resolves. */
  markDeleSent(mailbox: string, uids: ReadonlyArray<string>, at: number): Promise<void>;
  /** Records fetched before `before` and not deleted (leave-mode retention). */
  listRetentionDue(mailbox: string, before: number, limit: number): Promise<MessageRecord[]>;

  /** Delivery queue: jobs due at `now`, oldest first. */
  listDueDeliveries(now: number, limit: number): Promise<DeliveryJob[]>;
  /**
   * Takes up to `limit` due jobs for one worker: atomically pushes their
   * `nextAttemptAt` to `now + visibilityMs` (like an SQS visibility timeout),
   * so a second worker does not take them too, and a worker that dies leaves
   * them due again later. Oldest first. Jobs of the endpoints in
   * `options.skipEndpoints` are neither claimed nor counted against `limit`:
   * a refilling round passes the endpoints it knows to be hanging, whose jobs
   * it could only hand back, and a drain those that timed out in an earlier
   * round (delivery-engine.ts, timed-out-endpoints.ts).
   */
  claimDueDeliveries(now: number, limit: number, visibilityMs: number, options?: ClaimOptions): Promise<DeliveryJob[]>;
  listDeliveries(filter: {
    mailbox?: string;
    status?: DeliveryStatus;
    uid?: string;
    limit?: number;
  }): Promise<DeliveryJob[]>;
  /**
   * One delivery by its webhook-id, or undefined. A key look-up (SQLite
   * primary key, DynamoDB GetItem): its cost does not grow with the queue.
   */
  getDelivery(webhookId: string): Promise<DeliveryJob | undefined>;
  updateDelivery(webhookId: string, patch: DeliveryPatch): Promise<void>;
  /**
   * Many `updateDelivery` in one call (the delivery engine's buffered outcomes): each patch has exactly the
   * effect `updateDelivery` would have (unknown webhookIds create nothing). SQLite applies them in one
   * transaction (one fsync); DynamoDB sends the same conditional UpdateItems with bounded concurrency, so
   * some may apply and others not: a failure of any rejects with STATE_ERR_IO naming how many failed.
   * No caller needs them atomic: each patch is safe to lose (the claim makes the job due again).
   */
  updateDeliveries(patches: ReadonlyArray<DeliveryUpdate>): Promise<void>;
  countDeliveries(mailbox: string): Promise<Record<DeliveryStatus, number>>;

  close(): Promise<void>;
}
