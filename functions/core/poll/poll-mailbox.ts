/**
 * One poll of one mailbox: the bridge's promises live here.
 *
 * 1. Skip if the mailbox is backing off; take the lease or return `busy`.
 * 2. Connect and log in; learn what is new at a cost that does not grow with
 *    the mailbox: STAT + `UIDL n` against the cursor of the last poll (idle),
 *    `UIDL n` of the appended messages only (incremental), or a full UIDL
 *    listing compared with the known-uid snapshot (first poll, periodically,
 *    delete mode, retention, or when the cheap check does not add up).
 * 3. For each new message, oldest first: RETR streamed into the raw store
 *    (SHA-256 on the way), then the record and its delivery jobs in one
 *    durable, conditional write, then — in delete mode — DELE.
 * 4. DELE what is recorded but still on the server (a session that died
 *    before QUIT) and, in leave mode, what is past its retention.
 * 5. QUIT and check its reply; only then are deletions marked.
 *
 * Any failure before QUIT leaves every message either on the server (no
 * QUIT, so no DELE took effect — RFC 1939 §6) or stored and recorded.
 */
import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { Pop3Client } from '../../pop3/client.js';
import { BridgeError, isBridgeError } from '../errors.js';
import { type Logger, silentLogger } from '../logger.js';
import type { DeliveryJob, MessageRecord, RawStore, StateStore } from '../ports.js';
import { webhookIdFor } from '../webhook-id.js';
import { type BackoffPolicy, decideBackoff } from './backoff.js';
import { identitiesFromHeaders, identitiesFromUidl, type ServerMessage } from './identity.js';

const DAY_MS = 86_400_000;

export interface PollTarget {
  readonly name: string;
  readonly mode: 'leave' | 'delete';
  readonly retentionDays?: number | undefined;
  readonly sizeLimit?: { readonly maxBytes: number; readonly action: 'skip' | 'delete' | 'headers-only' } | undefined;
  readonly caps?:
    | { readonly maxMessagesPerRun?: number | undefined; readonly maxBytesPerRun?: number | undefined }
    | undefined;
  /** One delivery job per endpoint per message. */
  readonly endpointIds: ReadonlyArray<string>;
  /** Delete mode only: DELE once every endpoint has answered 2xx instead of right after the durable store. */
  readonly deleteAfterDelivered?: boolean | undefined;
}

/** Points where tests (and only tests) may stop the process to prove crash safety. */
export type PollProbePoint =
  | 'connected'
  | 'listed'
  | 'after-store'
  | 'after-record'
  | 'after-dele'
  | 'before-quit'
  | 'after-quit';

export interface PollDeps {
  readonly state: StateStore;
  readonly store: RawStore;
  /** A connected, logged-in client for the target. */
  readonly openSession: () => Promise<Pop3Client>;
  readonly now?: () => number;
  readonly logger?: Logger;
  readonly backoff?: BackoffPolicy;
  /** How often an idle leave-mode mailbox gets a full UIDL reconciliation anyway. Default 24 h. */
  readonly fullSyncIntervalMs?: number;
  readonly probe?: (
    point: PollProbePoint,
    info: { readonly uid?: string; readonly msg?: number },
  ) => void | Promise<void>;
  readonly onProgress?: (progress: { readonly done: number; readonly total: number; readonly bytes: number }) => void;
}

export interface PollOptions {
  /** Epoch ms: no new RETR is sent after this; the message in progress is finished, then QUIT. */
  readonly deadline?: number;
  /** Poll even if the mailbox is backing off. */
  readonly force?: boolean;
  /** Stops taking new messages (graceful shutdown); the current one is finished. */
  readonly signal?: AbortSignal;
  /** Lease lifetime, renewed every third of it while the poll runs. Default 60 s. */
  readonly leaseTtlMs?: number;
}

export type PollPath = 'idle' | 'incremental' | 'full';

export interface PollResult {
  readonly mailbox: string;
  readonly status: 'ok' | 'busy' | 'deferred' | 'error';
  readonly path?: PollPath;
  readonly fetched: number;
  readonly bytes: number;
  readonly deleted: number;
  readonly skipped: number;
  /** New messages left for the next poll (deadline, caps, shutdown). */
  readonly remaining: number;
  readonly uidlReset?: { readonly matchedByHash: number; readonly unknown: number };
  readonly error?: BridgeError;
  readonly nextPollAfter?: number;
}

interface Listing {
  readonly path: PollPath;
  readonly count: number;
  readonly size: number;
  readonly lastUidl: string | undefined;
  /** Messages on the server this poll knows the identity of (all of them, or the appended ones). */
  readonly messages: ReadonlyArray<ServerMessage>;
  /** True when `messages` is the whole mailbox. */
  readonly complete: boolean;
}

export async function pollMailbox(target: PollTarget, deps: PollDeps, options: PollOptions = {}): Promise<PollResult> {
  return new MailboxPoll(target, deps, options).run();
}

class MailboxPoll {
  private readonly now: () => number;
  private readonly log: Logger;
  private client: Pop3Client | undefined;
  private fetched = 0;
  private bytes = 0;
  private skipped = 0;
  private remaining = 0;
  private deleted = 0;
  private uidlReset: { matchedByHash: number; unknown: number } | undefined;
  /** Set when renewing the lease failed: stop taking new messages, another poller may own the mailbox now. */
  private leaseLost = false;

  constructor(
    private readonly target: PollTarget,
    private readonly deps: PollDeps,
    private readonly options: PollOptions,
  ) {
    this.now = deps.now ?? Date.now;
    this.log = (deps.logger ?? silentLogger).child({ mailbox: target.name });
  }

  private result(status: PollResult['status'], extra: Partial<PollResult> = {}): PollResult {
    return {
      mailbox: this.target.name,
      status,
      fetched: this.fetched,
      bytes: this.bytes,
      deleted: this.deleted,
      skipped: this.skipped,
      remaining: this.remaining,
      ...(this.uidlReset && { uidlReset: this.uidlReset }),
      ...extra,
    };
  }

  async run(): Promise<PollResult> {
    const { state } = this.deps;
    const name = this.target.name;
    const startedAt = this.now();
    const prior = await state.getMailboxState(name);
    if (!this.options.force && prior?.nextPollAfter !== undefined && prior.nextPollAfter > startedAt) {
      return this.result('deferred', { nextPollAfter: prior.nextPollAfter });
    }
    const owner = randomUUID();
    // A short lease, renewed while the poll runs: a poll that crashes (SIGKILL, Lambda timeout) blocks
    // the mailbox for at most one TTL, yet a long poll never loses its lease to a second poller.
    const ttl = this.options.leaseTtlMs ?? 60_000;
    if (!(await state.acquireLease(name, owner, ttl, startedAt))) {
      this.log.info('poll skipped: another poll holds the lease');
      return this.result('busy');
    }
    const heartbeat = setInterval(
      () => {
        state.acquireLease(name, owner, ttl, this.now()).then(
          (held) => {
            if (!held) this.leaseLost = true;
          },
          () => {
            this.leaseLost = true;
          },
        );
      },
      Math.max(ttl / 3, 10),
    );
    heartbeat.unref();
    try {
      const path = await this.poll(prior);
      const okAt = this.now();
      await state.updateMailboxState(name, {
        lastPollAt: okAt,
        lastOkAt: okAt,
        failing: false,
        consecutiveFailures: 0,
        nextPollAfter: 0,
        storedCount: (prior?.storedCount ?? 0) + this.fetched,
        storedBytes: (prior?.storedBytes ?? 0) + this.bytes,
      });
      this.log.info('poll finished', {
        path,
        fetched: this.fetched,
        bytes: this.bytes,
        deleted: this.deleted,
        remaining: this.remaining,
      });
      return this.result('ok', { path });
    } catch (caught) {
      const error = isBridgeError(caught)
        ? caught
        : new BridgeError(
            'POLL_ERR_INTERNAL',
            `unexpected error: ${caught instanceof Error ? caught.message : String(caught)}`,
            {
              cause: caught,
            },
          );
      this.client?.close();
      const failures = (prior?.consecutiveFailures ?? 0) + 1;
      const at = this.now();
      const decision = decideBackoff(error, failures, at, this.deps.backoff);
      await state.updateMailboxState(name, {
        lastPollAt: at,
        lastError: { code: error.code, message: error.message, at },
        consecutiveFailures: failures,
        nextPollAfter: decision.nextPollAfter,
        failing: decision.failing,
        storedCount: (prior?.storedCount ?? 0) + this.fetched,
        storedBytes: (prior?.storedBytes ?? 0) + this.bytes,
      });
      this.log.warn('poll failed', { error, failing: decision.failing, nextPollAfter: decision.nextPollAfter });
      return this.result('error', { error, nextPollAfter: decision.nextPollAfter });
    } finally {
      clearInterval(heartbeat);
      await state.releaseLease(name, owner);
    }
  }

  private async probe(point: Parameters<NonNullable<PollDeps['probe']>>[0], info: { uid?: string; msg?: number } = {}) {
    await this.deps.probe?.(point, info);
  }

  private async poll(prior: Awaited<ReturnType<StateStore['getMailboxState']>>): Promise<PollPath> {
    const { state } = this.deps;
    const name = this.target.name;
    // Not given options.signal: that one means "stop taking new messages", not "cut the session".
    const client = await this.deps.openSession();
    this.client = client;
    await this.probe('connected');

    const retentionDue =
      this.target.mode === 'leave' && this.target.retentionDays !== undefined
        ? await state.listRetentionDue(name, this.now() - this.target.retentionDays * DAY_MS, 1000)
        : [];
    const listing = await this.list(client, prior, retentionDue.length > 0);
    await this.probe('listed');
    if (listing.path === 'idle') {
      await this.quit(client, []);
      return 'idle';
    }

    const known = await state.getKnownUids(name);
    const onServer = new Set(listing.messages.map((m) => m.uid));
    const candidates = listing.messages.filter((m) => !known.has(m.uid));
    const existing = await state.getMessages(
      name,
      candidates.map((m) => m.uid),
    );
    const fresh = candidates.filter((m) => !existing.has(m.uid));
    const resetSuspected = listing.complete && this.looksLikeUidlReset(known, onServer, fresh.length);
    if (resetSuspected) {
      this.uidlReset = { matchedByHash: 0, unknown: fresh.length };
      this.log.warn('UIDL reset suspected: most known UIDLs vanished; matching new ones by content hash', {
        known: known.size,
        onServer: onServer.size,
        unknown: fresh.length,
      });
    }

    const recordedNow = new Set<string>();
    const toDelete: ServerMessage[] = [];
    await this.fetchNew(client, fresh, onServer, resetSuspected, recordedNow, toDelete);

    // Recorded but still on the server: a session that died before QUIT, or delete-after-delivered.
    if (this.target.mode === 'delete' && listing.complete) {
      const already = listing.messages.filter(
        (m) => (known.has(m.uid) || existing.has(m.uid)) && !recordedNow.has(m.uid),
      );
      for (const m of already) {
        if (await this.mayDelete(m.uid)) toDelete.push(m);
      }
    }
    if (retentionDue.length > 0 && listing.complete) {
      const byUid = new Map(listing.messages.map((m) => [m.uid, m]));
      const gone: string[] = [];
      for (const record of retentionDue) {
        const m = byUid.get(record.uid);
        if (m) toDelete.push(m);
        else gone.push(record.uid);
      }
      // Already gone from the server (deleted by another client): nothing to DELE, just remember it.
      if (gone.length > 0) await state.markDeleted(name, gone, this.now());
    }

    const deletedUids = await this.quit(client, toDelete);
    const nextKnown = new Set<string>();
    for (const m of listing.messages) {
      if ((known.has(m.uid) || existing.has(m.uid) || recordedNow.has(m.uid)) && !deletedUids.has(m.uid)) {
        nextKnown.add(m.uid);
      }
    }
    if (!listing.complete) for (const uid of known) nextKnown.add(uid);
    await state.putKnownUids(name, nextKnown);

    const allDone = this.remaining === 0 && deletedUids.size === 0;
    await state.updateMailboxState(name, {
      // count -1 invalidates the cursor (the state merge cannot unset a field): the next poll lists again.
      cursor: allDone
        ? { count: listing.count, size: listing.size, lastUidl: listing.lastUidl }
        : { count: -1, size: -1, lastUidl: undefined },
      ...(listing.path === 'full' && { lastFullSyncAt: this.now() }),
      ...(this.uidlReset && { lastUidlReset: { at: this.now(), ...this.uidlReset } }),
    });
    return listing.path;
  }

  /**
   * A UIDL reset (server migration, maildir rebuilt): a mailbox we knew well
   * where most known UIDLs are gone and most UIDLs on the server are unknown.
   */
  private looksLikeUidlReset(known: ReadonlySet<string>, onServer: ReadonlySet<string>, unknown: number): boolean {
    if (this.target.mode !== 'leave' || known.size < 10) return false;
    let stillThere = 0;
    for (const uid of known) if (onServer.has(uid)) stillThere += 1;
    return stillThere < known.size / 2 && unknown > onServer.size / 2;
  }

  private async list(
    client: Pop3Client,
    prior: Awaited<ReturnType<StateStore['getMailboxState']>>,
    retentionDue: boolean,
  ): Promise<Listing> {
    const stat = await client.stat();
    let noUidl = !client.capabilities.uidl;
    let lastUidl: string | undefined;
    if (!noUidl && stat.count > 0) {
      try {
        lastUidl = (await client.uidlOne(stat.count)).uidl;
      } catch (error) {
        // RFC 1939 makes UIDL optional: a server that refuses it gets identities from header hashes.
        if (!isBridgeError(error, 'POP3_ERR_RESPONSE') && !isBridgeError(error, 'POP3_ERR_UNSUPPORTED')) throw error;
        noUidl = true;
      }
    }
    const base = { count: stat.count, size: stat.size, lastUidl };
    if (noUidl) {
      return { ...base, path: 'full', complete: true, messages: await identitiesFromHeaders(client, stat.count) };
    }
    const cursor = prior?.cursor;
    const fullDue =
      prior?.lastFullSyncAt === undefined ||
      this.now() - prior.lastFullSyncAt >= (this.deps.fullSyncIntervalMs ?? DAY_MS);
    if (this.target.mode === 'delete' && stat.count === 0) {
      return { ...base, path: 'idle', complete: true, messages: [] };
    }
    if (this.target.mode === 'leave' && !fullDue && !retentionDue && cursor && cursor.count >= 0) {
      if (cursor.count === stat.count && cursor.size === stat.size && cursor.lastUidl === lastUidl) {
        return { ...base, path: 'idle', complete: true, messages: [] };
      }
      if (stat.count > cursor.count && cursor.count > 0) {
        // Appended only? Then message `cursor.count` still has the UIDL it had.
        const probe = await client.uidlOne(cursor.count);
        if (probe.uidl === cursor.lastUidl) {
          const ns = Array.from({ length: stat.count - cursor.count }, (_, i) => cursor.count + 1 + i);
          const entries = await client.uidlMany(ns);
          return { ...base, path: 'incremental', complete: false, messages: await identitiesFromUidl(client, entries) };
        }
      }
    }
    const entries = await client.uidl();
    return { ...base, path: 'full', complete: true, messages: await identitiesFromUidl(client, entries) };
  }

  private budgetLeft(): boolean {
    if (this.options.signal?.aborted || this.leaseLost) return false;
    return this.options.deadline === undefined || this.now() < this.options.deadline;
  }

  private jobsFor(uid: string, rawKey: string, sha256: string): DeliveryJob[] {
    const at = this.now();
    return this.target.endpointIds.map((endpointId) => ({
      webhookId: webhookIdFor(this.target.name, uid, endpointId),
      mailbox: this.target.name,
      uid,
      endpointId,
      rawKey,
      sha256,
      createdAt: at,
      status: 'pending',
      attempts: 0,
      nextAttemptAt: at,
    }));
  }

  private async fetchNew(
    client: Pop3Client,
    fresh: ReadonlyArray<ServerMessage>,
    onServer: ReadonlySet<string>,
    resetSuspected: boolean,
    recordedNow: Set<string>,
    toDelete: ServerMessage[],
  ): Promise<void> {
    if (fresh.length === 0) return;
    const sizes = await this.sizesOf(
      client,
      fresh.map((m) => m.msg),
    );
    const selected = this.applyCaps(fresh, sizes);
    this.remaining = fresh.length - selected.length;
    const limit = this.target.sizeLimit;
    const oversize = limit ? selected.filter((m) => (sizes.get(m.msg) ?? 0) > limit.maxBytes) : [];
    const normal = limit ? selected.filter((m) => (sizes.get(m.msg) ?? 0) <= limit.maxBytes) : selected;
    const total = selected.length;
    const byMsg = new Map(normal.map((m) => [m.msg, m]));

    const store = async (m: ServerMessage, body: Readable, headersOnly: boolean, deliver: boolean, dele: boolean) => {
      const stored = await this.deps.store.put(body, 'raw');
      await this.probe('after-store', { uid: m.uid, msg: m.msg });
      if (resetSuspected && (await this.matchedAfterReset(m, stored.sha256, onServer))) {
        recordedNow.add(m.uid);
        return;
      }
      const record: MessageRecord = {
        mailbox: this.target.name,
        uid: m.uid,
        serverUidl: m.serverUidl,
        sha256: stored.sha256,
        rawKey: stored.key,
        size: stored.size,
        fetchedAt: this.now(),
        ...(headersOnly && { headersOnly: true }),
      };
      const outcome = await this.deps.state.recordMessage(
        record,
        deliver ? this.jobsFor(m.uid, stored.key, stored.sha256) : [],
      );
      await this.probe('after-record', { uid: m.uid, msg: m.msg });
      recordedNow.add(m.uid);
      if (outcome === 'created') {
        this.fetched += 1;
        this.bytes += stored.size;
      }
      this.log.info(outcome === 'created' ? 'message stored' : 'message already recorded', {
        uid: m.uid,
        size: stored.size,
        sha256: stored.sha256,
        headersOnly,
      });
      if (dele && (await this.mayDelete(m.uid))) toDelete.push(m);
      this.deps.onProgress?.({ done: recordedNow.size, total, bytes: this.bytes });
    };

    for (const m of oversize) {
      if (!this.budgetLeft()) break;
      const action = limit!.action;
      if (action === 'skip') this.skipped += 1;
      this.log.warn('message over the size limit: storing its headers only', {
        uid: m.uid,
        size: sizes.get(m.msg),
        action,
      });
      await store(
        m,
        await client.top(m.msg, 0),
        true,
        action !== 'skip',
        action === 'delete' || this.target.mode === 'delete',
      );
    }
    const consumed = await client.retrEach(
      normal.map((m) => m.msg),
      async (n, body) => {
        const m = byMsg.get(n)!;
        await store(m, body, false, true, this.target.mode === 'delete');
      },
      // Up to 4 messages finish storing and recording while the next body is already streaming in:
      // each still goes store → record → (DELE at the end) on its own, so crash safety is unchanged.
      { shouldContinue: () => this.budgetLeft(), overlap: 4 },
    );
    this.remaining += normal.length - consumed;
  }

  /** After a UIDL reset: the same content recorded under an identity no longer on the server is the same message. */
  private async matchedAfterReset(m: ServerMessage, sha256: string, onServer: ReadonlySet<string>): Promise<boolean> {
    const matches = await this.deps.state.findMessagesBySha256(this.target.name, [sha256]);
    const previous = matches.find((r) => !onServer.has(r.uid) && r.deletedAt === undefined);
    if (!previous) return false;
    await this.deps.state.renameMessage(this.target.name, previous.uid, m.uid, m.serverUidl);
    this.uidlReset = {
      matchedByHash: (this.uidlReset?.matchedByHash ?? 0) + 1,
      unknown: Math.max(0, (this.uidlReset?.unknown ?? 1) - 1),
    };
    this.log.info('message matched by content hash after UIDL reset: not delivered again', {
      uid: m.uid,
      previousUid: previous.uid,
    });
    return true;
  }

  private async mayDelete(uid: string): Promise<boolean> {
    if (!this.target.deleteAfterDelivered) return true;
    const jobs = await this.deps.state.listDeliveries({ mailbox: this.target.name, uid });
    return jobs.every((j) => j.status === 'delivered' || j.status === 'disabled');
  }

  private async sizesOf(client: Pop3Client, msgs: ReadonlyArray<number>): Promise<Map<number, number>> {
    // One LIST of everything beats thousands of `LIST n` on a first sync; a few `LIST n` beat a big listing.
    const entries = msgs.length > 200 ? await client.list() : await Promise.all(msgs.map((n) => client.listOne(n)));
    return new Map(entries.map((e) => [e.msg, e.size]));
  }

  private applyCaps(fresh: ReadonlyArray<ServerMessage>, sizes: ReadonlyMap<number, number>): ServerMessage[] {
    const maxMessages = this.target.caps?.maxMessagesPerRun ?? Number.POSITIVE_INFINITY;
    const maxBytes = this.target.caps?.maxBytesPerRun ?? Number.POSITIVE_INFINITY;
    const out: ServerMessage[] = [];
    let bytes = 0;
    for (const m of fresh) {
      const size = sizes.get(m.msg) ?? 0;
      if (out.length >= maxMessages) break;
      // The first message always goes, or one message above the byte cap would block the mailbox forever.
      if (out.length > 0 && bytes + size > maxBytes) break;
      out.push(m);
      bytes += size;
    }
    return out;
  }

  /** DELE (pipelined), QUIT, and only after QUIT's +OK mark the deletions. Returns the uids deleted. */
  private async quit(client: Pop3Client, toDelete: ReadonlyArray<ServerMessage>): Promise<Set<string>> {
    const unique = [...new Map(toDelete.map((m) => [m.msg, m])).values()];
    if (unique.length > 0) {
      await client.deleMany(unique.map((m) => m.msg));
      await this.probe('after-dele');
    }
    await this.probe('before-quit');
    await client.quit();
    this.client = undefined;
    await this.probe('after-quit');
    const uids = new Set(unique.map((m) => m.uid));
    if (uids.size > 0) {
      await this.deps.state.markDeleted(this.target.name, [...uids], this.now());
      this.deleted = uids.size;
    }
    return uids;
  }
}
