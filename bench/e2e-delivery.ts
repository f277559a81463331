/**
 * Benchmark (issue 4): end to end in local mode — the first poll of the N-message
 * mailbox into folder + SQLite, then delivery of every event to a loopback
 * receiver that verifies each Standard Webhooks signature (with `node:crypto`,
 * every 50th also with the official `standardwebhooks` package; `--verifier
 * standardwebhooks` uses the package for all, see receiver-child.ts) —
 * against mpop fetching the same mailbox in the same run.
 * Target: ours ≥ 0.5× mpop's msgs/s. The headline runs delivery beside the
 * poll, as `pop3-bridge run` does; poll, then deliver is measured too. Last it
 * prints what the target leaves the bridge in this run (`bridgeBudget`): the
 * CPU per message it may use, from mpop's time, the cores busy and what
 * Dovecot and the receiver used, so a change can be judged against the gap
 * rather than only against a ratio that moves with mpop's own spread.
 *
 * The receiver runs in a child process so its CPU is not charged to the bridge
 * process (it still shares the machine's two cores, as a real receiver on the
 * same host would).
 *
 * Delivery is wired as local mode's runtime wires it: links signed by the local
 * link signer, events built by `--workers N` worker threads (default as the
 * CLI: `defaultEventWorkers()`; 0 builds them on the main thread), one pool
 * for all runs as `pop3-bridge run` keeps one for its life.
 *
 *   npx tsx bench/e2e-delivery.ts [--quick] [--n N] [--workers N] [--verifier node-crypto|standardwebhooks]
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { pollMailbox } from '../functions/core/poll/poll-mailbox.js';
import type { DeliveryDeps } from '../functions/delivery/delivery-engine.js';
import { deliverDue } from '../functions/delivery/delivery-engine.js';
import { eventSource } from '../functions/delivery/event-source.js';
import { AllowList } from '../functions/delivery/ssrf-guard.js';
import { defaultEventWorkers, EventWorkerPool, pooledEventSource } from '../functions/local/event-worker-pool.js';
import { FolderRawStore } from '../functions/local/folder-raw-store.js';
import { localLinkSigner } from '../functions/local/link-server.js';
import { SqliteStateStore } from '../functions/local/sqlite-state-store.js';
import { type DovecotInstance, type MailboxCredentials, startDovecot } from '../test/support/dovecot.js';
import { connectOurs, countFiles, mpopReset, mpopSetup, runMpop } from './contenders.js';
import { exitedChildrenCpuMs, ownCpuMs, processTreeCpuMs } from './cpu-time.js';
import { LEAVE_TARGET } from './local-poll.js';
import { fillMailbox, mixedMessage } from './mailbox.js';
import {
  BENCH_DIR,
  type BenchArgs,
  bundleForBench,
  fileCreateCpuUs,
  fmt,
  ioWaitMs,
  isMain,
  load,
  markdownTable,
  median,
  moveToTrash,
  parseArgs,
  REPEATS,
  REPO_DIR,
  requireProgram,
  rotating,
  type SummaryRow,
  setAside,
  table,
  tempDir,
  timed,
  writeSummary,
} from './support.js';

const SEED = 1;
export const RECEIVER_SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const SECRET = RECEIVER_SECRET;
/**
 * How the benchmark (and bench/profile.ts deliver) drains the queue: rounds back to back, as `pop3-bridge run`
 * does since 4666a45 (before it, run waited for its next scheduler pass between rounds). Its rounds are larger
 * than run's (deliverDue's defaults, 100 jobs and 4 at once); alternated 2026-11-28 15:32–15:40 UTC, 100/4
 * measured "beside" 15.2 / 13.9 s against 12.1 / 13.5 s with these: perhaps a little slower, not clearly beyond
 * this machine's spread of ±10–20 %, so run keeps its smaller rounds (fewer large messages parsed at once).
 * Since 2026-11-29 run's rounds also refill (deliverDue's `refill`: they claim newly due jobs while they wait on
 * requests in flight, see delivery-engine.ts); here, with one endpoint that always answers, that made no
 * difference beyond the spread (`bench/threads.ts --n 2000 --repeats 2`, alternated twice, 07:10–07:16 UTC: warm runs
 * 6.1 / 6.8 s without, 6.5 / 7.0 s with; bridge 4.05 / 4.45 against 4.22 / 4.57 ms per message), so the rounds
 * here stay as they were.
 */
export const DELIVERY_OPTIONS = { limit: 200, concurrency: 8 } as const;

/** The target (issue 4): ours at least this fraction of mpop's msgs/s. */
const TARGET_RATIO = 0.5;
const BESIDE = 'ours: deliver beside poll (as run)';
const SEQUENTIAL = 'ours: poll, then deliver';
type Contender = typeof BESIDE | typeof SEQUENTIAL | 'mpop (fetch only)';

/**
 * `--workers N`: event-builder worker threads, as `openLocalRuntime` wires them (default
 * `defaultEventWorkers()`); `--workers 0` builds events on the main thread.
 */
export function workersArg(argv: ReadonlyArray<string> = process.argv): number {
  const at = argv.indexOf('--workers');
  const workers = at === -1 ? defaultEventWorkers() : Number.parseInt(argv[at + 1] ?? '', 10);
  if (!Number.isSafeInteger(workers) || workers < 0) throw new Error('--workers needs a whole number ≥ 0');
  return workers;
}

export type Verifier = 'node-crypto' | 'standardwebhooks';

/**
 * `--verifier standardwebhooks`: the receiver verifies every signature with the official package (pure
 * JavaScript HMAC, 0.2–0.7 ms per event here); default `node-crypto` (every 50th cross-checked with the
 * package). bench/receiver-child.ts says why.
 */
export function verifierArg(argv: ReadonlyArray<string> = process.argv): Verifier {
  const at = argv.indexOf('--verifier');
  const verifier = at === -1 ? 'node-crypto' : argv[at + 1];
  if (verifier !== 'node-crypto' && verifier !== 'standardwebhooks') {
    throw new Error('--verifier needs node-crypto or standardwebhooks');
  }
  return verifier;
}

/**
 * The arguments bench/support.ts's parseArgs knows: `--workers N`, `--verifier V` and any `more` options (each
 * with one value) taken out.
 */
export function withoutOwnArgs(
  argv: ReadonlyArray<string> = process.argv.slice(2),
  more: ReadonlyArray<string> = [],
): string[] {
  const rest = [...argv];
  for (const name of ['--workers', '--verifier', ...more]) {
    const at = rest.indexOf(name);
    if (at !== -1) rest.splice(at, 2);
  }
  return rest;
}

/**
 * event-worker.ts as an esbuild bundle, the way the CLI's workers load it (the CLI is one bundle): a worker
 * started from the TypeScript sources would spend a second or more of CPU compiling them through tsx, which
 * the product never pays.
 */
export async function bundledEventWorker(): Promise<string> {
  return pathToFileURL(await bundleForBench(path.join(REPO_DIR, 'functions', 'local', 'event-worker.ts'))).href;
}

export const BENCH_LINKS = { baseUrl: 'http://127.0.0.1:8025', key: Buffer.alloc(32, 7), ttlSeconds: 7 * 86_400 };

/**
 * Event-builder workers for a store directory, started from the bundled worker module. A benchmark keeps
 * one pool for all its runs, as `pop3-bridge run` keeps its workers for its whole life: the main thread's
 * JIT is warm after the first run, and so are the workers'.
 */
export async function benchEventPool(storeDir: string, workers: number): Promise<EventWorkerPool | undefined> {
  if (workers === 0) return undefined;
  return new EventWorkerPool({ storeDir, links: BENCH_LINKS, workers, workerUrl: await bundledEventWorker() });
}

/** Delivery wired as local mode's runtime wires it (functions/local/runtime.ts), to one receiver. */
export function benchDeliveryDeps(
  state: SqliteStateStore,
  store: FolderRawStore,
  receiverUrl: string,
  pool: EventWorkerPool | undefined,
): DeliveryDeps {
  const eventDeps = { store, state, links: localLinkSigner(BENCH_LINKS) };
  return {
    state,
    endpointFor: () => ({ id: 'hook', url: receiverUrl, secrets: [SECRET], allowHttp: true }),
    eventFor: pool ? pooledEventSource(pool, eventDeps) : eventSource(eventDeps),
    allow: new AllowList(['127.0.0.1']),
  };
}

export interface Receiver {
  readonly url: string;
  readonly pid: number | undefined;
  count(): Promise<{ verified: number; bad: number }>;
  stop(): void;
}

export async function startReceiver(verifier: Verifier = 'node-crypto'): Promise<Receiver> {
  const child: ChildProcess = spawn(
    process.execPath,
    ['--import', 'tsx', path.join(BENCH_DIR, 'receiver-child.ts'), SECRET, verifier],
    {
      stdio: ['pipe', 'pipe', 'inherit'],
    },
  );
  const lines = createInterface({ input: child.stdout! });
  const waiters: Array<(line: string) => void> = [];
  lines.on('line', (line) => waiters.shift()?.(line));
  const next = () => new Promise<string>((resolve) => waiters.push(resolve));
  const url = await next();
  return {
    url,
    pid: child.pid,
    async count() {
      const reply = next();
      child.stdin!.write('count\n');
      return JSON.parse(await reply) as { verified: number; bad: number };
    },
    stop: () => child.kill('SIGTERM'),
  };
}

interface CpuSplit {
  /** The bridge (this process) or mpop (an exited child). */
  readonly client: number;
  readonly dovecot: number;
  readonly receiver: number;
}

function cpuNow(dovecotPid: number | undefined, receiverPid: number | undefined): CpuSplit {
  return {
    client: ownCpuMs() + exitedChildrenCpuMs(),
    dovecot: dovecotPid === undefined ? 0 : processTreeCpuMs(dovecotPid),
    receiver: receiverPid === undefined ? 0 : processTreeCpuMs(receiverPid),
  };
}

function cpuSince(before: CpuSplit, after: CpuSplit): CpuSplit {
  return {
    client: after.client - before.client,
    dovecot: after.dovecot - before.dovecot,
    receiver: after.receiver - before.receiver,
  };
}

export type OursMode = 'sequential' | 'beside';

export interface OursSetup {
  /** The benchmark's work directory: ours stores into `<work>/engine`, set aside before and after each run. */
  readonly work: string;
  readonly dovecot: DovecotInstance;
  readonly mailbox: MailboxCredentials;
  readonly receiver: Receiver;
  readonly pool: EventWorkerPool | undefined;
  /** Messages in the mailbox: the poll must fetch them all and the receiver verify them all. */
  readonly n: number;
  /** Told when the poll has finished, in ms since the run started (bench/timeline.ts). */
  readonly onPollEnd?: (ms: number) => void;
}

/**
 * Ours, two ways: `sequential` polls everything, then delivers; `beside` runs
 * delivery rounds beside the poll as `pop3-bridge run` does (functions/cli/commands/run.ts),
 * so events go out while later messages are still being fetched. Either way
 * the clock stops when the receiver has verified all N. Returns the wall time in ms.
 */
export async function runOurs(setup: OursSetup, mode: OursMode): Promise<number> {
  const { work, dovecot, mailbox, receiver, pool, n } = setup;
  const dir = path.join(work, 'engine');
  await setAside(dir);
  await mkdir(dir, { recursive: true });
  const state = new SqliteStateStore(path.join(dir, 'state.db'));
  const store = new FolderRawStore(path.join(dir, 'store'));
  const before = await receiver.count();
  const deps = benchDeliveryDeps(state, store, receiver.url, pool);
  let polling = true;
  const poll = async () => {
    try {
      const polled = await pollMailbox(
        LEAVE_TARGET,
        { state, store, openSession: () => connectOurs(dovecot.facts, mailbox) },
        { force: true },
      );
      if (polled.status !== 'ok' || polled.fetched !== n)
        throw new Error(`poll: ${polled.status} ${polled.fetched}/${n}`);
    } finally {
      polling = false;
      setup.onPollEnd?.(performance.now() - started);
    }
  };
  const deliver = async () => {
    for (let round = 0; round < 100_000; round += 1) {
      const pollWasRunning = polling;
      const result = await deliverDue(deps, DELIVERY_OPTIONS);
      if (result.attempted > 0) continue;
      if (!pollWasRunning) return;
      await sleep(20); // nothing due yet: the poll has not stored more
    }
    throw new Error('delivery did not finish');
  };
  const started = performance.now();
  try {
    const { ms } = await timed(async () => {
      if (mode === 'sequential') {
        await poll();
        await deliver();
      } else {
        await Promise.all([poll(), deliver()]);
      }
    });
    const after = await receiver.count();
    if (after.verified - before.verified !== n || after.bad !== before.bad) {
      throw new Error(`receiver verified ${after.verified - before.verified} of ${n}, ${after.bad - before.bad} bad`);
    }
    return ms;
  } finally {
    await state.close();
    await setAside(dir);
  }
}

/**
 * What the target leaves the bridge, from one run's own figures. The run may take at most `1 / target` of
 * mpop's time; on `cores` cores kept `coresBusy` busy on average, that is a CPU budget per message for the
 * bridge, Dovecot and the receiver together, and what Dovecot and the receiver use is not the bridge's to
 * spend. Given twice: at the cores our run kept busy, and with every core busy all the time (no scheduler or
 * pipeline can do better than that).
 */
export function bridgeBudget(run: {
  readonly target: number;
  readonly n: number;
  readonly mpopMs: number;
  readonly cores: number;
  readonly coresBusy: number;
  readonly dovecotMsPerMsg: number;
  readonly receiverMsPerMsg: number;
}): { readonly wallMs: number; readonly atCoresBusy: number; readonly atAllCores: number } {
  const wallMs = run.mpopMs / run.target;
  const others = run.dovecotMsPerMsg + run.receiverMsPerMsg;
  return {
    wallMs,
    atCoresBusy: (wallMs * run.coresBusy) / run.n - others,
    atAllCores: (wallMs * run.cores) / run.n - others,
  };
}

export async function e2eDelivery(args: BenchArgs): Promise<{ rows: SummaryRow[]; markdown: string }> {
  await requireProgram('mpop');
  const n = args.n ?? (args.quick ? 500 : 5000);
  const workers = workersArg();
  const verifier = verifierArg();
  const dovecot = await startDovecot({ disposeDir: moveToTrash });
  const work = await tempDir('e2e-delivery', { afterDeletionsAged: true });
  const receiver = await startReceiver(verifier);
  // Every run of ours stores into this same directory (set aside before each run, see setAside).
  const pool = await benchEventPool(path.join(work, 'engine', 'store'), workers);
  try {
    const mailbox = await fillMailbox(dovecot, n, (i) => mixedMessage(i, SEED));
    console.log(
      `mailbox: ${n} messages, ${fmt.mib(mailbox.bytes)}; receiver ${receiver.url} (verifies with ${verifier}); event workers: ${workers}`,
    );
    const mpop = await mpopSetup(path.join(work, 'mpop'), dovecot.facts, mailbox);
    // Ours creates two files per message of this mailbox (the raw message and its attachment), mpop one.
    const createUs = fileCreateCpuUs(work);
    console.log(`file system: ${createUs.toFixed(0)} µs of CPU per file created in ${work}`);

    const ours = (mode: OursMode) => runOurs({ work, dovecot, mailbox, receiver, pool, n }, mode);
    const runMpopOnce = async (): Promise<number> => {
      await mpopReset(mpop, true);
      const { ms } = await runMpop(mpop);
      const delivered = await countFiles(path.join(mpop.maildir, 'new'));
      if (delivered !== n) throw new Error(`mpop delivered ${delivered} of ${n}`);
      return ms;
    };
    const steps: Array<readonly [Contender, () => Promise<number>]> = [
      [BESIDE, () => ours('beside')],
      [SEQUENTIAL, () => ours('sequential')],
      ['mpop (fetch only)', runMpopOnce],
    ];
    // Where each run's CPU went, per process, so the ratio can be read against what two cores can do.
    const cpu = Object.fromEntries(steps.map(([k]) => [k, [] as CpuSplit[]])) as Record<Contender, CpuSplit[]>;
    let ioWaitOfRun = 0;
    const accounted = steps.map(
      ([name, step]) =>
        [
          name,
          async () => {
            const before = cpuNow(dovecot.pid, receiver.pid);
            const ioWaitBefore = ioWaitMs();
            const ms = await step();
            ioWaitOfRun = ioWaitMs() - ioWaitBefore;
            cpu[name].push(cpuSince(before, cpuNow(dovecot.pid, receiver.pid)));
            return ms;
          },
        ] as const,
    );
    const results = await rotating<Contender>(REPEATS, accounted, (name, repeat, ms) =>
      console.log(
        `  run ${repeat + 1}: ${name.padEnd(32)} ${fmt.ms(ms)}  (load ${load()}; CPUs waiting for the disk ${fmt.ms(ioWaitOfRun)})`,
      ),
    );
    const med = (k: Contender) => median(results[k]);
    const rate = (k: Contender) => n / (med(k) / 1000);
    const headers = ['contender', 'wall (median)', 'runs (ms)', 'msgs/s', 'msgs/s vs mpop'];
    const rows = steps.map(([k]) => [
      k,
      fmt.ms(med(k)),
      fmt.runs(results[k]),
      fmt.rate(n, med(k)),
      `${(rate(k) / rate('mpop (fetch only)')).toFixed(2)}×`,
    ]);
    console.log(`\ne2e-delivery: N=${n}, ${fmt.mib(mailbox.bytes)}, median of ${REPEATS}, load ${load()}`);
    console.log(table(headers, rows));
    const cpuHeaders = ['contender', 'bridge or mpop', 'Dovecot', 'receiver', 'total', 'total / wall (cores busy)'];
    const perMsg = (ms: number) => `${(ms / n).toFixed(2)} ms`;
    const cpuRows = steps.map(([k]) => {
      const split = (part: keyof CpuSplit) => median(cpu[k].map((c) => c[part]));
      const total = split('client') + split('dovecot') + split('receiver');
      return [
        k,
        perMsg(split('client')),
        perMsg(split('dovecot')),
        perMsg(split('receiver')),
        perMsg(total),
        (total / med(k)).toFixed(2),
      ];
    });
    console.log(`\nCPU per message (user + system, median of ${REPEATS}):`);
    console.log(table(cpuHeaders, cpuRows));
    const besideCpu = (part: keyof CpuSplit) => median(cpu[BESIDE].map((c) => c[part])) / n;
    const [bridgeMs, dovecotMs, receiverMs] = [besideCpu('client'), besideCpu('dovecot'), besideCpu('receiver')];
    const cores = availableParallelism();
    const budget = bridgeBudget({
      target: TARGET_RATIO,
      n,
      mpopMs: med('mpop (fetch only)'),
      cores,
      coresBusy: (n * (bridgeMs + dovecotMs + receiverMs)) / med(BESIDE),
      dovecotMsPerMsg: dovecotMs,
      receiverMsPerMsg: receiverMs,
    });
    const cut = (limit: number) =>
      limit >= bridgeMs ? 'met' : `${Math.round((1 - limit / bridgeMs) * 100)} % less needed`;
    const budgetLine =
      `What ${TARGET_RATIO}× leaves the bridge ("beside", this run's figures): the run within ${fmt.ms(budget.wallMs)}; ` +
      `after Dovecot's and the receiver's CPU, ≤ ${budget.atCoresBusy.toFixed(2)} ms of CPU per message at the cores ` +
      `this run kept busy (${cut(budget.atCoresBusy)}), ≤ ${budget.atAllCores.toFixed(2)} ms with all ` +
      `${cores} busy all the time (${cut(budget.atAllCores)}); it used ${bridgeMs.toFixed(2)} ms.`;
    console.log(`\n${budgetLine}`);
    // The headline is delivery beside the poll, as `pop3-bridge run` does it (faster since events are built
    // in a worker thread); poll-then-deliver is given beside it.
    const ratio = rate(SEQUENTIAL) / rate('mpop (fetch only)');
    const besideRatio = rate(BESIDE) / rate('mpop (fetch only)');
    return {
      markdown: [
        `N = ${n} messages, ${fmt.mib(mailbox.bytes)}, median of ${REPEATS} runs:`,
        '',
        markdownTable(headers, rows),
        '',
        `CPU per message (user + system; the receiver verifies every signature with ${verifier}):`,
        '',
        markdownTable(cpuHeaders, cpuRows),
        '',
        budgetLine,
        '',
        `File system at the time: ${createUs.toFixed(0)} µs of CPU per file created (ours creates two per message, mpop one).`,
      ].join('\n'),
      rows: [
        {
          bench: 'e2e-delivery',
          figure: `poll + delivery N=${n} as \`run\` does it (delivery beside the poll), msgs/s vs mpop fetch`,
          value:
            `${fmt.rate(n, med(BESIDE))} msgs/s = ${besideRatio.toFixed(2)}× mpop ` +
            `(poll, then deliver: ${ratio.toFixed(2)}×; ${createUs.toFixed(0)} µs per file create; receiver verifies with ${verifier}; load ${load()})`,
          target: `≥ ${TARGET_RATIO}×`,
          met: besideRatio >= TARGET_RATIO,
        },
      ],
    };
  } finally {
    await pool?.close();
    receiver.stop();
    await dovecot.stop();
    await moveToTrash(work);
  }
}

if (isMain(import.meta.url)) {
  const args = parseArgs(withoutOwnArgs());
  const { rows, markdown } = await e2eDelivery(args);
  await writeSummary(args, rows, markdown);
}
