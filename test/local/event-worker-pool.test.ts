/**
 * Local mode's event-builder worker threads: real workers (started through tsx,
 * as the sources are TypeScript), a real folder store, the local link signer.
 * An event from a worker must be byte for byte the one the main thread builds.
 */

import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isBridgeError } from '../../functions/core/errors.js';
import { builtEventOf } from '../../functions/delivery/event-source.js';
import { buildEventBody } from '../../functions/events/build-event.js';
import { EventWorkerPool, pooledEventSource } from '../../functions/local/event-worker-pool.js';
import { localLinkSigner } from '../../functions/local/link-server.js';
import { SqliteStateStore } from '../../functions/local/sqlite-state-store.js';
import { type EventHarness, eventHarness, FIXED_NOW } from '../events/support.js';
import { bigMessage, fixtures } from '../support/fixtures.js';

const LINKS = { baseUrl: 'http://127.0.0.1:8025', key: Buffer.alloc(32, 9), ttlSeconds: 3600 };

let h: EventHarness;
let pool: EventWorkerPool | undefined;

beforeEach(async () => {
  h = await eventHarness();
});
afterEach(async () => {
  await pool?.close();
  pool = undefined;
  await h.cleanup();
});

/** The same build on the main thread, with the same signer and store. */
async function inProcess(input: Awaited<ReturnType<EventHarness['storeRaw']>>, inlineMaxBytes = 0) {
  // Links carry an expiry from the wall clock (seconds): both builds must run in the same second.
  return builtEventOf(
    await buildEventBody(input, {
      store: h.store,
      links: localLinkSigner(LINKS),
      now: () => FIXED_NOW,
      inlineMaxBytes,
    }),
  );
}

/** A built body as text (builtEventOf hands UTF-8 bytes, a worker the string). */
const text = (body: string | Uint8Array): string =>
  typeof body === 'string' ? body : Buffer.from(body).toString('utf8');
const withoutExpiry = (body: string | Uint8Array) =>
  text(body)
    .replace(/exp=\d+/g, 'exp=X')
    .replace(/sig=[\w-]+/g, 'sig=X');

describe('EventWorkerPool', () => {
  it('builds, for every fixture, the body and filter fields the main thread builds', async () => {
    pool = new EventWorkerPool({ storeDir: h.dir, links: LINKS, workers: 1 });
    for (const f of fixtures()) {
      const input = await h.storeRaw(f.bytes);
      const [fromWorker, local] = await Promise.all([pool.build({ input, storedAt: FIXED_NOW }), inProcess(input)]);
      expect(withoutExpiry(fromWorker.body), f.name).toBe(withoutExpiry(local.body));
      expect(fromWorker.filterSubject, f.name).toEqual(local.filterSubject);
      // The signature covers the expiry; where both fell in the same second the links are identical.
      if (text(fromWorker.body).match(/exp=\d+/)?.[0] === text(local.body).match(/exp=\d+/)?.[0]) {
        expect(text(fromWorker.body)).toBe(text(local.body));
      }
    }
  });

  it('stores attachments in the shared store and inlines small ones when configured', async () => {
    pool = new EventWorkerPool({ storeDir: h.dir, links: LINKS, workers: 1, inlineMaxBytes: 64 * 1024 });
    const input = await h.storeRaw(fixtures().find((f) => f.name === 'attachment-pdf')!.bytes);
    const built = await pool.build({ input, storedAt: FIXED_NOW });
    const event = JSON.parse(text(built.body)) as {
      data: { attachments: Array<{ sha256: string; content?: string }> };
    };
    expect(event.data.attachments).toHaveLength(1);
    expect(event.data.attachments[0]!.content).toBeTypeOf('string');
    expect(await h.listObjects('att')).toEqual([
      `att/${event.data.attachments[0]!.sha256.slice(0, 2)}/${event.data.attachments[0]!.sha256}.bin`,
    ]);
  });

  it('runs many builds through a bounded pool and answers each with its own event', async () => {
    pool = new EventWorkerPool({ storeDir: h.dir, links: LINKS, workers: 2, perWorker: 2 });
    const inputs = [];
    for (const f of fixtures()) inputs.push(await h.storeRaw(f.bytes, `uid-${f.name}`));
    const built = await Promise.all(inputs.map((input) => pool!.build({ input, storedAt: FIXED_NOW })));
    expect(pool.workers).toBeLessThanOrEqual(2);
    for (const [i, b] of built.entries()) {
      expect((JSON.parse(text(b.body)) as { data: { uid: string } }).data.uid).toBe(inputs[i]!.uid);
    }
  });

  it('keeps the error code of a store failure (a raw object that is gone)', async () => {
    pool = new EventWorkerPool({ storeDir: h.dir, links: LINKS, workers: 1 });
    const input = { mailbox: 'inbox', uid: 'u1', rawKey: `raw/ab/${'ab'.repeat(32)}.eml`, rawSha256: 'ab', rawSize: 1 };
    const error = await pool.build({ input, storedAt: FIXED_NOW }).catch((e: unknown) => e);
    expect(isBridgeError(error, 'STORE_ERR_NOT_FOUND')).toBe(true);
  });

  it('a worker that does not answer in time is terminated: its request fails retryably, and it starts afresh', async () => {
    pool = new EventWorkerPool({ storeDir: h.dir, links: LINKS, workers: 1, watchdogMs: 5 });
    // Several MB of MIME take far longer than 5 ms to parse (and the worker's first start longer still).
    const big = await h.storeRaw(bigMessage(4 * 1024 * 1024));
    for (let attempt = 0; attempt < 2; attempt += 1) {
      const error = await pool.build({ input: big, storedAt: FIXED_NOW }).catch((e: unknown) => e);
      expect(isBridgeError(error, 'WEBHOOK_ERR_EVENT')).toBe(true);
      expect((error as { retryable: boolean }).retryable).toBe(true);
      expect((error as Error).message).toMatch(/did not answer within 5 ms/);
      expect(pool.workers).toBe(0);
    }
  });

  it('after close, queued and new requests fail and no worker is left', async () => {
    pool = new EventWorkerPool({ storeDir: h.dir, links: LINKS, workers: 1, perWorker: 1 });
    const input = await h.storeRaw(fixtures()[0]!.bytes);
    const first = pool.build({ input, storedAt: FIXED_NOW }).catch((e: unknown) => e);
    const queued = pool.build({ input, storedAt: FIXED_NOW }).catch((e: unknown) => e);
    await pool.close();
    expect(isBridgeError(await queued, 'WEBHOOK_ERR_EVENT')).toBe(true);
    expect(isBridgeError(await first, 'WEBHOOK_ERR_EVENT')).toBe(true);
    expect(pool.workers).toBe(0);
    await expect(pool.build({ input, storedAt: FIXED_NOW })).rejects.toSatisfy((e) =>
      isBridgeError(e, 'WEBHOOK_ERR_EVENT'),
    );
  });

  it('pooledEventSource builds a message up to maxPooledBytes in a worker and a larger one in process', async () => {
    pool = new EventWorkerPool({ storeDir: h.dir, links: LINKS, workers: 1 });
    const state = new SqliteStateStore(join(h.dir, 'state.db'));
    try {
      const links = localLinkSigner(LINKS);
      const small = await h.storeRaw(fixtures()[0]!.bytes, 'small');
      const large = await h.storeRaw(bigMessage(64 * 1024), 'large');
      const jobs = [];
      for (const input of [small, large]) {
        const rec = { mailbox: 'inbox', uid: input.uid, sha256: input.rawSha256, rawKey: input.rawKey };
        await state.recordMessage({ ...rec, serverUidl: input.uid, size: input.rawSize, fetchedAt: FIXED_NOW }, []);
        jobs.push({
          webhookId: `msg_${input.uid}`,
          ...rec,
          endpointId: 'ep',
          createdAt: FIXED_NOW,
          status: 'pending' as const,
          attempts: 0,
          nextAttemptAt: FIXED_NOW,
        });
      }
      const eventFor = pooledEventSource(pool, { store: h.store, state, links }, 32 * 1024);
      const built = await eventFor(jobs[1]!);
      expect((JSON.parse(text(built.body)) as { data: { uid: string } }).data.uid).toBe('large');
      expect(pool.workers).toBe(0);
      const pooled = await eventFor(jobs[0]!);
      expect((JSON.parse(text(pooled.body)) as { data: { uid: string } }).data.uid).toBe('small');
      expect(pool.workers).toBe(1);
    } finally {
      await state.close();
    }
  });
});
