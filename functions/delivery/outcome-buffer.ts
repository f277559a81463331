/**
 * Buffers the delivery engine's outcome writes and flushes them as one
 * `StateStore.updateDeliveries` call every `maxItems` outcomes or `maxDelayMs`
 * after the first buffered one, whichever comes first, and whenever a caller
 * needs them durable (`flush`). On SQLite that is one transaction (one WAL
 * fsync) instead of one per outcome; on DynamoDB the same requests, issued
 * concurrently.
 *
 * Why losing a buffered write is safe (a crash between the POST and the flush):
 * the job was claimed, so its `nextAttemptAt` already lies one visibility
 * timeout ahead and it becomes due again by itself. A lost `delivered` means one
 * more delivery under the same webhook-id (receivers deduplicate on it); a lost
 * `failed` / `attempts + 1` means one extra attempt; nothing is ever lost.
 *
 * Flushes run one after another, in order. A failed flush is kept and rethrown
 * by every later `add` and by `close`, so a run stops sending once its outcomes
 * cannot be recorded, and the caller hears of it.
 */
import type { DeliveryPatch, DeliveryUpdate, StateStore } from '../core/ports.js';

export interface OutcomeBufferOptions {
  /** Flush once this many outcomes are buffered (default 50). */
  readonly maxItems?: number;
  /** Flush this long after the first buffered outcome at the latest (default 50 ms). */
  readonly maxDelayMs?: number;
}

export class OutcomeBuffer {
  readonly #state: StateStore;
  readonly #maxItems: number;
  readonly #maxDelayMs: number;
  #pending: DeliveryUpdate[] = [];
  #timer: NodeJS.Timeout | undefined;
  /** The last flush started: flushes are chained so they land in order. */
  #flushing: Promise<void> = Promise.resolve();
  #failure: { error: unknown } | undefined;

  constructor(state: StateStore, options: OutcomeBufferOptions = {}) {
    this.#state = state;
    this.#maxItems = Math.max(1, Math.trunc(options.maxItems ?? 50));
    this.#maxDelayMs = Math.max(0, options.maxDelayMs ?? 50);
  }

  /** Buffers one outcome; when the buffer is full, waits for its flush (back-pressure on the workers). */
  async add(webhookId: string, patch: DeliveryPatch): Promise<void> {
    this.#throwIfFailed();
    this.#pending.push({ webhookId, patch });
    if (this.#pending.length >= this.#maxItems) {
      await this.flush();
      return;
    }
    // The timer never keeps a process alive on its own: `close` flushes whatever is left.
    this.#timer ??= setTimeout(() => void this.flush().catch(() => {}), this.#maxDelayMs).unref();
  }

  /**
   * Writes everything buffered so far; resolves when it (and every earlier flush) is committed: durable against
   * a crash of the process; SQLite leaves the fsync to its next record commit (sqlite-state-store.ts
   * `updateDeliveries`), since a lost outcome is safe (above).
   */
  flush(): Promise<void> {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    const batch = this.#pending;
    this.#pending = [];
    const previous = this.#flushing;
    this.#flushing = (async () => {
      await previous.catch(() => {});
      if (this.#failure !== undefined || batch.length === 0) return;
      try {
        await this.#state.updateDeliveries(batch);
      } catch (error) {
        this.#failure = { error };
      }
    })();
    return this.#flushing.then(() => this.#throwIfFailed());
  }

  /** The final flush of a run: everything durable, or the first flush error. */
  close(): Promise<void> {
    return this.flush();
  }

  #throwIfFailed(): void {
    if (this.#failure !== undefined) throw this.#failure.error;
  }
}
