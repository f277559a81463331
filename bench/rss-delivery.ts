/**
 * Benchmark (issue 4): peak RSS of a child process that stores AND delivers
 * one ~100 MiB message whose attachment decodes to ~75 MiB (base64 of a
 * 100 MiB message body): RETR streamed to the store, the event parsed with
 * streaming MailParser, the attachment streamed into the store, the event
 * POSTed to a receiver that verifies its signature. Target ≤ 160 MiB.
 *
 *   npx tsx bench/rss-delivery.ts [--quick]     (--quick: a 20 MiB message)
 */
import { spawn } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
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

function runChild(args: string[]): Promise<Report> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', path.join(BENCH_DIR, 'store-and-deliver-one.ts'), ...args],
      {
        cwd: REPO_DIR,
      },
    );
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
    const reports: Report[] = [];
    for (let r = 0; r < REPEATS; r += 1) {
      const mailbox = await fillMailbox(dovecot, 1, () => message);
      const accountFile = path.join(work, `account-${r}.json`);
      await writeChildAccount(accountFile, dovecot.facts, mailbox);
      const dir = path.join(work, `run-${r}`);
      await mkdir(dir, { recursive: true });
      const report = await runChild([accountFile, dir, url, SECRET]);
      if (report.fetched !== 1 || report.delivered !== 1) throw new Error(`run ${r}: ${JSON.stringify(report)}`);
      reports.push(report);
      console.log(`  run ${r + 1}: VmHWM ${(report.vmHwmKiB / 1024).toFixed(1)} MiB in ${fmt.ms(report.ms)}`);
      await removeDir(dir);
    }
    if (verified !== REPEATS) throw new Error(`receiver verified ${verified} of ${REPEATS}`);
    const peak = median(reports.map((r) => r.vmHwmKiB)) / 1024;
    const peakMax = Math.max(...reports.map((r) => r.vmHwmKiB)) / 1024;
    const first = reports[0]!;
    const headers = ['child', 'message', 'attachment (decoded)', 'peak RSS (VmHWM, median)', 'runs (MiB)', 'time'];
    const rows = [
      [
        'poll + store + parse + deliver',
        fmt.mib(first.bytes),
        fmt.mib(first.attachmentBytes),
        `${peak.toFixed(1)} MiB`,
        reports.map((r) => (r.vmHwmKiB / 1024).toFixed(1)).join(' / '),
        fmt.ms(median(reports.map((r) => r.ms))),
      ],
    ];
    console.log(`\nrss-delivery: one ${sizeMiB} MiB message, median of ${REPEATS} children`);
    console.log(table(headers, rows));
    return {
      markdown: [
        `One ${sizeMiB} MiB message stored and delivered, median of ${REPEATS} child processes:`,
        '',
        markdownTable(headers, rows),
      ].join('\n'),
      rows: [
        {
          bench: 'rss-delivery',
          figure: `peak RSS storing + delivering ${sizeMiB} MiB`,
          value: `${peak.toFixed(1)} MiB (max ${peakMax.toFixed(1)})`,
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
