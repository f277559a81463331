/**
 * One poll of one mailbox: the bridge's promises live here.
 *
 * 1. Read the state and whether the lease is held (one read, no write): skip
 *    if the mailbox is backing off, return `busy` if another poll holds it.
 * 2. Connect and log in, STAT + `UIDL n` against the cursor of the last poll.
 *    Nothing to do (`pending-work.ts`): QUIT and write nothing — the idle poll.
 *    Otherwise take the lease (or return `busy`), read the state again and
 *    decide again under it, in a new session if another poll wrote meanwhile;
 *    then learn what is new at a cost that does not grow with the mailbox:
 *    `UIDL n` of the appended messages only (incremental), or a full UIDL
 *    listing compared with the known-uid snapshot (first poll, periodically,
 *    delete mode, retention, or when the cheap check does not add up).
 * 3. For each new message, oldest first: RETR streamed into the raw store
 *    (SHA-256 on the way), then the record and its delivery jobs in one
 *    durable, conditional write, then — in delete mode — DELE.
 * 4. DELE what is recorded but still on the server (a session that died
 *    before QUIT) and, in leave mode, what is past its retention.
 * 5. QUIT and check its reply; only then are deletions marked. Record the
 *    outcome (success, or the failure and its back-off) under the lease.
 *
 * Any failure before QUIT leaves every message either on the server (no
 * QUIT, so no DELE took effect — RFC 1939 §6) or stored and recorded.
 */
import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { Pop3Client } from '../../pop3/client.js';
import { type BridgeError, isBridgeError, toBridgeError } from '../errors.js';
import { type Logger, silentLogger } from '../logger.js';
import type { DeliveryJob, MailboxState, MessageRecord, RawStore, StateStore } from '../ports.js';
import { webhookIdFor } from '../webhook-id.js';
import { type BackoffPolicy, decideBackoff } from './backoff.js';
import { identitiesFromHeaders, identitiesFromUidl, type ServerMessage } from './identity.js';
import { pendingWork, type ServerCheck, sameMailboxState } from './pending-work.js';
import { compareHeaderSections, readListedHeaders, readStoredHeaders } from './same-message.js';

const DAY_MS = 86_400_000;
/**
 * Puts running at once when the store does not say (RawStore.putsInFlight). The S3 store does not: a put of
 * up to 1 MiB holds its bytes until S3 answers and a larger one holds a part buffer, so this bounds the
 * poll's memory there.
 */
const DEFAULT_PUTS_IN_FLIGHT = 4;

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
  /** Uids whose records this poll wrote with `deleSentAt` already: no separate write before their DELE. */
  private readonly deleMarked = new Set<string>();
  /** Listed messages whose DELE an earlier session sent without seeing QUIT succeed, found still there. */
  private readonly deleUnfinished = new Set<string>();
  /**
   * Records whose UIDL is listed but whose message could not be compared with the stored one (`same-message.ts`):
   * the listed message is fetched as new, and the record is neither DELEted nor taken for gone.
   */
  private readonly unverified = new Set<string>();
  /** Listed messages whose comparison the deadline left for the next poll: this one neither takes nor DELEs them. */
  private deferred = 0;
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
    const name = this.target.name;
    const startedAt = this.now();
    // One read, no write: an idle poll costs this and two short POP3 replies, nothing more.
    const peek = await this.deps.state.peekMailbox(name, startedAt);
    const prior = peek.state;
    if (!this.options.force && prior?.nextPollAfter !== undefined && prior.nextPollAfter > startedAt) {
      return this.result('deferred', { nextPollAfter: prior.nextPollAfter });
    }
    if (peek.leaseHeld) {
      this.log.info('poll skipped: another poll holds the lease');
      return this.result('busy');
    }
    let check: ServerCheck;
    try {
      check = await this.connectAndCheck();
      const work = this.pendingWork(prior, check);
      if (work === undefined) {
        await this.quit(this.client!, []);
        this.log.info('poll finished', { path: 'idle', fetched: 0, bytes: 0, deleted: 0, remaining: 0 });
        return this.result('ok', { path: 'idle' });
      }
      this.log.debug('poll has work: taking the lease', { work });
    } catch (caught) {
      return this.failWithoutLease(caught);
    }
    return this.runUnderLease(prior, check);
  }

  /** The lease holder's part: check again with a fresh read, fetch and delete, record the outcome. */
  private async runUnderLease(prior: MailboxState | undefined, firstCheck: ServerCheck): Promise<PollResult> {
    const { state } = this.deps;
    const name = this.target.name;
    const owner = randomUUID();
    // A short lease, renewed while the poll runs: a poll that crashes (SIGKILL, Lambda timeout) blocks
    // the mailbox for at most one TTL, yet a long poll never loses its lease to a second poller.
    const ttl = this.options.leaseTtlMs ?? 60_000;
    let acquired = false;
    try {
      acquired = await state.acquireLease(name, owner, ttl, this.now());
    } finally {
      // Not ours (or the store failed): the session changed nothing (no DELE sent), so it can just go.
      if (!acquired) {
        this.client?.close();
        this.client = undefined;
      }
    }
    if (!acquired) {
      // Another poll took it since our peek: it does the work.
      this.log.info('poll skipped: another poll took the lease');
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
    let current = prior;
    try {
      current = await state.getMailboxState(name);
      let check = firstCheck;
      if (!sameMailboxState(prior, current)) {
        // Another poll wrote since our peek, so it may have QUIT with DELEs after our session began, and a
        // POP3 session keeps the maildrop as it was at login (RFC 1939 §6 removes messages only at QUIT,
        // most servers never show another session's changes). A new session sees what that poll left.
        this.log.debug('state changed since the peek: opening a new session');
        await this.quit(this.client!, []);
        check = await this.connectAndCheck();
      }
      if (this.pendingWork(current, check) === undefined) {
        // The poll that wrote in between did the work.
        await this.quit(this.client!, []);
        this.log.info('poll finished', { path: 'idle', fetched: 0, bytes: 0, deleted: 0, remaining: 0 });
        return this.result('ok', { path: 'idle' });
      }
      const path = await this.poll(current, check);
      const okAt = this.now();
      await state.updateMailboxState(name, {
        lastPollAt: okAt,
        lastOkAt: okAt,
        failing: false,
        consecutiveFailures: 0,
        nextPollAfter: 0,
        storedCount: (current?.storedCount ?? 0) + this.fetched,
        storedBytes: (current?.storedBytes ?? 0) + this.bytes,
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
      return await this.recordFailure(caught, current);
    } finally {
      clearInterval(heartbeat);
      await state.releaseLease(name, owner);
    }
  }

  /**
   * A failure before the lease (connect, login, STAT, the check): it is recorded like any other, so back-off
   * and the failing mark work as before — under the lease, since only the lease holder writes the state.
   */
  private async failWithoutLease(caught: unknown): Promise<PollResult> {
    const { state } = this.deps;
    const name = this.target.name;
    this.client?.close();
    this.client = undefined;
    const owner = randomUUID();
    if (!(await state.acquireLease(name, owner, this.options.leaseTtlMs ?? 60_000, this.now()))) {
      // Another poll holds the mailbox now (the likely cause, with servers that lock the maildrop: [IN-USE]);
      // it records its own outcome.
      this.log.info('poll failed while another poll holds the lease: that poll records the outcome', {
        code: isBridgeError(caught) ? caught.code : 'POLL_ERR_INTERNAL',
      });
      return this.result('busy');
    }
    try {
      return await this.recordFailure(caught, await state.getMailboxState(name));
    } finally {
      await state.releaseLease(name, owner);
    }
  }

  /** Records a failed poll with its back-off; the caller holds the lease. */
  private async recordFailure(caught: unknown, current: MailboxState | undefined): Promise<PollResult> {
    const error = toBridgeError(caught, 'POLL_ERR_INTERNAL');
    this.client?.close();
    this.client = undefined;
    const failures = (current?.consecutiveFailures ?? 0) + 1;
    const at = this.now();
    const decision = decideBackoff(error, failures, at, this.deps.backoff);
    await this.deps.state.updateMailboxState(this.target.name, {
      lastPollAt: at,
      lastError: { code: error.code, message: error.message, at },
      consecutiveFailures: failures,
      nextPollAfter: decision.nextPollAfter,
      failing: decision.failing,
      storedCount: (current?.storedCount ?? 0) + this.fetched,
      storedBytes: (current?.storedBytes ?? 0) + this.bytes,
    });
    this.log.warn('poll failed', { error, failing: decision.failing, nextPollAfter: decision.nextPollAfter });
    return this.result('error', { error, nextPollAfter: decision.nextPollAfter });
  }

  private pendingWork(state: MailboxState | undefined, check: ServerCheck) {
    return pendingWork({
      mode: this.target.mode,
      state,
      check,
      now: this.now(),
      fullSyncIntervalMs: this.deps.fullSyncIntervalMs ?? DAY_MS,
    });
  }

  /** Connect, log in, STAT and `UIDL <count>`, and (leave mode with retention) whether retention is due. */
  private async connectAndCheck(): Promise<ServerCheck> {
    // Not given options.signal: that one means "stop taking new messages", not "cut the session".
    const client = await this.deps.openSession();
    this.client = client;
    await this.probe('connected');
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
    const retentionDue =
      this.target.mode === 'leave' && this.target.retentionDays !== undefined
        ? (await this.deps.state.listRetentionDue(this.target.name, this.retentionCutoff(), 1)).length > 0
        : false;
    return { count: stat.count, size: stat.size, lastUidl, noUidl, retentionDue };
  }

  private retentionCutoff(): number {
    return this.now() - (this.target.retentionDays ?? 0) * DAY_MS;
  }

  private async probe(point: Parameters<NonNullable<PollDeps['probe']>>[0], info: { uid?: string; msg?: number } = {}) {
    await this.deps.probe?.(point, info);
  }

  private async poll(prior: MailboxState | undefined, check: ServerCheck): Promise<PollPath> {
    const { state } = this.deps;
    const name = this.target.name;
    const client = this.client!;
    const retentionDue =
      this.target.mode === 'leave' && this.target.retentionDays !== undefined
        ? await state.listRetentionDue(name, this.retentionCutoff(), 1000)
        : [];
    const listed = await this.list(client, prior, check, retentionDue.length > 0);
    await this.probe('listed');
    if (listed.path === 'idle') {
      await this.quit(client, []);
      return 'idle';
    }

    const known = await state.getKnownUids(name);
    // A message appended since the last poll whose UIDL we already know: the server gave two messages one UIDL
    // (a bug seen after mailbox repairs). Only a full listing shows both, so each gets an identity of its own
    // (identity.ts); the incremental one took the new message for the known one and skipped it for a day.
    const complete =
      listed.path === 'incremental' && listed.messages.some((m) => known.has(m.uid))
        ? await this.list(client, prior, check, retentionDue.length > 0, true)
        : listed;
    const first = await state.getMessages(
      name,
      complete.messages.filter((m) => !known.has(m.uid)).map((m) => m.uid),
    );
    const listing = await this.reidentifyReusedUidls(client, complete, first);
    const onServer = new Set(listing.messages.map((m) => m.uid));
    const candidates = listing.messages.filter((m) => !known.has(m.uid));
    // `first` holds the records of these very uids unless some were renamed just now.
    const existing =
      listing === complete
        ? first
        : await state.getMessages(
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
    // Only when something is fetched: it walks the whole known set (100,000 uids on a large leave-mode mailbox).
    const shifting = fresh.length === 0 ? new Set<string>() : shiftingUidls(listing, known);
    await this.fetchNew(client, fresh, onServer, resetSuspected, shifting, recordedNow, toDelete);

    // Recorded but still on the server: a session that died before QUIT, or delete-after-delivered.
    if (this.target.mode === 'delete' && listing.complete) {
      const already = listing.messages.filter(
        (m) => (known.has(m.uid) || existing.has(m.uid)) && !recordedNow.has(m.uid),
      );
      for (const m of already) {
        if (await this.mayDelete(m.uid)) toDelete.push(m);
      }
    }
    // Leave mode DELEs for retention (listed again below while due) and for the size limit's `delete` action,
    // decided when the message was stored and never again: a DELE an earlier session sent, whose QUIT was lost,
    // is sent again here, or the over-size message stayed on the server for good.
    if (this.target.mode === 'leave' && listing.complete) {
      for (const m of listing.messages) if (this.deleUnfinished.has(m.uid)) toDelete.push(m);
    }
    if (retentionDue.length > 0 && listing.complete) {
      const byUid = new Map(listing.messages.map((m) => [m.uid, m]));
      const gone: string[] = [];
      for (const record of retentionDue) {
        const m = byUid.get(record.uid);
        if (m) toDelete.push(m);
        else if (!this.unverified.has(record.uid)) gone.push(record.uid);
      }
      // Already gone from the server (deleted by another client): nothing to DELE, just remember it.
      if (gone.length > 0) await state.markDeleted(name, gone, this.now());
    }

    const deletedUids = await this.quit(client, toDelete, known);
    const nextKnown = new Set<string>();
    for (const m of listing.messages) {
      if ((known.has(m.uid) || existing.has(m.uid) || recordedNow.has(m.uid)) && !deletedUids.has(m.uid)) {
        nextKnown.add(m.uid);
      }
    }
    if (!listing.complete) for (const uid of known) nextKnown.add(uid);
    await state.putKnownUids(name, nextKnown);

    const allDone = this.remaining === 0 && this.deferred === 0 && deletedUids.size === 0;
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
   * A listed UIDL whose record says we deleted it (DELE, then QUIT's +OK) names another message: RFC 1939 §7
   * forbids reusing a UIDL only while the old message exists, and servers that derive UIDLs from the content
   * or restart their numbering do reuse them. Taken for the old message, it was DELEted in delete mode without
   * ever being fetched, and never fetched in leave mode. It gets the identity duplicate UIDLs get (the UIDL and
   * a hash of its headers, one `TOP n 0`), so it is fetched, stored and delivered as the new message it is; on
   * later polls the same hash finds its record. A server that answered QUIT with +OK but kept the message
   * makes it come back the same way: stored and delivered once more (another webhook-id), never lost.
   *
   * A record whose DELE was sent but whose QUIT was never seen to succeed (`deleSentAt`, a crash or a dropped
   * reply in between) says nothing either way: the listed message is compared with the stored one
   * (same-message.ts). The same: its DELE simply did not happen, and it is DELEted now. Another: the record is
   * marked deleted and the new message taken as new, as above. Not comparable: taken as new as well, and
   * matched by content once stored (`shiftingUidls` sees its `#h:` identity), so it is delivered once either way.
   */
  private async reidentifyReusedUidls(
    client: Pop3Client,
    complete: Listing,
    records: ReadonlyMap<string, MessageRecord>,
  ): Promise<Listing> {
    let listing = complete;
    const byUidl = listing.messages.filter((m) => m.serverUidl !== undefined && m.uid === m.serverUidl);
    const reused = byUidl.filter((m) => records.get(m.uid)?.deletedAt !== undefined);
    // DELE sent, QUIT not seen to succeed: the message may still be there, or its UIDL may now name another.
    const unsure = byUidl.filter((m) => {
      const record = records.get(m.uid);
      return record !== undefined && record.deletedAt === undefined && record.deleSentAt !== undefined;
    });
    if (reused.length === 0 && unsure.length === 0) return listing;
    const renamed = new Map<number, ServerMessage>();
    for (const m of reused) {
      // readListedHeaders, not headerHash: the same hash, and a fixed one where the server refuses TOP (RFC 1939
      // makes it optional), which failed this poll and every later one.
      renamed.set(m.msg, { ...m, uid: `${m.serverUidl}#h:${(await readListedHeaders(client, m.msg)).hash}` });
    }
    const gone: string[] = [];
    const deferred = new Set<number>();
    for (const [i, m] of unsure.entries()) {
      // One TOP and one stored read each, in turn: after an interrupted poll that stored thousands of messages,
      // the comparisons alone could outlast the invocation, which then never reached QUIT, poll after poll. Past
      // the deadline (after one, so every poll gets on) the rest wait for the next poll, left out of this one.
      if (deferred.size > 0 || (i > 0 && !this.budgetLeft())) {
        deferred.add(m.msg);
        this.unverified.add(m.uid);
        continue;
      }
      const listed = await readListedHeaders(client, m.msg);
      const stored = await readStoredHeaders(this.deps.store, records.get(m.uid)!.rawKey);
      const verdict = compareHeaderSections(listed.section, stored);
      if (verdict === 'same') {
        // Its DELE never took effect: still the message we stored, and its record says a DELE is under way.
        this.deleMarked.add(m.uid);
        this.deleUnfinished.add(m.uid);
        continue;
      }
      renamed.set(m.msg, { ...m, uid: `${m.serverUidl}#h:${listed.hash}` });
      // A different message holds the UIDL, and a UIDL names one message at a time: the stored one is gone.
      if (verdict === 'different') gone.push(m.uid);
      else this.unverified.add(m.uid);
    }
    if (gone.length > 0) await this.deps.state.markDeleted(this.target.name, gone, this.now());
    if (deferred.size > 0) {
      this.deferred = deferred.size;
      this.log.info('deadline reached: comparing the rest of the listed messages on the next poll', {
        deferred: deferred.size,
      });
      listing = { ...listing, messages: listing.messages.filter((m) => !deferred.has(m.msg)) };
    }
    if (renamed.size === 0) return listing;
    this.log.warn('UIDLs of deleted messages listed again: taken as new messages', {
      count: renamed.size,
      uids: [...renamed.values()].slice(0, 20).map((m) => m.serverUidl),
      ...(this.unverified.size > 0 && { notCompared: this.unverified.size }),
    });
    return { ...listing, messages: listing.messages.map((m) => renamed.get(m.msg) ?? m) };
  }

  /**
   * A UIDL reset (server migration, maildir rebuilt): a mailbox we knew well
   * where most known UIDLs are gone and most UIDLs on the server are unknown.
   * With fewer than 10 known UIDLs "most" says little (one message deleted
   * elsewhere is a third of three), so a small mailbox counts only when every
   * known UIDL is gone and every UIDL on the server is new. A false suspicion
   * costs one content-hash lookup per new message, and only the same raw
   * content under a vanished UIDL is taken for the same message.
   */
  private looksLikeUidlReset(known: ReadonlySet<string>, onServer: ReadonlySet<string>, unknown: number): boolean {
    if (this.target.mode !== 'leave' || known.size === 0 || unknown === 0) return false;
    let stillThere = 0;
    for (const uid of known) if (onServer.has(uid)) stillThere += 1;
    if (known.size < 10) return stillThere === 0 && unknown === onServer.size;
    return stillThere < known.size / 2 && unknown > onServer.size / 2;
  }

  private async list(
    client: Pop3Client,
    prior: MailboxState | undefined,
    check: ServerCheck,
    retentionDue: boolean,
    forceFull = false,
  ): Promise<Listing> {
    const base = { count: check.count, size: check.size, lastUidl: check.lastUidl };
    if (this.target.mode === 'delete' && check.count === 0) {
      return { ...base, path: 'idle', complete: true, messages: [] };
    }
    if (check.noUidl) {
      return { ...base, path: 'full', complete: true, messages: await identitiesFromHeaders(client, check.count) };
    }
    const cursor = prior?.cursor;
    const fullDue =
      prior?.lastFullSyncAt === undefined ||
      this.now() - prior.lastFullSyncAt >= (this.deps.fullSyncIntervalMs ?? DAY_MS);
    if (this.target.mode === 'leave' && !forceFull && !fullDue && !retentionDue && cursor && cursor.count >= 0) {
      if (cursor.count === check.count && cursor.size === check.size && cursor.lastUidl === check.lastUidl) {
        return { ...base, path: 'idle', complete: true, messages: [] };
      }
      if (check.count > cursor.count && cursor.count > 0) {
        // Appended only? Then message `cursor.count` still has the UIDL it had.
        const probe = await client.uidlOne(cursor.count);
        if (probe.uidl === cursor.lastUidl) {
          const ns = Array.from({ length: check.count - cursor.count }, (_, i) => cursor.count + 1 + i);
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
    shifting: ReadonlySet<string>,
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
      const mayBeKnown = resetSuspected || (m.serverUidl !== undefined && shifting.has(m.serverUidl));
      if (mayBeKnown && (await this.matchedByContent(m, stored.sha256, onServer, resetSuspected))) {
        recordedNow.add(m.uid);
        return;
      }
      // DELEted right after storing: the record says so from the start, which spares a write before the DELE.
      const deleAtOnce = dele && !this.target.deleteAfterDelivered;
      const record: MessageRecord = {
        mailbox: this.target.name,
        uid: m.uid,
        serverUidl: m.serverUidl,
        sha256: stored.sha256,
        rawKey: stored.key,
        size: stored.size,
        fetchedAt: this.now(),
        ...(headersOnly && { headersOnly: true }),
        ...(deleAtOnce && { deleSentAt: this.now() }),
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
        if (record.deleSentAt !== undefined) this.deleMarked.add(m.uid);
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

    let oversizeDone = 0;
    for (const m of oversize) {
      if (!this.budgetLeft()) break;
      oversizeDone += 1;
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
      // Messages finish storing and recording while the next body is already streaming in (as many as the
      // store takes, RawStore.putsInFlight): each still goes store → record → (DELE at the end) on its own,
      // so crash safety is unchanged.
      { shouldContinue: () => this.budgetLeft(), overlap: this.deps.store.putsInFlight ?? DEFAULT_PUTS_IN_FLIGHT },
    );
    // Both loops stop when the budget runs out; what they left is remaining, so the cursor is not saved past it
    // (an over-size message left by the first loop was missed until the next full listing, a day later).
    this.remaining += oversize.length - oversizeDone + normal.length - consumed;
  }

  /**
   * After a UIDL reset, or when a duplicated UIDL shifted identities: the same content recorded under an
   * identity no longer on the server is the same message. Its record (and deliveries, webhook-ids unchanged)
   * moves to the new identity, and nothing is delivered again.
   */
  private async matchedByContent(
    m: ServerMessage,
    sha256: string,
    onServer: ReadonlySet<string>,
    afterReset: boolean,
  ): Promise<boolean> {
    const matches = await this.deps.state.findMessagesBySha256(this.target.name, [sha256]);
    const previous = matches.find((r) => !onServer.has(r.uid) && r.deletedAt === undefined);
    if (!previous) return false;
    await this.deps.state.renameMessage(this.target.name, previous.uid, m.uid, m.serverUidl);
    if (afterReset) {
      this.uidlReset = {
        matchedByHash: (this.uidlReset?.matchedByHash ?? 0) + 1,
        unknown: Math.max(0, (this.uidlReset?.unknown ?? 1) - 1),
      };
    }
    this.log.info(
      afterReset
        ? 'message matched by content hash after UIDL reset: not delivered again'
        : 'message matched by content hash after its duplicated UIDL shifted: not delivered again',
      { uid: m.uid, previousUid: previous.uid },
    );
    return true;
  }

  /**
   * deleteAfterDelivered: every job of the message has ended delivered (or disabled). The jobs of the
   * configured endpoints are read by key, consistently: DynamoDB's listing by message is a secondary index,
   * which lags its writes, and right after the record was written it often showed no jobs at all — and
   * "every job of none is delivered" DELEted the message while its webhooks were still pending. The listing
   * still counts for the jobs of endpoints no longer configured. A configured endpoint without a job (added
   * after the message was stored) has nothing to wait for.
   */
  private async mayDelete(uid: string): Promise<boolean> {
    if (!this.target.deleteAfterDelivered) return true;
    const ended = (job: DeliveryJob | undefined) =>
      job === undefined || job.status === 'delivered' || job.status === 'disabled';
    const { state } = this.deps;
    const name = this.target.name;
    const byKey = await Promise.all(
      this.target.endpointIds.map((endpointId) => state.getDelivery(webhookIdFor(name, uid, endpointId))),
    );
    if (!byKey.every(ended)) return false;
    return (await state.listDeliveries({ mailbox: name, uid })).every(ended);
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

  /**
   * DELE (pipelined), QUIT, and only after QUIT's +OK mark the deletions. Returns the uids deleted.
   *
   * Before the first DELE, every record to be deleted says so (`deleSentAt`), and the known-uid snapshot
   * forgets them: if QUIT's +OK is lost to a crash or a dropped connection, the next poll cannot tell from
   * the UIDLs whether the messages went, so it reads their records and compares any listed again with the
   * stored message (`reidentifyReusedUidls`) instead of DELEting a new message that took a UIDL over.
   */
  private async quit(
    client: Pop3Client,
    toDelete: ReadonlyArray<ServerMessage>,
    known: ReadonlySet<string> = new Set(),
  ): Promise<Set<string>> {
    const unique = [...new Map(toDelete.map((m) => [m.msg, m])).values()];
    if (unique.length > 0) {
      const { state } = this.deps;
      const name = this.target.name;
      const unmarked = unique.filter((m) => !this.deleMarked.has(m.uid)).map((m) => m.uid);
      if (unmarked.length > 0) await state.markDeleSent(name, unmarked, this.now());
      if (unique.some((m) => known.has(m.uid))) {
        const rest = new Set(known);
        for (const m of unique) rest.delete(m.uid);
        await state.putKnownUids(name, rest);
      }
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

/**
 * UIDLs whose messages may be recorded under another identity than the one they have now: duplicated in this
 * listing (each copy is `UIDL#h:<headers hash>`, while a copy stored before its twin appeared is recorded as
 * the bare UIDL), or duplicated before (`UIDL#h:…` in the known set) and listed once now (the twin is gone, and
 * the one left is the bare UIDL again). Such a message is matched by its content after it is stored, as after
 * a UIDL reset, instead of being delivered a second time.
 */
function shiftingUidls(listing: Listing, known: ReadonlySet<string>): ReadonlySet<string> {
  const shifting = new Set<string>();
  for (const m of listing.messages) {
    if (m.serverUidl !== undefined && m.uid.startsWith(`${m.serverUidl}#h:`)) shifting.add(m.serverUidl);
  }
  for (const uid of known) {
    const at = uid.indexOf('#h:');
    if (at > 0) shifting.add(uid.slice(0, at));
  }
  return shifting;
}
