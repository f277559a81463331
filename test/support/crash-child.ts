/**
 * Runs one poll in a child process and SIGKILLs itself at a chosen point, the
 * way a Lambda timeout, an OOM kill or a power cut would end it: no finally
 * blocks, no QUIT, no chance to tidy up.
 *
 * argv[2]: JSON { facts, account, dir, mode, point, occurrence, leaseTtlMs, groupCommit? }
 *   point: a PollProbePoint, or 'mid-retr' (killed after `occurrence` KB of a message body reached the store).
 */
import path from 'node:path';
import { Transform } from 'node:stream';
import { type PollProbePoint, pollMailbox } from '../../functions/core/poll/poll-mailbox.js';
import type { RawStore } from '../../functions/core/ports.js';
import { FolderRawStore } from '../../functions/local/folder-raw-store.js';
import { SqliteStateStore } from '../../functions/local/sqlite-state-store.js';
import { Pop3Client } from '../../functions/pop3/client.js';
import type { DovecotFacts } from './dovecot.js';

interface CrashPlan {
  facts: DovecotFacts;
  account: { user: string; password: string };
  dir: string;
  mode: 'leave' | 'delete';
  point: PollProbePoint | 'mid-retr' | 'none';
  occurrence: number;
  leaseTtlMs: number;
  /** The state store's group commit (test/core/crash-safety.test.ts pins it to kill at a group's boundary). */
  groupCommit?: { windowMs: number; maxRecords: number };
}

const plan = JSON.parse(process.argv[2] ?? '{}') as CrashPlan;
const die = () => process.kill(process.pid, 'SIGKILL');

const folder = new FolderRawStore(path.join(plan.dir, 'mail'));
let bodyBytes = 0;
const store: RawStore =
  plan.point === 'mid-retr'
    ? {
        put: (input, kind) =>
          folder.put(
            input.pipe(
              new Transform({
                transform(chunk: Buffer, _enc, done) {
                  bodyBytes += chunk.length;
                  if (bodyBytes >= plan.occurrence * 1024) die();
                  done(null, chunk);
                },
              }),
            ),
            kind,
          ),
        get: (key) => folder.get(key),
        has: (key) => folder.has(key),
      }
    : folder;

let seen = 0;
const result = await pollMailbox(
  { name: 'inbox', mode: plan.mode, endpointIds: ['hook-a', 'hook-b'] },
  {
    state: new SqliteStateStore(path.join(plan.dir, 'state.db'), {
      ...(plan.groupCommit && { groupCommit: plan.groupCommit }),
    }),
    store,
    openSession: async () => {
      const client = await Pop3Client.connect({
        host: plan.facts.host,
        port: plan.facts.tlsPort,
        tls: 'implicit',
        ca: plan.facts.caPem,
        servername: plan.facts.servername,
      });
      await client.login({ username: plan.account.user, password: plan.account.password });
      return client;
    },
    probe: (point) => {
      if (point === plan.point && ++seen >= plan.occurrence) die();
    },
  },
  { force: true, leaseTtlMs: plan.leaseTtlMs },
);
process.stdout.write(
  `${JSON.stringify({ status: result.status, fetched: result.fetched, error: result.error?.code })}\n`,
);
