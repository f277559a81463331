/**
 * Benchmark (issue 4): peak RSS of a child process that stores AND delivers
 * one ~100 MiB message whose attachment decodes to ~75 MiB (base64 of a
 * 100 MiB message body): RETR streamed to the store, the event parsed with
 * streaming MailParser, the attachment streamed into the store, the event
 * POSTed to a receiver that verifies its signature. Target ≤ 160 MiB.
 *
 * The child runs twice over: under the tsx loader, as `bin/pop3-bridge.js` runs
 * local mode (the target figure), and as one esbuild bundle, as the Lambda
 * handlers run — the difference is the tsx loader thread, not the delivery
 * path (bench/rss-100mb.ts measured ~32 MiB for it).
 *
 *   npx tsx bench/rss-delivery.ts [--quick]     (--quick: a 20 MiB message)
 */
import { spawn } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { build } from 'esbuild';
import { Webhook } from 'standardwebhooks';
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
  parseArgs,
  REPEATS,
  REPO_DIR,
  removeDir,
  type SummaryRow,
  table,
  tempDir,
  writeSummary,
} from './support.js';

const TARGET_MIB = 160;
const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

interface Report {
  fetched: number;
  bytes: number;
  attachmentBytes: number;
  delivered: number;
  vmHwmKiB: number;
  ms: number;
}

type ChildKind = 'tsx' | 'bundle';

/** The child as one ESM bundle beside the repo's node_modules (better-sqlite3 stays external: it is native). */
async function bundleChild(): Promise<string> {
  const outfile = path.join(BENCH_DIR, '.work', 'store-and-deliver-one.mjs');
  await build({
    entryPoints: [path.join(BENCH_DIR, 'store-and-deliver-one.ts')],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    outfile,
    external: ['better-sqlite3'],
    logLevel: 'error',
    banner: { js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);" },
  });
  return outfile;
}

function runChild(entry: { kind: ChildKind; file: string }, args: string[]): Promise<Report> {
  return new Promise((resolve, reject) => {
    const argv = entry.kind === 'tsx' ? ['--import', 'tsx', entry.file, ...args] : [entry.file, ...args];
    const child = spawn(process.execPath, argv, { cwd: REPO_DIR });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 10 * 60_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code !== 0) reject(new Error(`store-and-deliver-one exited ${code}: ${err}`));
      else resolve(JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as Report);
    });
  });
}

export async function rssDelivery(args: BenchArgs): Promise<{ rows: SummaryRow[]; markdown: string }> {
  const sizeMiB = args.n ?? (args.quick ? 20 : 100);
  const message = bigMessage(sizeMiB * MiB);
  const dovecot = await startDovecot();
  const work = await tempDir('rss-delivery');
  let verified = 0;
  const webhook = new Webhook(SECRET);
  const receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', () => {
      webhook.verify(Buffer.concat(chunks).toString('utf8'), req.headers as Record<string, string>);
      verified += 1;
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
  try {
    const entries: Array<{ kind: ChildKind; file: string; label: string }> = [
      {
        kind: 'tsx',
        file: path.join(BENCH_DIR, 'store-and-deliver-one.ts'),
        label: 'child under tsx (as the CLI runs)',
      },
      { kind: 'bundle', file: await bundleChild(), label: 'child as an esbuild bundle' },
    ];
    const reportsByKind = new Map<ChildKind, Report[]>();
    for (const entry of entries) {
      const reports: Report[] = [];
      for (let r = 0; r < REPEATS; r += 1) {
        const mailbox = await fillMailbox(dovecot, 1, () => message);
        const accountFile = path.join(work, `account-${entry.kind}-${r}.json`);
        await writeChildAccount(accountFile, dovecot.facts, mailbox);
        const dir = path.join(work, `run-${entry.kind}-${r}`);
        await mkdir(dir, { recursive: true });
        const report = await runChild(entry, [accountFile, dir, url, SECRET]);
        if (report.fetched !== 1 || report.delivered !== 1) throw new Error(`run ${r}: ${JSON.stringify(report)}`);
        reports.push(report);
        console.log(
          `  ${entry.kind} run ${r + 1}: VmHWM ${(report.vmHwmKiB / 1024).toFixed(1)} MiB in ${fmt.ms(report.ms)}`,
        );
        await removeDir(dir);
      }
      reportsByKind.set(entry.kind, reports);
    }
    if (verified !== REPEATS * entries.length)
      throw new Error(`receiver verified ${verified} of ${REPEATS * entries.length}`);
    const peakOf = (kind: ChildKind) => median(reportsByKind.get(kind)!.map((r) => r.vmHwmKiB)) / 1024;
    const tsxReports = reportsByKind.get('tsx')!;
    const peak = peakOf('tsx');
    const peakMax = Math.max(...tsxReports.map((r) => r.vmHwmKiB)) / 1024;
    const first = tsxReports[0]!;
    const headers = ['child', 'message', 'attachment (decoded)', 'peak RSS (VmHWM, median)', 'runs (MiB)', 'time'];
    const rows = entries.map(({ kind, label }) => {
      const reports = reportsByKind.get(kind)!;
      return [
        `poll + store + parse + deliver, ${label}`,
        fmt.mib(first.bytes),
        fmt.mib(first.attachmentBytes),
        `${peakOf(kind).toFixed(1)} MiB`,
        reports.map((r) => (r.vmHwmKiB / 1024).toFixed(1)).join(' / '),
        fmt.ms(median(reports.map((r) => r.ms))),
      ];
    });
    console.log(`\nrss-delivery: one ${sizeMiB} MiB message, median of ${REPEATS} children each`);
    console.log(table(headers, rows));
    return {
      markdown: [
        `One ${sizeMiB} MiB message stored and delivered, median of ${REPEATS} child processes each:`,
        '',
        markdownTable(headers, rows),
      ].join('\n'),
      rows: [
        {
          bench: 'rss-delivery',
          figure: `peak RSS storing + delivering ${sizeMiB} MiB (child under tsx)`,
          value: `${peak.toFixed(1)} MiB (max ${peakMax.toFixed(1)}; bundled ${peakOf('bundle').toFixed(1)})`,
          target: `≤ ${TARGET_MIB} MiB`,
          met: peakMax <= TARGET_MIB,
        },
      ],
    };
  } finally {
    receiver.closeAllConnections();
    receiver.close();
    await dovecot.stop();
    await removeDir(work);
  }
}

if (isMain(import.meta.url)) {
  const args = parseArgs();
  const { rows, markdown } = await rssDelivery(args);
  await writeSummary(args, rows, markdown);
}
