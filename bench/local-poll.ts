/**
 * Benchmark 3: the poll engine in local mode — FolderRawStore + SqliteStateStore,
 * leave mode, one webhook endpoint — fetching a whole mailbox (default N = 5000
 * mixed messages, the same generator and seed as client-fetch) on its first
 * poll, against mpop on the same mailbox in the same run. Target: ours ≤ 1.0×
 * mpop's wall time.
 *
 * The engine promises more than mpop: each message is SHA-256 hashed, fsynced,
 * renamed into place with a directory fsync, and recorded with its delivery
 * job in one SQLite transaction (WAL, synchronous=FULL) before the next one
 * counts as stored. A diagnostic row runs the same engine with its store and
 * state on tmpfs (/dev/shm), where fsync costs nothing, to show how much of
 * the time is durability.
 *
 *   npx tsx bench/local-poll.ts [--quick] [--n N]
 */
import { access, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { type PollTarget, pollMailbox } from '../functions/core/poll/poll-mailbox.js';
import { FolderRawStore } from '../functions/local/folder-raw-store.js';
import { SqliteStateStore } from '../functions/local/sqlite-state-store.js';
import { startDovecot } from '../test/support/dovecot.js';
import { connectOurs, countFiles, mpopReset, mpopSetup, runMpop } from './contenders.js';
import { fillMailbox, mixedMessage } from './mailbox.js';
import {
  type BenchArgs,
  fmt,
  isMain,
  load,
  MiB,
  markdownTable,
  median,
  moveToTrash,
  parseArgs,
  REPEATS,
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
const SHM = '/dev/shm';

type Contender = 'ours (engine, local mode)' | 'mpop' | 'ours, store+state on tmpfs';

export const LEAVE_TARGET: PollTarget = { name: 'inbox', mode: 'leave', endpointIds: ['hook'] };

export async function localPoll(args: BenchArgs): Promise<{ rows: SummaryRow[]; markdown: string }> {
  await requireProgram('mpop');
  const n = args.n ?? (args.quick ? 500 : 5000);
  const dovecot = await startDovecot({ disposeDir: moveToTrash });
  const work = await tempDir('local-poll', { afterDeletionsAged: true });
  const shmAvailable = await access(SHM).then(
    () => true,
    () => false,
  );
  try {
    const fill = await timed(() => fillMailbox(dovecot, n, (i) => mixedMessage(i, SEED)));
    const mailbox = fill.value;
    console.log(
      `mailbox: ${n} messages, ${fmt.mib(mailbox.bytes)} (mean ${(mailbox.bytes / n / 1024).toFixed(1)} KiB), written in ${fmt.ms(fill.ms)}`,
    );
    const warm = await connectOurs(dovecot.facts, mailbox);
    await warm.uidl();
    await warm.quit();

    const mpop = await mpopSetup(path.join(work, 'mpop'), dovecot.facts, mailbox);
    const roundTrips: number[] = [];

    const engine = async (base: string): Promise<number> => {
      const dir = path.join(base, 'engine');
      await setAside(dir);
      await mkdir(dir, { recursive: true });
      const state = new SqliteStateStore(path.join(dir, 'state.db'));
      const store = new FolderRawStore(path.join(dir, 'store'));
      try {
        const before = state.stats().roundTrips;
        const { ms, value } = await timed(() =>
          pollMailbox(
            LEAVE_TARGET,
            { state, store, openSession: () => connectOurs(dovecot.facts, mailbox) },
            { force: true },
          ),
        );
        if (value.status !== 'ok' || value.fetched !== n || value.bytes !== mailbox.bytes) {
          throw new Error(
            `engine poll: ${value.status} ${value.error?.code ?? ''} ${value.error?.message ?? ''}, fetched ${value.fetched} of ${n}, ${value.bytes} bytes`,
          );
        }
        if (base === work) roundTrips.push(state.stats().roundTrips - before);
        return ms;
      } finally {
        await state.close();
        await setAside(dir);
      }
    };

    const runMpopOnce = async (): Promise<number> => {
      await mpopReset(mpop, true);
      const { ms } = await runMpop(mpop);
      const delivered = await countFiles(path.join(mpop.maildir, 'new'));
      if (delivered !== n) throw new Error(`mpop delivered ${delivered} of ${n}`);
      return ms;
    };

    const shmBase = path.join(SHM, path.basename(work));
    const steps: Array<readonly [Contender, () => Promise<number>]> = [
      ['ours (engine, local mode)', () => engine(work)],
      ['mpop', runMpopOnce],
    ];
    if (shmAvailable) steps.push(['ours, store+state on tmpfs', () => engine(shmBase)]);
    let results: Record<Contender, number[]>;
    try {
      results = await rotating<Contender>(REPEATS, steps, (name, repeat, ms) =>
        console.log(`  run ${repeat + 1}: ${name.padEnd(26)} ${fmt.ms(ms)}  (load ${load()})`),
      );
    } finally {
      await moveToTrash(shmBase);
    }

    const med = (k: Contender) => median(results[k]);
    const headers = ['contender', 'wall (median)', 'runs (ms)', 'msgs/s', 'MiB/s', 'vs mpop'];
    const rows = steps.map(([k]) => [
      k,
      fmt.ms(med(k)),
      fmt.runs(results[k]),
      fmt.rate(n, med(k)),
      fmt.mibps(mailbox.bytes, med(k)),
      fmt.ratio(med(k) / med('mpop')),
    ]);
    console.log(`\nlocal-poll: N=${n}, ${fmt.mib(mailbox.bytes)}, first poll, leave mode, median of ${REPEATS}`);
    console.log(table(headers, rows));
    console.log(`state-store round trips per full poll: ${roundTrips.join(' / ')}`);
    const ratio = med('ours (engine, local mode)') / med('mpop');
    const markdown = [
      `N = ${n} messages, ${(mailbox.bytes / MiB).toFixed(1)} MiB, first (full) poll into an empty store, median of ${REPEATS} runs; state-store round trips per poll: ${roundTrips[0] ?? '?'}:`,
      '',
      markdownTable(headers, rows),
    ].join('\n');
    return {
      markdown,
      rows: [
        {
          bench: 'local-poll',
          figure: `engine first poll, N=${n}`,
          value: `${fmt.ms(med('ours (engine, local mode)'))} (${fmt.mibps(mailbox.bytes, med('ours (engine, local mode)'))} MiB/s)`,
          target: '≤ 1.00× mpop',
          met: ratio <= 1,
        },
        { bench: 'local-poll', figure: 'engine / mpop', value: fmt.ratio(ratio), target: '≤ 1.00×', met: ratio <= 1 },
      ],
    };
  } finally {
    await dovecot.stop();
    await moveToTrash(work);
  }
}

if (isMain(import.meta.url)) {
  const args = parseArgs();
  const { rows, markdown } = await localPoll(args);
  await writeSummary(args, rows, markdown);
}
