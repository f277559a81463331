/**
 * The poll engine against the scripted server, for what Dovecot cannot do:
 * a server without UIDL, duplicate UIDLs, over-long UIDLs, QUIT answered
 * -ERR, a connection dropped mid-RETR, and the RFC 2449 / RFC 3206 response
 * codes as real server replies.
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
  onVerb,
  replyLine,
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
  dir = await mkdtemp(path.join(tmpdir(), 'pop3-bridge-scripted-'));
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
  options: { uidl?: boolean; faults?: FaultHooks; capabilities?: string[] | null } = {},
): Promise<ScriptedServer> {
  server = await startScriptedPollServer(messages, options);
  return server;
}

function poll(target: Partial<PollTarget> = {}) {
  return pollAt({}, target);
}

/** `poll` with a clock, other engine options and poll options. */
function pollAt(
  deps: { now?: () => number; fullSyncIntervalMs?: number } & Pick<PollDeps, 'probe'>,
  target: Partial<PollTarget> = {},
  options: PollOptions = {},
) {
  const s = server!;
  return pollMailbox(
    { name: 'mb', mode: 'leave', endpointIds: ['hook'], ...target },
    {
      state,
      store,
      ...deps,
      openSession: openScriptedSession(s),
    },
    { force: true, ...options },
  );
}

describe('identity', () => {
  it('a server without UIDL: identity from header hashes, nothing fetched twice', async () => {
    await serve([msg(1), msg(2), msg(3)], { uidl: false });
    expect(await poll()).toMatchObject({ status: 'ok', fetched: 3 });
    const again = await poll();
    expect(again).toMatchObject({ status: 'ok', fetched: 0 });
    expect(server!.count('RETR')).toBe(3);
    const jobs = await state.listDeliveries({ mailbox: 'mb' });
    expect(jobs.map((j) => j.uid).every((uid) => uid.startsWith('h:'))).toBe(true);
  });

  it('without UIDL in delete mode: fetched once, deleted, gone', async () => {
    await serve([msg(1), msg(2)], { uidl: false });
    expect(await poll({ mode: 'delete' })).toMatchObject({ status: 'ok', fetched: 2, deleted: 2 });
    expect(server!.mailbox.messages).toHaveLength(0);
  });

  it('duplicate UIDLs: both messages are kept as distinct and neither is lost when the other goes', async () => {
    await serve([
      { body: msg(1), uidl: 'same' },
      { body: msg(2), uidl: 'same' },
      { body: msg(3), uidl: 'other' },
    ]);
    expect(await poll()).toMatchObject({ status: 'ok', fetched: 3 });
    const uids = new Set((await state.listDeliveries({ mailbox: 'mb' })).map((j) => j.uid));
    expect(uids.size).toBe(3);
    expect(await poll()).toMatchObject({ fetched: 0 });
  });

  it('duplicate UIDLs: when another client deletes one twin, the other is not delivered again', async () => {
    await serve([
      { body: msg(1), uidl: 'same' },
      { body: msg(2), uidl: 'same' },
      { body: msg(3), uidl: 'other' },
    ]);
    expect(await poll()).toMatchObject({ status: 'ok', fetched: 3 });
    const before = await state.listDeliveries({ mailbox: 'mb' });
    const view = server!.mailbox.open();
    view.dele(2);
    view.commit();
    // The twin left is listed as the bare UIDL now: a new identity. It is fetched once more, matched by content
    // to its record and renamed, and not delivered again (it was, with a third webhook-id, before).
    expect(await poll()).toMatchObject({ status: 'ok', fetched: 0 });
    const after = await state.listDeliveries({ mailbox: 'mb' });
    expect(after.map((j) => j.webhookId).sort()).toEqual(before.map((j) => j.webhookId).sort());
    expect(after.map((j) => j.uid)).toContain('same');
    expect(await poll()).toMatchObject({ fetched: 0 });
  });

  it('duplicate UIDLs: a new message appended with a UIDL we know is fetched at once, the old one not again', async () => {
    await serve([
      { body: msg(1), uidl: 'same' },
      { body: msg(2), uidl: 'x' },
    ]);
    const day = 86_400_000;
    const at = { now: () => Date.now(), fullSyncIntervalMs: day };
    expect(await pollAt(at)).toMatchObject({ status: 'ok', fetched: 2 });
    server!.mailbox.add({ body: msg(3), uidl: 'same' });
    // The incremental listing showed only the appended 'same', which is known: it was skipped until the daily
    // full listing, which then gave both twins new identities and delivered the old one a second time.
    expect(await pollAt(at)).toMatchObject({ status: 'ok', path: 'full', fetched: 1 });
    const jobs = await state.listDeliveries({ mailbox: 'mb' });
    expect(jobs).toHaveLength(3);
    expect(jobs.filter((j) => j.uid.startsWith('same#h:'))).toHaveLength(2);
    expect(await pollAt({ ...at, fullSyncIntervalMs: 0 })).toMatchObject({ fetched: 0 });
    expect(await state.listDeliveries({ mailbox: 'mb' })).toHaveLength(3);
  });

  it('delete mode: a UIDL the server reuses after our DELE is a new message, fetched before it is deleted', async () => {
    // RFC 1939 §7 forbids reusing a UIDL only while the old message exists. The reused one was taken for the
    // message already stored and DELEted without a RETR: mail lost.
    await serve([{ body: msg(1), uidl: 'uid-1' }]);
    expect(await poll({ mode: 'delete' })).toMatchObject({ status: 'ok', fetched: 1, deleted: 1 });
    expect(server!.mailbox.messages).toHaveLength(0);
    server!.mailbox.add({ body: msg(2), uidl: 'uid-1' });
    expect(await poll({ mode: 'delete' })).toMatchObject({ status: 'ok', fetched: 1, deleted: 1 });
    expect(server!.count('RETR')).toBe(2);
    expect(server!.mailbox.messages).toHaveLength(0);
    const jobs = await state.listDeliveries({ mailbox: 'mb' });
    expect(jobs).toHaveLength(2);
    expect(new Set(jobs.map((j) => j.webhookId)).size).toBe(2);
    const second = jobs.find((j) => j.uid !== 'uid-1')!;
    expect(second.uid).toMatch(/^uid-1#h:[0-9a-f]{32}$/);
    expect((await state.getMessages('mb', [second.uid])).get(second.uid)?.sha256).not.toBe(jobs[0]!.sha256);
  });

  it('a UIDL reused after our DELE on a server that refuses TOP: fetched, not a poll that fails for good', async () => {
    await serve([{ body: msg(1), uidl: 'uid-1' }], {
      faults: { override: (c) => (c.verb === 'TOP' ? replyLine('-ERR TOP not supported') : undefined) },
    });
    expect(await poll({ mode: 'delete' })).toMatchObject({ status: 'ok', fetched: 1, deleted: 1 });
    server!.mailbox.add({ body: msg(2), uidl: 'uid-1' });
    // TOP gave the reused UIDL its new identity; refused, every poll of the mailbox failed from then on.
    expect(await poll({ mode: 'delete' })).toMatchObject({ status: 'ok', fetched: 1, deleted: 1 });
    expect(server!.mailbox.messages).toHaveLength(0);
    const jobs = await state.listDeliveries({ mailbox: 'mb' });
    expect(new Set(jobs.map((j) => j.sha256)).size).toBe(2);
  });

  it('leave mode: a UIDL reused after retention deleted its message is fetched once, then known', async () => {
    await serve([{ body: msg(1), uidl: 'uid-1' }]);
    const day = 86_400_000;
    let now = Date.UTC(2026, 0, 1);
    const at = { now: () => now };
    expect(await pollAt(at, { retentionDays: 1 })).toMatchObject({ status: 'ok', fetched: 1 });
    now += 2 * day;
    expect(await pollAt(at, { retentionDays: 1 })).toMatchObject({ status: 'ok', deleted: 1 });
    server!.mailbox.add({ body: msg(2), uidl: 'uid-1' });
    expect(await pollAt(at, { retentionDays: 1 })).toMatchObject({ status: 'ok', fetched: 1 });
    expect(await pollAt(at, { retentionDays: 1 })).toMatchObject({ status: 'ok', fetched: 0 });
    now += day / 2; // not due for retention yet, but a full listing again
    expect(await pollAt({ ...at, fullSyncIntervalMs: 0 }, { retentionDays: 1 })).toMatchObject({ fetched: 0 });
    expect(server!.count('RETR')).toBe(2);
    expect(server!.mailbox.messages).toHaveLength(1);
  });

  describe('a QUIT answered +OK but not recorded (a crash, a lost reply), whatever the server did next', () => {
    it('delete mode: the UIDL reused for a new message is fetched before it is DELEted', async () => {
      await serve([{ body: msg(1), uidl: 'uid-1' }]);
      await pollAt(crashAfterQuit, { mode: 'delete' }).catch(() => undefined);
      expect(server!.mailbox.messages).toHaveLength(0);
      const record = (await state.getMessages('mb', ['uid-1'])).get('uid-1');
      expect(record?.deleSentAt).toBeTypeOf('number');
      expect(record?.deletedAt).toBeUndefined();
      server!.mailbox.add({ body: msg(2), uidl: 'uid-1' });
      // It was taken for the stored message, whose DELE had not been recorded, and DELEted unfetched: mail lost.
      expect(await poll({ mode: 'delete' })).toMatchObject({ status: 'ok', fetched: 1, deleted: 1 });
      expect(server!.count('RETR')).toBe(2);
      const jobs = await state.listDeliveries({ mailbox: 'mb' });
      expect(new Set(jobs.map((j) => j.sha256)).size).toBe(2);
      expect((await state.getMessages('mb', ['uid-1'])).get('uid-1')?.deletedAt).toBeTypeOf('number');
      expect(await poll({ mode: 'delete' })).toMatchObject({ status: 'ok', fetched: 0, deleted: 0 });
    });

    it('leave mode: a UIDL reused after a retention DELE is fetched, and not DELEted as the old message', async () => {
      await serve([{ body: msg(1), uidl: 'uid-1' }]);
      const day = 86_400_000;
      let now = Date.UTC(2026, 0, 1);
      expect(await pollAt({ now: () => now }, { retentionDays: 1 })).toMatchObject({ status: 'ok', fetched: 1 });
      now += 2 * day;
      await pollAt({ now: () => now, ...crashAfterQuit }, { retentionDays: 1 }).catch(() => undefined);
      expect(server!.mailbox.messages).toHaveLength(0);
      server!.mailbox.add({ body: msg(2), uidl: 'uid-1' });
      // It stayed in the known uids and was never fetched; the old record, due for retention, then DELEted it.
      expect(await pollAt({ now: () => now }, { retentionDays: 1 })).toMatchObject({ status: 'ok', fetched: 1 });
      expect(server!.mailbox.messages).toHaveLength(1);
      expect(server!.count('RETR')).toBe(2);
      expect(await pollAt({ now: () => now, fullSyncIntervalMs: 0 }, { retentionDays: 1 })).toMatchObject({
        status: 'ok',
        fetched: 0,
        deleted: 0,
      });
      expect(server!.mailbox.messages).toHaveLength(1);
    });

    it('delete mode: QUIT never reached the server: the same messages are DELEted, not fetched again', async () => {
      let quits = 0;
      await serve([msg(1), msg(2)], {
        faults: { override: (c) => (c.verb === 'QUIT' && ++quits === 1 ? drop({ reset: true }) : undefined) },
      });
      expect(await poll({ mode: 'delete' })).toMatchObject({ status: 'error' });
      expect(server!.mailbox.messages).toHaveLength(2);
      expect(await poll({ mode: 'delete' })).toMatchObject({ status: 'ok', fetched: 0, deleted: 2 });
      expect(server!.count('RETR')).toBe(2);
      expect(server!.count('TOP')).toBe(2);
      expect(server!.mailbox.messages).toHaveLength(0);
      expect(await state.listDeliveries({ mailbox: 'mb' })).toHaveLength(2);
    });

    it('delete mode: a message an mbox server marked read (Status: RO) is still the stored one', async () => {
      let quits = 0;
      await serve([{ body: msg(1), uidl: 'a' }], {
        faults: { override: (c) => (c.verb === 'QUIT' && ++quits === 1 ? drop({ reset: true }) : undefined) },
      });
      expect(await poll({ mode: 'delete' })).toMatchObject({ status: 'error' });
      // qpopper and UW ipop3d rewrite a message they served with a Status field; the UIDL stays.
      const view = server!.mailbox.open();
      view.dele(1);
      view.commit();
      server!.mailbox.add({ body: `Status: RO\r\nX-Status: \r\n${msg(1)}`, uidl: 'a' });
      expect(await poll({ mode: 'delete' })).toMatchObject({ status: 'ok', fetched: 0, deleted: 1 });
      expect(server!.count('RETR')).toBe(1);
      expect(await state.listDeliveries({ mailbox: 'mb' })).toHaveLength(1);
    });

    it('delete mode: a message the server renders anew (another boundary, another Subject encoding) is the stored one', async () => {
      // Servers that keep mail in their own store render MIME for each session (Exchange's LIST sizes differ from
      // RETR's for that reason): the trace fields stay, a multipart boundary or an encoded-word may not.
      const rendered = (boundary: string, subject: string) =>
        `Received: from mx.example by pop.example; Mon, 30 Nov 2026 00:00:00 +0000\r\nMessage-ID: <render@x>\r\n` +
        `Subject: ${subject}\r\nContent-Type: multipart/mixed; boundary="${boundary}"\r\n\r\n--${boundary}\r\n` +
        `Content-Type: text/plain\r\n\r\nhello\r\n--${boundary}--\r\n`;
      let quits = 0;
      await serve([{ body: rendered('b1', '=?utf-8?B?w6ljb2xl?='), uidl: 'a' }], {
        faults: { override: (c) => (c.verb === 'QUIT' && ++quits === 1 ? drop({ reset: true }) : undefined) },
      });
      expect(await poll({ mode: 'delete' })).toMatchObject({ status: 'error' });
      const view = server!.mailbox.open();
      view.dele(1);
      view.commit();
      server!.mailbox.add({ body: rendered('_002_other', '=?UTF-8?Q?=C3=A9cole?='), uidl: 'a' });
      expect(await poll({ mode: 'delete' })).toMatchObject({ status: 'ok', fetched: 0, deleted: 1 });
      expect(server!.count('RETR')).toBe(1);
      expect(await state.listDeliveries({ mailbox: 'mb' })).toHaveLength(1);
    });

    it("leave mode: the size limit's DELE of an over-size message is sent again after a dropped QUIT", async () => {
      let quits = 0;
      await serve([{ body: `Subject: big\r\nMessage-ID: <big@x>\r\n\r\n${'x'.repeat(5000)}\r\n`, uidl: 'big' }], {
        faults: { override: (c) => (c.verb === 'QUIT' && ++quits === 1 ? drop({ reset: true }) : undefined) },
      });
      const limit = { sizeLimit: { maxBytes: 1000, action: 'delete' as const } };
      expect(await poll(limit)).toMatchObject({ status: 'error' });
      expect(server!.mailbox.messages).toHaveLength(1);
      // The record existed, so leave mode took the message as stored and never DELEted it again.
      expect(await poll(limit)).toMatchObject({ status: 'ok', fetched: 0, deleted: 1 });
      expect(server!.mailbox.messages).toHaveLength(0);
      expect(await state.listDeliveries({ mailbox: 'mb' })).toHaveLength(1);
    });

    it('delete mode: the comparisons after a dropped QUIT keep to the deadline, so a later poll reaches QUIT', async () => {
      // Each comparison is a TOP and a stored read, one after the other: after an interrupted poll that stored
      // thousands of messages, they alone outlasted the invocation. Here a TOP takes one tick, the deadline is 5
      // ticks away, and the invocation is killed at 10 ticks, before QUIT: the same 20 comparisons every time.
      let quits = 0;
      let clock = 0;
      await serve(
        Array.from({ length: 20 }, (_, i) => msg(i + 1)),
        {
          faults: {
            override: (c) => {
              if (c.verb === 'TOP') clock += 1;
              return c.verb === 'QUIT' && ++quits === 1 ? drop({ reset: true }) : undefined;
            },
          },
        },
      );
      expect(await poll({ mode: 'delete' })).toMatchObject({ status: 'error', fetched: 20 });
      const invocation = () => {
        const start = clock;
        return pollAt(
          {
            now: () => clock,
            probe: (point) => {
              if (point === 'before-quit' && clock > start + 10) throw new Error('killed at the Lambda timeout');
            },
          },
          { mode: 'delete' },
          { deadline: start + 5 },
        );
      };
      for (let i = 0; i < 8 && server!.mailbox.messages.length > 0; i += 1) {
        expect(await invocation()).toMatchObject({ status: 'ok', fetched: 0 });
      }
      expect(server!.mailbox.messages).toHaveLength(0);
      expect(server!.count('RETR')).toBe(20);
      expect(await state.listDeliveries({ mailbox: 'mb' })).toHaveLength(20);
    });

    it('leave mode: retention comparisons left for the next poll keep their records, and all go in the end', async () => {
      let quits = 0;
      let clock = Date.UTC(2026, 0, 1);
      await serve(
        Array.from({ length: 12 }, (_, i) => msg(i + 1)),
        {
          faults: {
            override: (c) => {
              if (c.verb === 'TOP') clock += 1;
              return c.verb === 'QUIT' && ++quits === 2 ? drop({ reset: true }) : undefined;
            },
          },
        },
      );
      const at = { now: () => clock };
      expect(await pollAt(at, { retentionDays: 1 })).toMatchObject({ status: 'ok', fetched: 12 });
      clock += 2 * 86_400_000;
      expect(await pollAt(at, { retentionDays: 1 })).toMatchObject({ status: 'error' });
      expect(server!.mailbox.messages).toHaveLength(12);
      const left: number[] = [];
      for (let i = 0; i < 6 && server!.mailbox.messages.length > 0; i += 1) {
        expect(await pollAt(at, { retentionDays: 1 }, { deadline: clock + 4 })).toMatchObject({ status: 'ok' });
        left.push(server!.mailbox.messages.length);
        // Not one record taken for gone while its message is still listed.
        const live = await state.listRetentionDue('mb', clock, 100);
        expect(live).toHaveLength(server!.mailbox.messages.length);
      }
      // Four comparisons per poll (a TOP is a tick, the deadline four ticks away).
      expect(left).toEqual([8, 4, 0]);
      expect(server!.count('RETR')).toBe(12);
    });

    it('delete mode: a server without TOP (RFC 1939 §7 makes it optional) is not stuck after a dropped QUIT', async () => {
      let quits = 0;
      await serve([msg(1), msg(2)], {
        capabilities: ['UIDL', 'USER', 'RESP-CODES', 'PIPELINING'],
        faults: {
          override: (c) => {
            if (c.verb === 'TOP') return replyLine('-ERR unknown command');
            return c.verb === 'QUIT' && ++quits === 1 ? drop({ reset: true }) : undefined;
          },
        },
      });
      expect(await poll({ mode: 'delete' })).toMatchObject({ status: 'error', fetched: 2 });
      expect(server!.mailbox.messages).toHaveLength(2);
      // The comparison's TOP was refused and failed every later poll: nothing fetched or deleted, ever again.
      for (let i = 0; i < 3 && server!.mailbox.messages.length > 0; i += 1) {
        expect(await poll({ mode: 'delete' })).toMatchObject({ status: 'ok' });
      }
      expect(server!.mailbox.messages).toHaveLength(0);
      const jobs = await state.listDeliveries({ mailbox: 'mb' });
      expect(jobs).toHaveLength(2);
      // Not comparable: fetched again and matched by content (one RETR each on two polls), never delivered twice.
      expect(server!.count('RETR')).toBe(6);
      expect(await poll({ mode: 'delete' })).toMatchObject({ status: 'ok', fetched: 0 });
    });

    it('delete mode: a reused UIDL on a message without header fields is not taken for the stored one', async () => {
      // Two messages with no header fields have equal (empty) header sections: nothing tells them apart.
      await serve([{ body: '\r\nfirst body\r\n', uidl: 'uid-1' }]);
      await pollAt(crashAfterQuit, { mode: 'delete' }).catch(() => undefined);
      expect(server!.mailbox.messages).toHaveLength(0);
      server!.mailbox.add({ body: '\r\nsecond body\r\n', uidl: 'uid-1' });
      // It was judged the same message and DELEted unfetched: mail lost.
      for (let i = 0; i < 3 && server!.mailbox.messages.length > 0; i += 1) {
        expect(await poll({ mode: 'delete' })).toMatchObject({ status: 'ok' });
      }
      expect(server!.mailbox.messages).toHaveLength(0);
      const jobs = await state.listDeliveries({ mailbox: 'mb' });
      expect(new Set(jobs.map((j) => j.sha256)).size).toBe(2);
      expect(jobs).toHaveLength(2);
    });

    it('delete mode: a message without header fields whose QUIT was dropped is DELEted later, delivered once', async () => {
      let quits = 0;
      await serve([{ body: '\r\nonly a body\r\n', uidl: 'uid-1' }], {
        faults: { override: (c) => (c.verb === 'QUIT' && ++quits === 1 ? drop({ reset: true }) : undefined) },
      });
      expect(await poll({ mode: 'delete' })).toMatchObject({ status: 'error', fetched: 1 });
      // Not comparable: fetched again and matched by content to its record, so not delivered again.
      for (let i = 0; i < 3 && server!.mailbox.messages.length > 0; i += 1) {
        expect(await poll({ mode: 'delete' })).toMatchObject({ status: 'ok', fetched: 0 });
      }
      expect(server!.mailbox.messages).toHaveLength(0);
      expect(await state.listDeliveries({ mailbox: 'mb' })).toHaveLength(1);
    });
  });

  it('an over-size message left when the budget ran out counts as remaining, so the next poll takes it', async () => {
    await serve([{ body: msg(1), uidl: 'a' }]);
    const day = 86_400_000;
    const at = { now: () => Date.now(), fullSyncIntervalMs: day };
    const limit = { sizeLimit: { maxBytes: 1000, action: 'headers-only' as const } };
    expect(await pollAt(at, limit)).toMatchObject({ status: 'ok', fetched: 1 });
    server!.mailbox.add({ body: `Subject: big\r\n\r\n${'x'.repeat(5000)}\r\n`, uidl: 'b' });
    // The budget is already spent (a deadline, a shutdown).
    const stopped = await pollAt(at, limit, { deadline: Date.now() - 1 });
    expect(stopped).toMatchObject({ fetched: 0, remaining: 1 });
    // Before, the cursor was saved as if nothing was left: the next polls were idle until the daily full listing.
    expect(await pollAt(at, limit)).toMatchObject({ status: 'ok', fetched: 1 });
  });

  it('an 8-bit UIDL gets one identity from the incremental path and from the full listing', async () => {
    // `UIDL n` (a status line) was read as UTF-8 and the listing as latin1: the daily full listing took the
    // message for a new one and delivered it again.
    await serve([{ body: msg(1), uidl: 'a' }]);
    const day = 86_400_000;
    expect(await pollAt({ now: () => Date.now(), fullSyncIntervalMs: day })).toMatchObject({ fetched: 1 });
    server!.mailbox.add({ body: msg(2), uidl: 'caf\u00e9' });
    expect(await pollAt({ now: () => Date.now(), fullSyncIntervalMs: day })).toMatchObject({
      path: 'incremental',
      fetched: 1,
    });
    expect(await pollAt({ now: () => Date.now(), fullSyncIntervalMs: 0 })).toMatchObject({ path: 'full', fetched: 0 });
    expect(server!.count('RETR')).toBe(2);
    expect(await state.listDeliveries({ mailbox: 'mb' })).toHaveLength(2);
  });

  it('UIDLs longer than RFC 1939 allows are accepted as identities', async () => {
    const long = `x${'y'.repeat(200)}`;
    await serve([{ body: msg(1), uidl: long }]);
    expect(await poll()).toMatchObject({ status: 'ok', fetched: 1 });
    expect((await state.listDeliveries({ mailbox: 'mb' }))[0]?.uid).toBe(long);
  });
});

describe('failures on the wire', () => {
  it('QUIT answered -ERR: deletions are not marked, and the next poll DELEs again without fetching', async () => {
    let quits = 0;
    await serve([msg(1), msg(2)], {
      faults: {
        override: (c) =>
          c.verb === 'QUIT' && ++quits === 1 ? replyLine('-ERR [SYS/TEMP] could not update maildrop') : undefined,
      },
    });
    const first = await poll({ mode: 'delete' });
    expect(first).toMatchObject({ status: 'error', error: { code: 'POP3_ERR_SYS_TEMP' } });
    // The scripted server applies no DELE when QUIT fails (RFC 1939 §6): both messages are still there.
    expect(server!.mailbox.messages).toHaveLength(2);
    const second = await poll({ mode: 'delete' });
    expect(second).toMatchObject({ status: 'ok', fetched: 0, deleted: 2 });
    expect(server!.count('RETR')).toBe(2);
    expect(server!.mailbox.messages).toHaveLength(0);
  });

  it('a connection dropped mid-RETR: the message stays on the server, nothing half-stored is recorded', async () => {
    const big = `Subject: big\r\n\r\n${'line of text\r\n'.repeat(50_000)}`;
    let retrs = 0;
    await serve([msg(1), big, msg(3)], {
      faults: {
        body: (c) =>
          c.verb === 'RETR' && c.args === '2' && ++retrs === 1 ? { dropAfterBodyBytes: 100_000 } : undefined,
      },
    });
    const first = await poll({ mode: 'delete' });
    expect(first.status).toBe('error');
    expect(first.error?.code).toBe('POP3_ERR_CLOSED');
    expect(server!.mailbox.messages).toHaveLength(3);
    const second = await poll({ mode: 'delete' });
    expect(second).toMatchObject({ status: 'ok', deleted: 3 });
    expect(first.fetched + second.fetched).toBe(3);
    expect(await state.listDeliveries({ mailbox: 'mb' })).toHaveLength(3);
  });

  it.each([
    ['-ERR [IN-USE] mailbox locked by another session', 'POP3_ERR_IN_USE', false],
    ['-ERR [LOGIN-DELAY] wait 15 minutes', 'POP3_ERR_LOGIN_DELAY', false],
    ['-ERR [SYS/TEMP] try later', 'POP3_ERR_SYS_TEMP', false],
    ['-ERR [AUTH] invalid credentials', 'POP3_ERR_AUTH', true],
    ['-ERR [SYS/PERM] account disabled', 'POP3_ERR_SYS_PERM', true],
  ] as const)('PASS answered %s → %s, failing=%s, server text kept', async (line, code, failing) => {
    await serve([msg(1)], {
      capabilities: ['USER', 'UIDL', 'TOP', 'RESP-CODES', 'AUTH-RESP-CODE', 'LOGIN-DELAY 900'],
      faults: { override: onVerb('PASS', replyLine(line)) },
    });
    const result = await poll();
    expect(result).toMatchObject({ status: 'error', error: { code } });
    const st = await state.getMailboxState('mb');
    expect(st).toMatchObject({ failing, lastError: { code } });
    expect(st?.lastError?.message).toContain(line.replace(/^-ERR \[[^\]]+\] /, ''));
    if (code === 'POP3_ERR_LOGIN_DELAY') expect(st!.nextPollAfter! - Date.now()).toBeGreaterThan(850_000);
  });
});
