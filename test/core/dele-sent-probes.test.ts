/**
 * The QUIT-of-unknown-outcome handling (`deleSentAt`, poll-mailbox.ts `reidentifyReusedUidls`) in the modes
 * and identity schemes the first tests did not reach: delete after delivery, size limits, duplicate UIDLs,
 * servers without UIDL, two failures in a row, an appended message after a failure, and two polls at once.
 * Each: no message lost, none delivered twice.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  type PollDeps,
  type PollOptions,
  type PollTarget,
  pollMailbox,
} from '../../functions/core/poll/poll-mailbox.js';
import { FolderRawStore } from '../../functions/local/folder-raw-store.js';
import { SqliteStateStore } from '../../functions/local/sqlite-state-store.js';
import {
  drop,
  type FaultHooks,
  type ScriptedMessageInit,
  type ScriptedServer,
} from '../../functions/scripted-server/index.js';
import {
  crashAfterQuit,
  numberedMessage,
  openScriptedSession,
  startScriptedPollServer,
} from '../support/scripted-poll.js';

let dir: string;
let state: SqliteStateStore;
let store: FolderRawStore;
let server: ScriptedServer | undefined;

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'pop3-bridge-dele-sent-'));
  state = new SqliteStateStore(path.join(dir, 'state.db'));
  store = new FolderRawStore(path.join(dir, 'mail'));
});
afterEach(async () => {
  await server?.close();
  server = undefined;
  await state.close();
  await rm(dir, { recursive: true, force: true });
});

const msg = numberedMessage;

async function serve(
  messages: ReadonlyArray<string | ScriptedMessageInit>,
  options: { uidl?: boolean; faults?: FaultHooks } = {},
): Promise<ScriptedServer> {
  server = await startScriptedPollServer(messages, options);
  return server;
}

function poll(target: Partial<PollTarget> = {}, deps: Partial<PollDeps> = {}, options: PollOptions = {}) {
  const s = server!;
  return pollMailbox(
    { name: 'mb', mode: 'delete', endpointIds: ['hook'], ...target },
    {
      state,
      store,
      ...deps,
      openSession: openScriptedSession(s),
    },
    { force: true, ...options },
  );
}

/** Drops the connection instead of answering the nth QUIT: the server never applies the DELEs. */
function dropQuit(nth: number): FaultHooks {
  let quits = 0;
  return { override: (c) => (c.verb === 'QUIT' && ++quits === nth ? drop({ reset: true }) : undefined) };
}

async function deliverAll(): Promise<void> {
  for (const job of await state.listDeliveries({ mailbox: 'mb' })) {
    if (job.status !== 'delivered') await state.updateDelivery(job.webhookId, { status: 'delivered', attempts: 1 });
  }
}

async function distinctDelivered(): Promise<{ jobs: number; contents: number }> {
  const jobs = await state.listDeliveries({ mailbox: 'mb' });
  return { jobs: jobs.length, contents: new Set(jobs.map((j) => j.sha256)).size };
}

describe('deleteAfterDelivered', () => {
  const dad = { deleteAfterDelivered: true };

  it('a lost QUIT reply after the DELE of delivered mail, then a reused UIDL: the new message is fetched', async () => {
    await serve([{ body: msg(1), uidl: 'uid-1' }]);
    expect(await poll(dad)).toMatchObject({ status: 'ok', fetched: 1, deleted: 0 });
    await deliverAll();
    await poll(dad, crashAfterQuit).catch(() => undefined);
    expect(server!.mailbox.messages).toHaveLength(0);
    expect((await state.getMessages('mb', ['uid-1'])).get('uid-1')?.deleSentAt).toBeTypeOf('number');
    server!.mailbox.add({ body: msg(2), uidl: 'uid-1' });
    expect(await poll(dad)).toMatchObject({ status: 'ok', fetched: 1, deleted: 0 });
    await deliverAll();
    expect(await poll(dad)).toMatchObject({ status: 'ok', fetched: 0, deleted: 1 });
    expect(server!.mailbox.messages).toHaveLength(0);
    expect(await distinctDelivered()).toEqual({ jobs: 2, contents: 2 });
  });

  it('a QUIT that never reached the server: the delivered messages are DELEted next time, not fetched', async () => {
    await serve([msg(1), msg(2)], { faults: dropQuit(2) });
    expect(await poll(dad)).toMatchObject({ status: 'ok', fetched: 2, deleted: 0 });
    await deliverAll();
    expect(await poll(dad)).toMatchObject({ status: 'error' });
    expect(server!.mailbox.messages).toHaveLength(2);
    expect(await poll(dad)).toMatchObject({ status: 'ok', fetched: 0, deleted: 2 });
    expect(server!.count('RETR')).toBe(2);
    expect(await distinctDelivered()).toEqual({ jobs: 2, contents: 2 });
  });
});

describe('size limits', () => {
  const limit = (action: 'delete' | 'headers-only') => ({ sizeLimit: { maxBytes: 100, action } });
  const big = (i: number) => `${msg(i, 'big')}${'x'.repeat(500)}\r\n`;

  it('headers-only in delete mode: a dropped QUIT, then the stored TOP output compares as the same', async () => {
    await serve([{ body: big(1), uidl: 'b1' }], { faults: dropQuit(1) });
    expect(await poll(limit('headers-only'))).toMatchObject({ status: 'error', fetched: 1 });
    expect(await poll(limit('headers-only'))).toMatchObject({ status: 'ok', fetched: 0, deleted: 1 });
    expect(server!.count('RETR')).toBe(0);
    expect(await distinctDelivered()).toEqual({ jobs: 1, contents: 1 });
  });

  it('delete action in leave mode: a lost QUIT reply, then a reused UIDL: the new message is fetched', async () => {
    await serve([{ body: big(1), uidl: 'b1' }]);
    await poll({ mode: 'leave', ...limit('delete') }, crashAfterQuit).catch(() => undefined);
    expect(server!.mailbox.messages).toHaveLength(0);
    server!.mailbox.add({ body: msg(2), uidl: 'b1' });
    expect(await poll({ mode: 'leave', ...limit('delete') })).toMatchObject({ status: 'ok', fetched: 1 });
    expect(server!.mailbox.messages).toHaveLength(1);
    expect(await distinctDelivered()).toEqual({ jobs: 2, contents: 2 });
  });
});

describe('identities', () => {
  it('duplicate UIDLs DELEted, a lost QUIT reply, then the UIDL reused once: the new message is fetched', async () => {
    await serve([
      { body: msg(1), uidl: 'same' },
      { body: msg(2), uidl: 'same' },
    ]);
    await poll({}, crashAfterQuit).catch(() => undefined);
    expect(server!.mailbox.messages).toHaveLength(0);
    server!.mailbox.add({ body: msg(3), uidl: 'same' });
    expect(await poll()).toMatchObject({ status: 'ok', fetched: 1, deleted: 1 });
    expect(await distinctDelivered()).toEqual({ jobs: 3, contents: 3 });
  });

  it('duplicate UIDLs and a dropped QUIT: both DELEted next time, neither fetched again', async () => {
    await serve(
      [
        { body: msg(1), uidl: 'same' },
        { body: msg(2), uidl: 'same' },
      ],
      { faults: dropQuit(1) },
    );
    expect(await poll()).toMatchObject({ status: 'error', fetched: 2 });
    expect(await poll()).toMatchObject({ status: 'ok', fetched: 0, deleted: 2 });
    expect(server!.count('RETR')).toBe(2);
    expect(await distinctDelivered()).toEqual({ jobs: 2, contents: 2 });
  });

  it('no UIDL: a lost QUIT reply, then new mail: fetched; a dropped QUIT: DELEted, not fetched again', async () => {
    await serve([msg(1)], { uidl: false, faults: dropQuit(2) });
    await poll({}, crashAfterQuit).catch(() => undefined);
    server!.mailbox.add(msg(2));
    expect(await poll()).toMatchObject({ status: 'error', fetched: 1 });
    expect(await poll()).toMatchObject({ status: 'ok', fetched: 0, deleted: 1 });
    expect(server!.mailbox.messages).toHaveLength(0);
    expect(await distinctDelivered()).toEqual({ jobs: 2, contents: 2 });
  });
});

describe('failures in a row, appended mail, two polls at once', () => {
  it('two lost QUIT replies in a row, the UIDL reused each time: every message fetched once', async () => {
    await serve([{ body: msg(1), uidl: 'u' }]);
    await poll({}, crashAfterQuit).catch(() => undefined);
    server!.mailbox.add({ body: msg(2), uidl: 'u' });
    await poll({}, crashAfterQuit).catch(() => undefined);
    expect(server!.mailbox.messages).toHaveLength(0);
    server!.mailbox.add({ body: msg(3), uidl: 'u' });
    expect(await poll()).toMatchObject({ status: 'ok', fetched: 1, deleted: 1 });
    expect(await poll()).toMatchObject({ status: 'ok', fetched: 0 });
    expect(await distinctDelivered()).toEqual({ jobs: 3, contents: 3 });
  });

  it('a lost QUIT reply, then a dropped QUIT after comparing: the same message is still DELEted once', async () => {
    await serve([{ body: msg(1), uidl: 'u' }], { faults: dropQuit(1) });
    expect(await poll()).toMatchObject({ status: 'error' });
    await poll({}, crashAfterQuit).catch(() => undefined);
    expect(server!.mailbox.messages).toHaveLength(0);
    server!.mailbox.add({ body: msg(2), uidl: 'u' });
    expect(await poll()).toMatchObject({ status: 'ok', fetched: 1, deleted: 1 });
    expect(await distinctDelivered()).toEqual({ jobs: 2, contents: 2 });
  });

  it('leave mode, incremental path: a reused UIDL appended after a lost QUIT reply is fetched', async () => {
    // An over-size message DELEted by its size-limit action, its QUIT's +OK lost; the server then appends a new
    // message under that UIDL, which the cheap check sees as appended only (message 2 still has its UIDL).
    const leave = { mode: 'leave' as const, sizeLimit: { maxBytes: 100, action: 'delete' as const } };
    const at = { now: () => Date.now(), fullSyncIntervalMs: 86_400_000 };
    await serve([
      { body: msg(1), uidl: 'u1' },
      { body: msg(2), uidl: 'u2' },
    ]);
    expect(await poll(leave, at)).toMatchObject({ path: 'full', fetched: 2 });
    server!.mailbox.add({ body: `${msg(3)}${'x'.repeat(500)}\r\n`, uidl: 'b3' });
    await poll(leave, { ...at, ...crashAfterQuit }).catch(() => undefined);
    expect(server!.mailbox.messages).toHaveLength(2);
    server!.mailbox.add({ body: msg(4), uidl: 'b3' });
    expect(await poll(leave, at)).toMatchObject({ status: 'ok', path: 'incremental', fetched: 1 });
    expect(server!.mailbox.messages).toHaveLength(3);
    expect(await poll(leave, { ...at, fullSyncIntervalMs: 0 })).toMatchObject({ fetched: 0, deleted: 0 });
    expect(await distinctDelivered()).toEqual({ jobs: 4, contents: 4 });
  });

  it('two polls at once after a lost QUIT reply: the reused UIDL is fetched once', async () => {
    await serve([{ body: msg(1), uidl: 'u' }]);
    await poll({}, crashAfterQuit).catch(() => undefined);
    server!.mailbox.add({ body: msg(2), uidl: 'u' });
    const results = await Promise.all([poll(), poll()]);
    expect(results.map((r) => r.fetched).sort()).toEqual([0, 1]);
    expect(server!.mailbox.messages).toHaveLength(0);
    expect(await distinctDelivered()).toEqual({ jobs: 2, contents: 2 });
  });
});
