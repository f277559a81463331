/**
 * The e2e benchmark's "delivery beside the poll" run over time (issue 4): the
 * same mailbox, receiver and event-worker pool as bench/e2e-delivery.ts, with
 * a sample every 500 ms of the CPU each part used since the last one (this
 * process's main thread and how busy its event loop was, its event workers, its other threads — V8's and
 * libuv's —, Dovecot and the receiver) and the events the receiver verified,
 * and the moment the poll finished. A diagnostic, not a contest: it shows
 * the run's two phases (poll and delivery together, then delivery alone) and
 * which thread bounds each; the sampler's own reads cost a little CPU.
 *
 *   npx tsx bench/timeline.ts [--n N] [--repeats R] [--workers N]
 *
 * Event workers are told apart as in bench/threads.ts: threads that appeared
 * during the runs (the pool starts its workers on first use).
 */
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startDovecot } from '../test/support/dovecot.js';
import { processTreeCpuMs } from './cpu-time.js';
import { benchEventPool, runOurs, startReceiver, withoutOwnArgs, workersArg } from './e2e-delivery.js';
import { fillMailbox, mixedMessage } from './mailbox.js';
import { isMain, moveToTrash, parseArgs, table, tempDir } from './support.js';
import { repeatsArg, threadCpu } from './threads.js';

const SAMPLE_MS = 500;

/** CPU ms (user + system) of each thread of this process. */
async function threadCpuTotals(): Promise<Map<string, number>> {
  const totals = new Map<string, number>();
  for (const [tid, { user, system }] of await threadCpu()) totals.set(tid, user + system);
  return totals;
}

export async function timeline(): Promise<void> {
  const args = parseArgs(withoutOwnArgs(process.argv.slice(2), ['--repeats']));
  const n = args.n ?? (args.quick ? 500 : 5000);
  const repeats = repeatsArg(2);
  const dovecot = await startDovecot({ disposeDir: moveToTrash });
  const work = await tempDir('timeline', { afterDeletionsAged: true });
  const receiver = await startReceiver();
  const workers = workersArg();
  const pool = await benchEventPool(path.join(work, 'engine', 'store'), workers);
  try {
    const mailbox = await fillMailbox(dovecot, n, (i) => mixedMessage(i, 1));
    console.log(`mailbox: ${n} messages; event workers: ${workers}; a sample every ${SAMPLE_MS} ms`);
    const initial = new Set((await threadCpuTotals()).keys());
    for (let repeat = 0; repeat < repeats; repeat += 1) {
      const started = performance.now();
      const rows: string[][] = [];
      let pollEndMs: number | undefined;
      let running = true;
      const sampler = (async () => {
        let threads = await threadCpuTotals();
        let others = { receiver: processTreeCpuMs(receiver.pid!), dovecot: processTreeCpuMs(dovecot.pid!) };
        let verified = (await receiver.count()).verified;
        let loop = performance.eventLoopUtilization();
        // Bounded: a run that outlives 10 minutes of samples is not watched further.
        for (let sample = 0; running && sample < (10 * 60_000) / SAMPLE_MS; sample += 1) {
          await sleep(SAMPLE_MS);
          const nowThreads = await threadCpuTotals();
          const split = { main: 0, workers: 0, other: 0 };
          for (const [tid, ms] of nowThreads) {
            const used = ms - (threads.get(tid) ?? 0);
            if (tid === String(process.pid)) split.main += used;
            else if (!initial.has(tid)) split.workers += used;
            else split.other += used;
          }
          const nowOthers = { receiver: processTreeCpuMs(receiver.pid!), dovecot: processTreeCpuMs(dovecot.pid!) };
          const nowVerified = (await receiver.count()).verified;
          const nowLoop = performance.eventLoopUtilization();
          rows.push([
            ((performance.now() - started) / 1000).toFixed(1),
            pollEndMs === undefined ? 'yes' : '',
            String(split.main),
            `${Math.round(100 * performance.eventLoopUtilization(nowLoop, loop).utilization)}%`,
            String(split.workers),
            String(split.other),
            String(Math.round(nowOthers.dovecot - others.dovecot)),
            String(Math.round(nowOthers.receiver - others.receiver)),
            String(nowVerified - verified),
          ]);
          threads = nowThreads;
          others = nowOthers;
          verified = nowVerified;
          loop = nowLoop;
        }
      })();
      const ms = await runOurs(
        { work, dovecot, mailbox, receiver, pool, n, onPollEnd: (at) => (pollEndMs = at) },
        'beside',
      );
      running = false;
      await sampler;
      console.log(
        `\nrun ${repeat + 1}: ${(ms / 1000).toFixed(2)} s; the poll finished at ${((pollEndMs ?? 0) / 1000).toFixed(2)} s`,
      );
      console.log(
        table(
          [
            'at (s)',
            'polling',
            'main ms',
            'main loop busy',
            'workers ms',
            'V8 + libuv ms',
            'Dovecot ms',
            'receiver ms',
            'verified',
          ],
          rows,
        ),
      );
    }
  } finally {
    await pool?.close();
    receiver.stop();
    await dovecot.stop();
    await moveToTrash(work);
  }
}

if (isMain(import.meta.url)) await timeline();
