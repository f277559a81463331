/**
 * Benchmark (issue 4): peak RSS of a child process that stores AND delivers
 * one ~100 MiB message whose attachment decodes to ~75 MiB (base64 of a
 * 100 MiB message body): RETR streamed to the store, the event parsed with
 * streaming MailParser, the attachment streamed into the store, the event
 * POSTed to a receiver that verifies its signature. Target ≤ 160 MiB.
 *
 * Three ways, REPEATS times each: the real command, `bin/pop3-bridge.js poll`
 * on a config file (the target figure; the CLI runs an esbuild bundle of the
 * sources with node_modules external); an in-process child under the tsx
 * loader, as the CLI ran before 2026-11-27; and that child as one esbuild
 * bundle, as the Lambda handlers run. The tsx figure minus the others is the
 * loader thread, not the delivery path.
 *
 *   npx tsx bench/rss-delivery.ts [--quick]     (--quick: a 20 MiB message)
 */
import { spawn } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Webhook } from 'standardwebhooks';
import { startDovecot } from '../test/support/dovecot.js';
import { bigMessage } from '../test/support/fixtures.js';
import { type ChildAccount, readChildAccount, writeChildAccount } from './child-account.js';
import { fillMailbox } from './mailbox.js';
import {
  BENCH_DIR,
  type BenchArgs,
  bundleBenchChild,
  fmt,
  isMain,
  MiB,
  markdownTable,
  median,
  moveToTrash,
  parseArgs,
  REPEATS,
  REPO_DIR,
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

type ChildKind = 'cli' | 'tsx' | 'bundle';

/**
 * The real command a user runs, `bin/pop3-bridge.js poll` (store, then deliver what is due) on a config
 * file, with bench/report-peak-rss.mjs preloaded to write its VmHWM on exit. This is the target figure.
 */
async function runCli(
  dir: string,
  account: ChildAccount,
  url: string,
): Promise<Pick<Report, 'fetched' | 'delivered' | 'vmHwmKiB' | 'ms'>> {
  await writeFile(path.join(dir, 'ca.pem'), account.caPem);
  const config = {
    store: { dir: 'state' },
    webhookAllowList: ['127.0.0.1'],
    mailboxes: [
      {
        name: 'big',
        host: account.host,
        port: account.port,
        tls: 'implicit',
        servername: account.servername,
        ca: path.join(dir, 'ca.pem'),
        username: account.user,
        // biome-ignore lint/suspicious/noTemplateCurlyInString: a literal ${VAR} for the config's env substitution
        password: '${BENCH_POP3_PASSWORD}',
        webhooks: [{ id: 'hook', url, secret: SECRET, allowHttp: true }],
      },
    ],
  };
  await writeFile(path.join(dir, 'pop3-bridge.json'), JSON.stringify(config));
  const peakFile = path.join(dir, 'peak.json');
  const started = performance.now();
  const out = await new Promise<string>((resolve, reject) => {
    const argv = [
      '--import',
      pathToFileURL(path.join(BENCH_DIR, 'report-peak-rss.mjs')).href,
      path.join(REPO_DIR, 'bin', 'pop3-bridge.js'),
      'poll',
      '--json',
      '--log-level',
      'warn',
    ];
    const child = spawn(process.execPath, argv, {
      cwd: dir,
      env: { ...process.env, BENCH_POP3_PASSWORD: account.password, PEAK_RSS_FILE: peakFile },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 10 * 60_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code !== 0) reject(new Error(`pop3-bridge poll exited ${code}: ${stderr}`));
      else resolve(stdout);
    });
  });
  const ms = performance.now() - started;
  const result = JSON.parse(out) as { results: Array<{ fetched: number }>; delivery?: { delivered: number } };
  const { vmHwmKiB } = JSON.parse(await readFile(peakFile, 'utf8')) as { vmHwmKiB: number };
  return { fetched: result.results[0]?.fetched ?? 0, delivered: result.delivery?.delivered ?? 0, vmHwmKiB, ms };
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
  const dovecot = await startDovecot({ disposeDir: moveToTrash });
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
      { kind: 'cli', file: path.join(REPO_DIR, 'bin', 'pop3-bridge.js'), label: '`pop3-bridge poll` (the CLI)' },
      {
        kind: 'tsx',
        file: path.join(BENCH_DIR, 'store-and-deliver-one.ts'),
        label: 'child under the tsx loader (as the CLI ran before 2026-11-27)',
      },
      { kind: 'bundle', file: await bundleBenchChild('store-and-deliver-one.ts'), label: 'child as an esbuild bundle' },
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
        const report =
          entry.kind === 'cli'
            ? { bytes: message.length, attachmentBytes: 0, ...(await runCli(dir, readChildAccount(accountFile), url)) }
            : await runChild(entry, [accountFile, dir, url, SECRET]);
        if (report.fetched !== 1 || report.delivered !== 1) throw new Error(`run ${r}: ${JSON.stringify(report)}`);
        reports.push(report);
        console.log(
          `  ${entry.kind} run ${r + 1}: VmHWM ${(report.vmHwmKiB / 1024).toFixed(1)} MiB in ${fmt.ms(report.ms)}`,
        );
        await moveToTrash(dir);
      }
      reportsByKind.set(entry.kind, reports);
    }
    if (verified !== REPEATS * entries.length)
      throw new Error(`receiver verified ${verified} of ${REPEATS * entries.length}`);
    const peakOf = (kind: ChildKind) => median(reportsByKind.get(kind)!.map((r) => r.vmHwmKiB)) / 1024;
    const cliReports = reportsByKind.get('cli')!;
    const peak = peakOf('cli');
    const peakMax = Math.max(...cliReports.map((r) => r.vmHwmKiB)) / 1024;
    // The CLI does not report the attachment's decoded size; the in-process child does.
    const first = reportsByKind.get('tsx')![0]!;
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
          figure: `peak RSS storing + delivering ${sizeMiB} MiB (\`pop3-bridge poll\`)`,
          value: `${peak.toFixed(1)} MiB (max ${peakMax.toFixed(1)}; in-process child under tsx ${peakOf('tsx').toFixed(1)}, bundled ${peakOf('bundle').toFixed(1)})`,
          target: `≤ ${TARGET_MIB} MiB`,
          met: peakMax <= TARGET_MIB,
        },
      ],
    };
  } finally {
    receiver.closeAllConnections();
    receiver.close();
    await dovecot.stop();
    await moveToTrash(work);
  }
}

if (isMain(import.meta.url)) {
  const args = parseArgs();
  const { rows, markdown } = await rssDelivery(args);
  await writeSummary(args, rows, markdown);
}
