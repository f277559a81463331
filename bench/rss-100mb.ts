import path from 'node:path';
import { build } from 'esbuild';
import { startDovecot } from '../test/support/dovecot.js';
import { bigMessage } from '../test/support/fixtures.js';
import { writeChildAccount } from './child-account.js';
import { fillMailbox } from './mailbox.js';
import {
  BENCH_DIR,
  type BenchArgs,
  fmt,
  isMain,
  MiB,
  markdownTable,
  median,
  moveToTrash,
  parseArgs,
  REPEATS,
  REPO_DIR,
  runAtSizes,
  runProcess,
  type SummaryRow,
  table,
  tempDir,
} from './support.js';

const TARGET_MIB = 100;

interface ChildReport {
  mode: string;
  vmHwmKiB: number;
  maxRssKiB: number;
  bytes: number;
  ms: number;
}

/**
 * The child runs as one esbuild bundle, as the Lambda functions do: under the tsx loader the
 * same child starts at ~78 MiB instead of ~46 MiB (tsx runs its module hooks on a separate thread),
 * which would measure our tooling rather than the fetch.
 */
async function bundleChild(dir: string): Promise<string> {
  const outfile = path.join(dir, 'fetch-one.mjs');
  await build({
    entryPoints: [path.join(BENCH_DIR, 'fetch-one.ts')],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    outfile,
    logLevel: 'error',
    banner: { js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);" },
  });
  return outfile;
}

async function child(bundle: string, args: string[]): Promise<ChildReport> {
  const result = await runProcess(process.execPath, [bundle, ...args], {
    timeoutMs: 10 * 60_000,
    cwd: REPO_DIR,
  });
  if (result.code !== 0) throw new Error(`fetch-one ${args[0]} exited with ${result.code}: ${result.stderr}`);
  const line = result.stdout.trim().split('\n').at(-1) ?? '';
  return JSON.parse(line) as ChildReport;
}

export async function rss100mb(args: BenchArgs): Promise<{ rows: SummaryRow[]; markdown: string }> {
  const sizeMiB = args.n ?? (args.quick ? 20 : 100);
  const message = bigMessage(sizeMiB * MiB);
  const dovecot = await startDovecot({ disposeDir: moveToTrash });
  const work = await tempDir('rss');
  try {
    const mailbox = await fillMailbox(dovecot, 1, () => message);
    const accountFile = path.join(work, 'account.json');
    await writeChildAccount(accountFile, dovecot.facts, mailbox);
    const out = path.join(work, 'message.eml');
    const bundle = await bundleChild(work);
    const baselines: ChildReport[] = [];
    const fetches: ChildReport[] = [];
    for (let r = 0; r < REPEATS; r += 1) {
      baselines.push(await child(bundle, ['baseline']));
      const fetched = await child(bundle, ['fetch', accountFile, out]);
      if (fetched.bytes !== message.length) {
        throw new Error(`fetch-one wrote ${fetched.bytes} bytes, expected ${message.length}`);
      }
      fetches.push(fetched);
      console.log(
        `  run ${r + 1}: baseline VmHWM ${(baselines.at(-1)!.vmHwmKiB / 1024).toFixed(1)} MiB, fetch VmHWM ${(fetched.vmHwmKiB / 1024).toFixed(1)} MiB in ${fmt.ms(fetched.ms)}`,
      );
    }
    const mib = (kib: number) => kib / 1024;
    const base = median(baselines.map((b) => b.vmHwmKiB));
    const peak = median(fetches.map((f) => f.vmHwmKiB));
    const peakMax = Math.max(...fetches.map((f) => f.vmHwmKiB));
    const ms = median(fetches.map((f) => f.ms));
    const headers = ['child', 'peak RSS (VmHWM, median)', 'runs (MiB)', 'time', 'MiB/s'];
    const rows = [
      [
        'baseline: imports only',
        `${mib(base).toFixed(1)} MiB`,
        baselines.map((b) => mib(b.vmHwmKiB).toFixed(1)).join(' / '),
        '',
        '',
      ],
      [
        `fetch one ${sizeMiB} MiB message`,
        `${mib(peak).toFixed(1)} MiB`,
        fetches.map((f) => mib(f.vmHwmKiB).toFixed(1)).join(' / '),
        fmt.ms(ms),
        fmt.mibps(message.length, ms),
      ],
      ['overhead of the fetch', `${mib(peak - base).toFixed(1)} MiB`, '', '', ''],
    ];
    console.log(`\nrss-100mb: one ${sizeMiB} MiB message (${message.length} bytes), median of ${REPEATS} children`);
    console.log(table(headers, rows));
    const markdown = [
      `One message of ${sizeMiB} MiB (${message.length} bytes, \`bigMessage(${sizeMiB}*1024*1024)\`), median of ${REPEATS} child processes:`,
      '',
      markdownTable(headers, rows),
    ].join('\n');
    return {
      markdown,
      rows: [
        {
          bench: 'rss-100mb',
          figure: `peak RSS fetching ${sizeMiB} MiB`,
          value: `${mib(peak).toFixed(1)} MiB (max ${mib(peakMax).toFixed(1)})`,
          target: `≤ ${TARGET_MIB} MiB`,
          met: mib(peakMax) <= TARGET_MIB,
        },
        {
          bench: 'rss-100mb',
          figure: 'of which baseline (imports)',
          value: `${mib(base).toFixed(1)} MiB`,
          target: '(reference)',
          met: true,
        },
      ],
    };
  } finally {
    await dovecot.stop();
    await moveToTrash(work);
  }
}

if (isMain(import.meta.url)) {
  // Issue 6 asks for peak RSS with 1 MB and 100 MB messages (1 MiB shows the floor the streaming path sits on).
  await runAtSizes(parseArgs(), [1, 100], rss100mb);
}
