/**
 * Whether a poll has anything to do, decided from the stored state and what
 * the server said to `STAT` and `UIDL <count>` — before the poll takes the
 * lease or writes anything. An idle poll (the common case: no new mail) reads
 * the state once, asks the server two short questions, QUITs and writes
 * nothing (docs/cost-model.md, "What would meet the target", item 3).
 *
 * Anything the poll would write state for is work: new or changed messages,
 * messages waiting for DELE, retention, the periodic full listing, a failure
 * to clear, the daily status refresh. The lease holder checks again before it
 * acts, with a fresh read (`getMailboxState`): the first check raced nobody's
 * writes, but only the lease holder may act on it.
 */
import type { MailboxState } from '../ports.js';

/** What the server said at the start of the session. */
export interface ServerCheck {
  readonly count: number;
  readonly size: number;
  /** UIDL of message `count`; undefined when the mailbox is empty or the server has no UIDL. */
  readonly lastUidl: string | undefined;
  /** The server has no UIDL (RFC 1939 §7 makes it optional): identities come from header hashes. */
  readonly noUidl: boolean;
  /** Leave mode with retention: a recorded message is older than the retention period. */
  readonly retentionDue: boolean;
}

export type PendingWork =
  | 'first poll'
  | 'clear failure'
  | 'status refresh'
  | 'messages on the server'
  | 'no UIDL'
  | 'retention'
  | 'full sync'
  | 'no cursor'
  | 'mailbox changed';

export interface PendingWorkInput {
  readonly mode: 'leave' | 'delete';
  readonly state: MailboxState | undefined;
  readonly check: ServerCheck;
  readonly now: number;
  /** How often a full UIDL listing runs anyway (leave mode), and how stale `lastOkAt` may get. */
  readonly fullSyncIntervalMs: number;
}

/** The first reason the poll must take the lease, or undefined when it is idle and may QUIT without writing. */
export function pendingWork({
  mode,
  state,
  check,
  now,
  fullSyncIntervalMs,
}: PendingWorkInput): PendingWork | undefined {
  if (state === undefined) return 'first poll';
  // A success writes failing: false, consecutiveFailures: 0, nextPollAfter: 0: until then the mailbox shows failing.
  if (state.failing === true || (state.consecutiveFailures ?? 0) > 0 || (state.nextPollAfter ?? 0) > 0) {
    return 'clear failure';
  }
  // lastOkAt is written by polls that hold the lease; once a day one does so for an idle mailbox too, so
  // `status` and the state table never show a healthy mailbox as unpolled for longer (3 writes a day).
  if (state.lastOkAt === undefined || now - state.lastOkAt >= fullSyncIntervalMs) return 'status refresh';
  if (mode === 'delete') {
    // Anything still on the server is new or recorded and waiting for DELE (a session that died before QUIT,
    // or delete-after-delivered): both need the lease.
    return check.count === 0 ? undefined : 'messages on the server';
  }
  if (check.noUidl) return 'no UIDL';
  if (check.retentionDue) return 'retention';
  if (state.lastFullSyncAt === undefined || now - state.lastFullSyncAt >= fullSyncIntervalMs) return 'full sync';
  const cursor = state.cursor;
  if (cursor === undefined || cursor.count < 0) return 'no cursor';
  if (cursor.count !== check.count || cursor.size !== check.size || cursor.lastUidl !== check.lastUidl) {
    return 'mailbox changed';
  }
  return undefined;
}

/**
 * True when two reads of a mailbox's state are the same. The poll compares what it decided from with what it
 * reads under the lease: a difference means another poll wrote in between, and that poll's QUIT may have
 * removed messages the session opened before it still lists.
 */
export function sameMailboxState(a: MailboxState | undefined, b: MailboxState | undefined): boolean {
  return stableJson(a) === stableJson(b);
}

/** JSON with object keys sorted: DynamoDB does not promise attribute order. */
function stableJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)),
        )
      : v,
  );
}
