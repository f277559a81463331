/**
 * The soak's verification pass, computed from ground truth only: the
 * scripted server's maildrop, the store read back (raw object and record), the
 * receivers' own logs and the DELE audit — never from the engine's counters.
 */
import type { RawStore, StateStore } from '../../functions/core/ports.js';
import { webhookIdFor } from '../../functions/core/webhook-id.js';
import type { DeleAudit } from './pop3-faults.js';
import type { ReceivedWebhook } from './webhook-receivers.js';

export interface SoakMessage {
  readonly uidl: string;
  readonly sha256: string;
}

export interface Verdict {
  readonly messages: number;
  /** Neither on the server nor stored with a record whose raw object exists and has the right hash. */
  readonly lost: ReadonlyArray<string>;
  /** DELEs of messages not yet durable in the store. */
  readonly deleBeforeDurable: number;
  /** (message, endpoint) pairs seen under more than one webhook-id, or an id other than the stable one. */
  readonly duplicateIds: number;
  /** (message, normal endpoint) pairs never answered 2xx by the receiver. */
  readonly undelivered: ReadonlyArray<string>;
  /** Requests whose signature the receiver could not verify. */
  readonly badSignatures: number;
  /** Requests the gone endpoint got after its first 410 (only ones already in flight should arrive). */
  readonly afterGone: number;
  /** Retries sooner than a 429's `Retry-After: 1` allowed (100 ms of slack for the gap between signing and arrival). */
  readonly retryAfterIgnored: number;
  /** Requests answered 2xx more than once for the same webhook-id (allowed: at-least-once after a timeout). */
  readonly redelivered: number;
  readonly crashes: number;
}

export async function verifySoak(input: {
  mailbox: string;
  messages: ReadonlyArray<SoakMessage>;
  onServer: ReadonlySet<string>;
  state: StateStore;
  store: RawStore;
  log: ReadonlyArray<ReceivedWebhook>;
  normalEndpoints: ReadonlyArray<string>;
  goneEndpoint: string;
  goneAt: number | undefined;
  audit: DeleAudit;
  crashes: number;
}): Promise<Verdict> {
  const records = new Map<string, { sha256: string; rawKey: string }>();
  const uids = input.messages.map((m) => m.uidl);
  for (let i = 0; i < uids.length; i += 100) {
    for (const [uid, r] of await input.state.getMessages(input.mailbox, uids.slice(i, i + 100))) records.set(uid, r);
  }
  const lost: string[] = [];
  for (const m of input.messages) {
    if (input.onServer.has(m.uidl)) continue;
    const record = records.get(m.uidl);
    if (record === undefined || record.sha256 !== m.sha256 || !(await input.store.has(record.rawKey))) {
      lost.push(m.uidl);
    }
  }

  const byPair = new Map<string, ReceivedWebhook[]>();
  const pairsById = new Map<string, Set<string>>();
  for (const entry of input.log) {
    const pair = `${entry.uid}\0${entry.endpoint}`;
    byPair.set(pair, [...(byPair.get(pair) ?? []), entry]);
    pairsById.set(entry.webhookId, (pairsById.get(entry.webhookId) ?? new Set()).add(pair));
  }
  let duplicateIds = 0;
  let redelivered = 0;
  const undelivered: string[] = [];
  for (const m of input.messages) {
    for (const endpoint of [...input.normalEndpoints, input.goneEndpoint]) {
      const entries = byPair.get(`${m.uidl}\0${endpoint}`) ?? [];
      const ids = new Set(entries.map((e) => e.webhookId));
      const stable = webhookIdFor(input.mailbox, m.uidl, endpoint);
      if (ids.size > 1 || (ids.size === 1 && !ids.has(stable))) duplicateIds += 1;
      const accepted = entries.filter((e) => typeof e.answer === 'number' && e.answer >= 200 && e.answer < 300);
      if (accepted.length > 1) redelivered += accepted.length - 1;
      if (input.normalEndpoints.includes(endpoint) && accepted.length === 0)
        undelivered.push(`${m.uidl} → ${endpoint}`);
    }
  }
  for (const pairs of pairsById.values()) if (pairs.size > 1) duplicateIds += pairs.size - 1;

  let retryAfterIgnored = 0;
  for (const entries of byPair.values()) {
    for (let i = 1; i < entries.length; i += 1) {
      if (entries[i - 1]!.answer === 429 && entries[i]!.at - entries[i - 1]!.at < 900) retryAfterIgnored += 1;
    }
  }
  const afterGone =
    input.goneAt === undefined
      ? 0
      : input.log.filter((e) => e.endpoint === input.goneEndpoint && e.at > input.goneAt!).length;
  return {
    messages: input.messages.length,
    lost,
    deleBeforeDurable: input.audit.early.length,
    duplicateIds,
    undelivered,
    badSignatures: input.log.filter((e) => !e.signatureOk).length,
    afterGone,
    retryAfterIgnored,
    redelivered,
    crashes: input.crashes,
  };
}
