/**
 * Benchmark 4: an idle poll (nothing new) of a big leave-mode mailbox
 * (10,000 and then 100,000 tiny messages; --n N or --quick: one size) on Dovecot, after each client's own first
 * full run:
 *
 *   ours         — pollMailbox in this process (a long-running bridge or a
 *                  warm Lambda): STAT + `UIDL n` against the stored cursor;
 *                  state-store round trips printed
 *   ours, cold   — the same poll in a fresh Node process (bench/idle-child.ts as an esbuild bundle, as the CLI runs),
 *                  timed from spawn to exit: what a cron-started poll pays
 *   fetchmail    — keep + uidl + `fastuidl 1` (binary search over `UIDL n`);
 *                  exit code 1 ("no new mail") is success here
 *   mpop         — keep + only_new (fetches the full UIDL listing)
 *   raw floor    — node:tls: connect, USER/PASS, STAT, `UIDL n`, QUIT and
 *                  nothing else: what any client pays (mostly Dovecot opening
 *                  a 100,000-message mailbox at login)
 *
 * All over implicit TLS to 127.0.0.1, 3 runs each in rotating order, median.
 * Target: ours faster than both.
 *
 *   npx tsx bench/idle-poll.ts [--quick] [--n N]
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { pollMailbox } from '../functions/core/poll/poll-mailbox.js';
import { FolderRawStore } from '../functions/local/folder-raw-store.js';
import { SqliteStateStore } from '../functions/local/sqlite-state-store.js';
import { startDovecot } from '../test/support/dovecot.js';
import { writeChildAccount } from './child-account.js';
import {
  connectOurs,
  countFiles,
  fetchmailSetup,
  mpopReset,
  mpopSetup,
  rawIdleFloor,
  runFetchmail,
  runMpop,
} from './contenders.js';
import { LEAVE_TARGET } from './local-poll.js';
import { fillMailbox, tinyMessage } from './mailbox.js';
import {
  type BenchArgs,
  bundleBenchChild,
  fmt,
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
  runAtSizes,
  runProcess,
  type SummaryRow,
  table,
  tempDir,
  timed,
} from './support.js';

const SEED = 7;

type Contender = 'ours' | 'ours, cold process' | 'fetchmail (fastuidl 1)' | 'mpop (only_new)' | 'raw floor';

export async function idlePoll(args: BenchArgs): Promise<{ rows: SummaryRow[]; markdown: string }> {
  await requireProgram('mpop');
  await requireProgram('fetchmail');
  const n = args.n ?? (args.quick ? 10_000 : 100_000);
  const dovecot = await startDovecot({ disposeDir: moveToTrash });
  const work = await tempDir('idle-poll');
  try {
    const fill = await timed(() =>
      fillMailbox(
        dovecot,
        n,
        (i) => tinyMessage(i, SEED),
        (done) => console.log(`  written ${done} of ${n}`),
      ),
    );
    const mailbox = fill.value;
    console.log(`mailbox: ${n} tiny messages, ${fmt.mib(mailbox.bytes)}, written in ${fmt.ms(fill.ms)}`);

    // First full runs, each client its own (timed for information only).
    const stateDir = path.join(work, 'ours');
    await mkdir(stateDir);
    const state = new SqliteStateStore(path.join(stateDir, 'state.db'));
    const store = new FolderRawStore(path.join(stateDir, 'store'));
    const deps = { state, store, openSession: () => connectOurs(dovecot.facts, mailbox) };
    try {
      const first = await timed(() => pollMailbox(LEAVE_TARGET, deps, { force: true }));
      if (first.value.status !== 'ok' || first.value.fetched !== n) {
        throw new Error(
          `first engine poll: ${first.value.status} ${first.value.error?.message ?? ''}, fetched ${first.value.fetched} of ${n}`,
        );
      }
      console.log(`first full poll: ours ${fmt.ms(first.ms)}`);

      const mpop = await mpopSetup(path.join(work, 'mpop'), dovecot.facts, mailbox);
      await mpopReset(mpop, true);
      const mpopFirst = await runMpop(mpop);
      const mpopFetched = await countFiles(path.join(mpop.maildir, 'new'));
      if (mpopFetched !== n) throw new Error(`mpop's first run delivered ${mpopFetched} of ${n}`);
      console.log(`first full poll: mpop ${fmt.ms(mpopFirst.ms)}`);

      const fetchmail = await fetchmailSetup(path.join(work, 'fetchmail'), dovecot.facts, mailbox);
      const fetchmailFirst = await runFetchmail(fetchmail);
      if (fetchmailFirst.code !== 0) throw new Error(`fetchmail's first run found nothing: ${fetchmailFirst.stderr}`);
      console.log(`first full poll: fetchmail ${fmt.ms(fetchmailFirst.ms)}`);

      const idleChild = await bundleBenchChild('idle-child.ts');
      const accountFile = path.join(work, 'account.json');
      await writeChildAccount(accountFile, dovecot.facts, mailbox);

      const roundTrips: number[] = [];
      const ours = async (): Promise<number> => {
        const before = state.stats().roundTrips;
        const { ms, value } = await timed(() => pollMailbox(LEAVE_TARGET, deps, { force: true }));
        if (value.status !== 'ok' || value.path !== 'idle' || value.fetched !== 0) {
          throw new Error(`idle poll: ${value.status} ${value.path} fetched ${value.fetched}`);
        }
        roundTrips.push(state.stats().roundTrips - before);
        return ms;
      };
      const coldPolls: Array<{ pollMs: number; roundTrips: number }> = [];
      const oursCold = async (): Promise<number> => {
        // Bundled, as `pop3-bridge poll` runs since 2026-11-27: what a cron-started poll pays, without a loader.
        const result = await runProcess(process.execPath, [idleChild, accountFile, stateDir], {
          timeoutMs: 5 * 60_000,
          cwd: REPO_DIR,
        });
        if (result.code !== 0) throw new Error(`idle-child exited with ${result.code}: ${result.stderr}`);
        const report = JSON.parse(result.stdout.trim().split('\n').at(-1) ?? '{}') as {
          status: string;
          path: string;
          fetched: number;
          roundTrips: number;
          pollMs: number;
        };
        if (report.status !== 'ok' || report.path !== 'idle' || report.fetched !== 0) {
          throw new Error(`cold idle poll: ${JSON.stringify(report)}`);
        }
        coldPolls.push(report);
        return result.ms;
      };
      const fetchmailIdle = async (): Promise<number> => {
        const result = await runFetchmail(fetchmail);
        if (result.code !== 1) throw new Error(`fetchmail idle run exited with ${result.code}: found new mail?`);
        return result.ms;
      };
      const mpopIdle = async (): Promise<number> => {
        await mpopReset(mpop, false);
        const result = await runMpop(mpop);
        const fetched = await countFiles(path.join(mpop.maildir, 'new'));
        if (fetched !== 0) throw new Error(`mpop idle run fetched ${fetched} messages`);
        return result.ms;
      };

      const results = await rotating<Contender>(
        REPEATS,
        [
          ['ours', ours],
          ['ours, cold process', oursCold],
          ['fetchmail (fastuidl 1)', fetchmailIdle],
          ['mpop (only_new)', mpopIdle],
          ['raw floor', async () => (await timed(() => rawIdleFloor(dovecot.facts, mailbox))).ms],
        ],
        (name, repeat, ms) => console.log(`  run ${repeat + 1}: ${name.padEnd(22)} ${fmt.ms(ms)}  (load ${load()})`),
      );

      const med = (k: Contender) => median(results[k]);
      const best = Math.min(med('fetchmail (fastuidl 1)'), med('mpop (only_new)'));
      const headers = ['contender', 'wall (median)', 'runs (ms)', 'vs fetchmail', 'vs mpop', 'state round trips'];
      const order: Contender[] = [
        'ours',
        'ours, cold process',
        'fetchmail (fastuidl 1)',
        'mpop (only_new)',
        'raw floor',
      ];
      const rows = order.map((k) => [
        k,
        fmt.ms(med(k)),
        fmt.runs(results[k]),
        fmt.ratio(med(k) / med('fetchmail (fastuidl 1)')),
        fmt.ratio(med(k) / med('mpop (only_new)')),
        k === 'ours'
          ? roundTrips.join(' / ')
          : k === 'ours, cold process'
            ? coldPolls.map((c) => c.roundTrips).join(' / ')
            : '',
      ]);
      console.log(`\nidle-poll: ${n} messages, nothing new, leave mode, median of ${REPEATS}`);
      console.log(table(headers, rows));
      console.log(`cold process: the poll itself took ${coldPolls.map((c) => fmt.ms(c.pollMs)).join(' / ')}`);
      const markdown = [
        `${n} tiny messages, nothing new, median of ${REPEATS} runs. First full runs (information): ours ${fmt.ms(first.ms)}, mpop ${fmt.ms(mpopFirst.ms)}, fetchmail ${fmt.ms(fetchmailFirst.ms)}. Cold process: the poll inside it took ${coldPolls.map((c) => fmt.ms(c.pollMs)).join(' / ')}; the rest is Node start-up and module loading.`,
        '',
        markdownTable(headers, rows),
      ].join('\n');
      return {
        markdown,
        rows: [
          {
            bench: 'idle-poll',
            figure: `ours idle poll, ${n} msgs (in process)`,
            value: `${fmt.ms(med('ours'))}, ${roundTrips[0] ?? '?'} state round trips`,
            target: '< fetchmail and < mpop',
            met: med('ours') < best,
          },
          {
            bench: 'idle-poll',
            figure: 'ours, cold process',
            value: fmt.ms(med('ours, cold process')),
            target: '< fetchmail and < mpop',
            met: med('ours, cold process') < best,
          },
          {
            bench: 'idle-poll',
            figure: 'fetchmail / mpop',
            value: `${fmt.ms(med('fetchmail (fastuidl 1)'))} / ${fmt.ms(med('mpop (only_new)'))}`,
            target: '(baselines)',
            met: true,
          },
        ],
      };
    } finally {
      await state.close();
    }
  } finally {
    await dovecot.stop();
    await moveToTrash(work);
  }
}

if (isMain(import.meta.url)) {
  // Issue 6 asks for the idle poll at 10k and 100k messages, each on a fresh Dovecot.
  await runAtSizes(parseArgs(), [10_000, 100_000], idlePoll);
}
