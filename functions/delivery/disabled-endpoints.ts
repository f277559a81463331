/**
 * Which endpoints of a mailbox a 410 Gone has disabled, as a delivery round
 * sees them: read from the state store at most once per mailbox every
 * `maxAgeMs`, not once per delivery. In AWS mode each read was a DynamoDB
 * GetItem per webhook sent; in local mode a SQLite read and a JSON parse of
 * the mailbox's state (≈ 20 µs of the main thread per message in
 * `bench/profile.ts deliver`).
 *
 * Why a stale answer is safe: the list only grows (nothing re-enables an
 * endpoint; a changed URL is a new endpoint id), and this round's own 410s
 * are added to the cache at once. What another process disables in the
 * meantime is seen by the next read: until then its endpoint may get a few
 * more requests, which it answers 410 again, as it would have had they been
 * sent a moment earlier.
 *
 * A disabling is a read-modify-write of the mailbox's state; it reads the
 * state fresh, not from the cache, so it keeps what other processes wrote
 * since, and it writes nothing when the endpoint is already on the list
 * (two requests of one round answered 410 at once).
 */
import type { MailboxState, StateStore } from '../core/ports.js';

type DisabledList = NonNullable<MailboxState['disabledEndpoints']>;

export class DisabledEndpoints {
  readonly #state: Pick<StateStore, 'getMailboxState' | 'updateMailboxState'>;
  readonly #now: () => number;
  readonly #maxAgeMs: number;
  readonly #read = new Map<string, { readonly at: number; readonly ids: Promise<ReadonlySet<string>> }>();

  constructor(
    state: Pick<StateStore, 'getMailboxState' | 'updateMailboxState'>,
    options: { readonly now: () => number; readonly maxAgeMs: number },
  ) {
    this.#state = state;
    this.#now = options.now;
    this.#maxAgeMs = options.maxAgeMs;
  }

  /** Whether `endpointId` is disabled for `mailbox`, as of at most `maxAgeMs` ago. A failed read rejects. */
  async has(mailbox: string, endpointId: string): Promise<boolean> {
    const at = this.#now();
    let entry = this.#read.get(mailbox);
    if (entry === undefined || at - entry.at > this.#maxAgeMs) {
      entry = { at, ids: this.#state.getMailboxState(mailbox).then((state) => idsOf(state?.disabledEndpoints)) };
      this.#read.set(mailbox, entry);
      // A failed read is not kept: the next job of the mailbox reads again.
      entry.ids.catch(() => {
        if (this.#read.get(mailbox) === entry) this.#read.delete(mailbox);
      });
    }
    return (await entry.ids).has(endpointId);
  }

  /** Adds the endpoint to the mailbox's disabled list in the state store, then to this round's view. */
  async disable(mailbox: string, endpoint: { readonly id: string; readonly at: number; readonly reason: string }) {
    const current: DisabledList = (await this.#state.getMailboxState(mailbox))?.disabledEndpoints ?? [];
    const updated = current.some((d) => d.id === endpoint.id) ? current : [...current, endpoint];
    if (updated !== current) await this.#state.updateMailboxState(mailbox, { disabledEndpoints: updated });
    this.#read.set(mailbox, { at: this.#now(), ids: Promise.resolve(idsOf(updated)) });
  }
}

function idsOf(list: DisabledList | undefined): ReadonlySet<string> {
  return new Set((list ?? []).map((d) => d.id));
}
