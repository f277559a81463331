/**
 * Wraps a real `StateStore` (SQLite or DynamoDB) and records every port call
 * by method name, so a test can assert what a poll read and wrote — e.g. that
 * an idle poll writes nothing. An optional `before` hook runs ahead of each
 * call and may delay it (to force an interleaving of two pollers).
 */
import type { StateStore } from '../../functions/core/ports.js';

/** The port methods that change stored state: leases count (on DynamoDB each is a billed write). */
export const WRITE_METHODS: ReadonlySet<keyof StateStore> = new Set<keyof StateStore>([
  'acquireLease',
  'releaseLease',
  'updateMailboxState',
  'putKnownUids',
  'recordMessage',
  'renameMessage',
  'markDeleted',
  'markDeleSent',
  'claimDueDeliveries',
  'updateDelivery',
  'updateDeliveries',
]);

export interface CountingStateStore {
  readonly store: StateStore;
  /** Every call so far, in order. */
  readonly calls: Array<keyof StateStore>;
  /** The calls since the last `reset()` that wrote. */
  writes(): Array<keyof StateStore>;
  reset(): void;
}

export function countingStateStore(
  inner: StateStore,
  before?: (method: keyof StateStore, args: unknown[]) => Promise<void> | void,
): CountingStateStore {
  const calls: Array<keyof StateStore> = [];
  const store = new Proxy(inner, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (typeof value !== 'function' || property === 'close') return value;
      const method = property as keyof StateStore;
      return async (...args: unknown[]) => {
        calls.push(method);
        await before?.(method, args);
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return {
    store,
    calls,
    writes: () => calls.filter((method) => WRITE_METHODS.has(method)),
    reset: () => {
      calls.length = 0;
    },
  };
}
