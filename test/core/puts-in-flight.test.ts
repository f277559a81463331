/**
 * How many messages a poll has storing at once: as many as the store says it takes
 * (RawStore.putsInFlight; the folder store takes 16), 4 when it does not say (the S3 store), never more.
 * Against the real Dovecot, through a store that holds every finished put until no new put has started
 * for a while: the poll then starts puts up to its limit and waits, so the most seen at once is the limit.
 */
import type { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import type { ObjectKind, RawStore, StoredObject } from '../../functions/core/ports.js';
import type { FolderRawStore } from '../../functions/local/folder-raw-store.js';
import { dovecotFromInjected } from '../support/dovecot.js';
import { type EngineHarness, engineHarness, target } from '../support/engine-harness.js';

const dovecot = dovecotFromInjected();
let harness: EngineHarness | undefined;

afterEach(async () => {
  await harness?.cleanup();
  harness = undefined;
});

/** Long enough that the poll, free to start another put, always does so within it (loopback, tiny messages). */
const QUIET_MS = 1_000;

class HoldingStore implements RawStore {
  readonly putsInFlight?: number;
  readonly #inner: FolderRawStore;
  readonly #held: Array<() => void> = [];
  #timer: NodeJS.Timeout | undefined;
  inFlight = 0;
  mostAtOnce = 0;
  puts = 0;

  constructor(inner: FolderRawStore, putsInFlight: number | undefined) {
    this.#inner = inner;
    if (putsInFlight !== undefined) this.putsInFlight = putsInFlight;
  }

  async put(input: Readable, kind: ObjectKind): Promise<StoredObject> {
    this.puts += 1;
    this.inFlight += 1;
    this.mostAtOnce = Math.max(this.mostAtOnce, this.inFlight);
    this.#rearm();
    try {
      const stored = await this.#inner.put(input, kind);
      await new Promise<void>((resolve) => {
        this.#held.push(resolve);
        this.#rearm();
      });
      return stored;
    } finally {
      this.inFlight -= 1;
    }
  }

  get(key: string): Promise<Readable> {
    return this.#inner.get(key);
  }

  has(key: string): Promise<boolean> {
    return this.#inner.has(key);
  }

  /** Releases every held put once no put has started or finished for QUIET_MS. */
  #rearm(): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      for (const release of this.#held.splice(0)) release();
    }, QUIET_MS);
  }
}

function messages(n: number): Buffer[] {
  return Array.from({ length: n }, (_, i) =>
    Buffer.from(`From: a${i}@example.test\r\nSubject: in flight ${i}\r\n\r\nbody ${i}\r\n`),
  );
}

describe('puts in flight during a poll', () => {
  it('the folder store takes 16 at once, and the poll starts that many, no more', async () => {
    const account = await dovecot.createMailbox(messages(40));
    harness = await engineHarness(dovecot, account);
    expect(harness.store.putsInFlight).toBe(16);
    const store = new HoldingStore(harness.store, harness.store.putsInFlight);

    const result = await harness.poll(target(), {}, { store });

    expect(result).toMatchObject({ status: 'ok', fetched: 40 });
    expect(store.puts).toBe(40);
    expect(store.mostAtOnce).toBe(16);
    const jobs = await harness.state.listDeliveries({ mailbox: 'inbox' });
    expect(new Set(jobs.map((j) => j.uid)).size).toBe(40);
  });

  it('a store that does not say gets 4 at once', async () => {
    const account = await dovecot.createMailbox(messages(12));
    harness = await engineHarness(dovecot, account);
    const store = new HoldingStore(harness.store, undefined);

    const result = await harness.poll(target(), {}, { store });

    expect(result).toMatchObject({ status: 'ok', fetched: 12 });
    expect(store.mostAtOnce).toBe(4);
  });
});
