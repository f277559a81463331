/**
 * A stored message's record and its delivery jobs, written straight into a
 * state store: the starting point of delivery tests that need queued jobs
 * without a poll (and so without Dovecot or a raw object).
 */
import type { DeliveryJob, MessageRecord, StateStore } from '../../functions/core/ports.js';
import { webhookIdFor } from '../../functions/core/webhook-id.js';

export interface SeedOptions {
  readonly mailbox?: string;
  /** Created and due at (epoch ms); claims take the oldest first. Default 1. */
  readonly at?: number;
  /** The record's content hash; default 64 × 'a'. */
  readonly sha256?: string;
}

/** Records message `uid` with one pending job per endpoint, and returns the jobs. */
export async function seedDeliveries(
  state: StateStore,
  uid: string,
  endpointIds: ReadonlyArray<string>,
  { mailbox = 'mb', at = 1, sha256 = 'a'.repeat(64) }: SeedOptions = {},
): Promise<DeliveryJob[]> {
  const rec: MessageRecord = {
    mailbox,
    uid,
    serverUidl: uid,
    sha256,
    rawKey: `raw/${sha256.slice(0, 2)}/${sha256}.eml`,
    size: 10,
    fetchedAt: at,
  };
  const jobs = endpointIds.map(
    (endpointId): DeliveryJob => ({
      webhookId: webhookIdFor(mailbox, uid, endpointId),
      mailbox,
      uid,
      endpointId,
      rawKey: rec.rawKey,
      sha256,
      createdAt: at,
      status: 'pending',
      attempts: 0,
      nextAttemptAt: at,
    }),
  );
  await state.recordMessage(rec, jobs);
  return jobs;
}
