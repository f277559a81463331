/**
 * Crash safety: a poll SIGKILLed at many points — mid-RETR, after storing and
 * before recording, after recording and before DELE, after DELE and before
 * QUIT, right after QUIT — then run again to completion. Afterwards every
 * message that was on the server is stored exactly once, recorded once and
 * queued once per webhook, and nothing left the server without being stored.
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SqliteStateStore } from '../../functions/local/sqlite-state-store.js';
import { sha256Hex } from '../support/bytes.js';
import { dovecotFromInjected } from '../support/dovecot.js';

const dovecot = dovecotFromInjected();
const CHILD = path.join(import.meta.dirname, '../support/crash-child.ts');

function messages(n: number): Buffer[] {
  // Distinct contents, CRLF-terminated (so RETR bytes equal these bytes), one large enough to cut mid-body.
  return Array.from({ length: n }, (_, i) =>
    Buffer.from(
      `From: crash${i}@example.test\r\nSubject: crash ${i}\r\nMessage-ID: <crash${i}@example.test>\r\n\r\n${`line ${i} of a body\r\n`.repeat(i === 2 ? 20_000 : 5)}`,
    ),
  );
}

function runChild(plan: Record<string, unknown>): {
  signal: NodeJS.Signals | null;
  status: number | null;
  stdout: string;
  stderr: string;
} {
  const child = spawnSync(process.execPath, ['--import', 'tsx', CHILD, JSON.stringify(plan)], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { signal: child.signal, status: child.status, stdout: child.stdout, stderr: child.stderr };
}

async function storedFiles(dir: string): Promise<string[]> {
  const root = path.join(dir, 'mail', 'raw');
  const out: string[] = [];
  for (const sub of await readdir(root).catch(() => [])) {
    for (const f of await readdir(path.join(root, sub))) out.push(path.join(root, sub, f));
  }
  return out;
}

/**
 * Group commit (sqlite-state-store.ts) pinned so the boundaries are known: records commit three at a time (the
 * engine has up to `FolderRawStore.putsInFlight` messages storing at once, so records queue while a group
 * waits), the rest when the 200 ms window ends.
 */
const GROUPS_OF_3 = { windowMs: 200, maxRecords: 3 };

const SCENARIOS: ReadonlyArray<{
  mode: 'leave' | 'delete';
  point: string;
  occurrence: number;
  groupCommit?: typeof GROUPS_OF_3;
  /** Records the crash must have left committed: the group boundary, seen from the database. */
  recordedAtCrash?: number;
}> = [
  { mode: 'delete', point: 'connected', occurrence: 1 },
  { mode: 'delete', point: 'listed', occurrence: 1 },
  { mode: 'delete', point: 'mid-retr', occurrence: 100 },
  { mode: 'delete', point: 'after-store', occurrence: 1 },
  { mode: 'delete', point: 'after-store', occurrence: 3 },
  { mode: 'delete', point: 'after-record', occurrence: 2 },
  { mode: 'delete', point: 'after-dele', occurrence: 1 },
  { mode: 'delete', point: 'before-quit', occurrence: 1 },
  { mode: 'delete', point: 'after-quit', occurrence: 1 },
  { mode: 'leave', point: 'mid-retr', occurrence: 100 },
  { mode: 'leave', point: 'after-store', occurrence: 2 },
  { mode: 'leave', point: 'after-record', occurrence: 4 },
  { mode: 'leave', point: 'before-quit', occurrence: 1 },
  // Killed while a group is queued: messages 1–3 stored and their records waiting for the group to fill.
  { mode: 'delete', point: 'after-store', occurrence: 3, groupCommit: GROUPS_OF_3, recordedAtCrash: 0 },
  // Killed right after the first group committed (1–3 recorded at once), 4 and 5 not yet recorded.
  { mode: 'delete', point: 'after-record', occurrence: 1, groupCommit: GROUPS_OF_3, recordedAtCrash: 3 },
  // Killed after the second, partial group committed on its window, before DELE.
  { mode: 'delete', point: 'after-record', occurrence: 4, groupCommit: GROUPS_OF_3, recordedAtCrash: 5 },
  { mode: 'leave', point: 'after-store', occurrence: 5, groupCommit: GROUPS_OF_3 },
];

describe('a poll killed with SIGKILL, then run again', () => {
  it.each(SCENARIOS)(
    '$mode mode, killed at $point #$occurrence (groups $groupCommit)',
    async ({ mode, point, occurrence, groupCommit, recordedAtCrash }) => {
      const originals = messages(5);
      const account = await dovecot.createMailbox(originals);
      const dir = await mkdtemp(path.join(tmpdir(), 'pop3-bridge-crash-'));
      try {
        // A short lease: the killed poll never released it, so the next one waits it out, as after a real crash.
        const plan = { facts: dovecot.facts, account, dir, mode, point, occurrence, leaseTtlMs: 400, groupCommit };
        const crashed = runChild(plan);
        expect(crashed.signal, crashed.stderr).toBe('SIGKILL');

        // Whatever the crash left, nothing is gone from the server that is not stored.
        const store = new SqliteStateStore(path.join(dir, 'state.db'));
        const onServerAfterCrash = (await dovecot.mailboxFiles(account.user)).length;
        if (recordedAtCrash !== undefined) {
          const recorded = await store.listDeliveries({ mailbox: 'inbox' });
          expect(new Set(recorded.map((j) => j.uid)).size).toBe(recordedAtCrash);
          // Nothing was deleted before QUIT, whatever was recorded.
          expect(onServerAfterCrash).toBe(originals.length);
        }
        const storedAfterCrash = await Promise.all((await storedFiles(dir)).map((f) => readFile(f)));
        const storedHashes = new Set(storedAfterCrash.map(sha256Hex));
        expect(originals.length - onServerAfterCrash).toBeLessThanOrEqual(storedHashes.size);

        await new Promise((resolve) => setTimeout(resolve, 500));
        const finished = runChild({ ...plan, point: 'none' });
        expect(finished.status, finished.stderr).toBe(0);
        expect(JSON.parse(finished.stdout.trim())).toMatchObject({ status: 'ok' });

        const files = await storedFiles(dir);
        const hashes = (await Promise.all(files.map((f) => readFile(f)))).map(sha256Hex).sort();
        expect(hashes).toEqual(originals.map(sha256Hex).sort());
        const jobs = await store.listDeliveries({ mailbox: 'inbox' });
        expect(jobs).toHaveLength(originals.length * 2);
        expect(new Set(jobs.map((j) => j.webhookId)).size).toBe(originals.length * 2);
        const uids = [...new Set(jobs.map((j) => j.uid))];
        const records = await store.getMessages('inbox', uids);
        expect(records.size).toBe(originals.length);
        expect(new Set([...records.values()].map((r) => r.sha256))).toEqual(new Set(originals.map(sha256Hex)));
        expect(await dovecot.mailboxFiles(account.user)).toHaveLength(mode === 'delete' ? 0 : originals.length);
        await store.close();
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  );
});
