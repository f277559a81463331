/**
 * Where the CPU of the e2e benchmark goes, per thread (issue 4): the same
 * "delivery beside the poll" run as bench/e2e-delivery.ts (same mailbox,
 * receiver and event-worker pool), with each thread's CPU of this process
 * read from /proc/self/task before and after, the receiver's and Dovecot's
 * CPU beside them, and the main thread's event-loop utilisation. A
 * diagnostic, not a contest: no mpop here; the ratio is e2e-delivery's.
 *
 *   npx tsx bench/threads.ts [--n N] [--repeats R] [--workers N] [--verifier node-crypto|standardwebhooks]
 *
 * Thread names are all "node" in Node 20, so threads are labelled by how
 * they behave and when they came to be: the main thread is the process id; a
 * thread whose CPU is nearly all system time is libuv's pool (fsyncs); a
 * thread that appeared during the runs (the pool starts its workers on first
 * use) is an event worker; the rest are V8's platform threads (concurrent
 * marking, parallel scavenges, compilation).
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { constants, type PerformanceEntry, PerformanceObserver, performance } from 'node:perf_hooks';
import { startDovecot } from '../test/support/dovecot.js';
import { processTreeCpuMs } from './cpu-time.js';
import { benchEventPool, runOurs, startReceiver, verifierArg, withoutOwnArgs, workersArg } from './e2e-delivery.js';
import { fillMailbox, mixedMessage } from './mailbox.js';
import { fmt, isMain, load, moveToTrash, parseArgs, table, tempDir } from './support.js';

const SEED = 1;
/** /proc reports utime and stime in clock ticks; Linux's USER_HZ is 100. */
const MS_PER_TICK = 10;

export interface ThreadCpu {
  readonly user: number;
  readonly system: number;
  /**
   * Minor page faults: each one hands the thread a page it has not touched before. On this Firecracker VM
   * (free page reporting) such a page may also have to be faulted in by the host, so they cost far more
   * than on bare metal (see docs/performance.md, 2026-11-29 morning).
   */
  readonly minorFaults: number;
}

/** CPU ms and minor page faults of each thread of this process, by thread id. */
export async function threadCpu(): Promise<Map<string, ThreadCpu>> {
  const cpu = new Map<string, ThreadCpu>();
  for (const tid of await readdir('/proc/self/task')) {
    try {
      const stat = await readFile(`/proc/self/task/${tid}/stat`, 'utf8');
      // Fields after the command name (which may hold spaces): state is field 3, minflt 10, utime 14, stime 15.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      cpu.set(tid, {
        user: Number(fields[11]) * MS_PER_TICK,
        system: Number(fields[12]) * MS_PER_TICK,
        minorFaults: Number(fields[7]),
      });
    } catch {
      // The thread ended between readdir and readFile.
    }
  }
  return cpu;
}

/**
 * Counts the main thread's garbage collections (perf_hooks reports only the isolate it runs in). In warm runs
 * that thread runs a full GC every few hundred milliseconds, and the concurrent marking behind them is a large
 * part of "V8's platform threads". Removing the TLS layer's per-record Buffers did not make them much rarer,
 * so what drives them is not settled (docs/performance.md, 2026-11-28, both sections).
 */
function countMainThreadGcs(): { readonly counts: () => { full: number; young: number }; readonly stop: () => void } {
  let full = 0;
  let young = 0;
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries() as Array<PerformanceEntry & { detail?: { kind?: number } }>) {
      const kind = entry.detail?.kind;
      if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) full += 1;
      else if (kind === constants.NODE_PERFORMANCE_GC_MINOR) young += 1;
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  return { counts: () => ({ full, young }), stop: () => observer.disconnect() };
}

/** `--repeats R` (1–20), `fallback` without it. */
export function repeatsArg(fallback: number, argv: ReadonlyArray<string> = process.argv): number {
  const at = argv.indexOf('--repeats');
  const repeats = at === -1 ? fallback : Number.parseInt(argv[at + 1] ?? '', 10);
  if (!Number.isSafeInteger(repeats) || repeats < 1 || repeats > 20) throw new Error('--repeats needs 1–20');
  return repeats;
}

export async function threads(): Promise<void> {
  const args = parseArgs(withoutOwnArgs(process.argv.slice(2), ['--repeats']));
  const n = args.n ?? (args.quick ? 500 : 3000);
  const repeats = repeatsArg(3);
  const dovecot = await startDovecot({ disposeDir: moveToTrash });
  const work = await tempDir('threads', { afterDeletionsAged: true });
  const receiver = await startReceiver(verifierArg());
  const workers = workersArg();
  const pool = await benchEventPool(path.join(work, 'engine', 'store'), workers);
  try {
    const mailbox = await fillMailbox(dovecot, n, (i) => mixedMessage(i, SEED));
    console.log(`mailbox: ${n} messages, ${fmt.mib(mailbox.bytes)}; event workers: ${workers}`);
    const initial = new Set((await threadCpu()).keys());
    const gcs = countMainThreadGcs();
    for (let repeat = 0; repeat < repeats; repeat += 1) {
      const before = await threadCpu();
      const others = { receiver: processTreeCpuMs(receiver.pid!), dovecot: processTreeCpuMs(dovecot.pid!) };
      const elu = performance.eventLoopUtilization();
      const gcBefore = gcs.counts();
      const ms = await runOurs({ work, dovecot, mailbox, receiver, pool, n }, 'beside');
      const busy = performance.eventLoopUtilization(elu).utilization;
      // GC entries reach the observer asynchronously: one turn of the event loop lets those of the run's last
      // moments arrive (a diagnostic count; a GC at the very edge may land in the next run's).
      await new Promise((resolve) => setImmediate(resolve));
      const gcAfter = gcs.counts();
      const after = await threadCpu();
      const perMsg = (value: number) => (value / n).toFixed(2);
      const groups = new Map<string, { user: number; system: number; minorFaults: number; threads: number }>();
      for (const [tid, end] of after) {
        const start = before.get(tid) ?? { user: 0, system: 0, minorFaults: 0 };
        const user = end.user - start.user;
        const system = end.system - start.system;
        const minorFaults = end.minorFaults - start.minorFaults;
        if (user + system === 0) continue;
        const label =
          tid === String(process.pid)
            ? 'main thread (POP3, TLS, raw store, SQLite, HTTP)'
            : system >= 0.8 * (user + system)
              ? "libuv's pool (fsyncs)"
              : !initial.has(tid)
                ? 'event worker (parse, attachments, event body)'
                : "V8's platform threads (GC, compiler)";
        const group = groups.get(label) ?? { user: 0, system: 0, minorFaults: 0, threads: 0 };
        groups.set(label, {
          user: group.user + user,
          system: group.system + system,
          minorFaults: group.minorFaults + minorFaults,
          threads: group.threads + 1,
        });
      }
      const rows = [...groups]
        .sort((a, b) => b[1].user + b[1].system - (a[1].user + a[1].system))
        .map(([label, g]) => [
          label,
          String(g.threads),
          perMsg(g.user + g.system),
          perMsg(g.user),
          perMsg(g.system),
          (g.minorFaults / n).toFixed(1),
        ]);
      const bridge = [...groups.values()].reduce((sum, g) => sum + g.user + g.system, 0);
      const receiverMs = processTreeCpuMs(receiver.pid!) - others.receiver;
      const dovecotMs = processTreeCpuMs(dovecot.pid!) - others.dovecot;
      rows.push(['all of the bridge', '', perMsg(bridge), '', '', '']);
      rows.push(['receiver (its own process)', '', perMsg(receiverMs), '', '', '']);
      rows.push(['Dovecot', '', perMsg(dovecotMs), '', '', '']);
      console.log(
        `\nrun ${repeat + 1}: ${fmt.ms(ms)}, ${(ms / n).toFixed(2)} ms per message; main thread busy ${(busy * 100).toFixed(0)} %; ` +
          `cores busy ${((bridge + receiverMs + dovecotMs) / ms).toFixed(2)}; load ${load()}\n` +
          `main thread GCs: ${gcAfter.full - gcBefore.full} full (mark-compact), ${gcAfter.young - gcBefore.young} young (scavenge)`,
      );
      console.log(table(['thread', 'threads', 'CPU ms/msg', 'user', 'system', 'minor faults/msg'], rows));
    }
    gcs.stop();
  } finally {
    await pool?.close();
    receiver.stop();
    await dovecot.stop();
    await moveToTrash(work);
  }
}

if (isMain(import.meta.url)) await threads();
