/**
 * `npm run bench`: every benchmark, each in its own Node process (a clean heap,
 * its own Dovecot), then one summary table. The Markdown tables of the run are
 * written to bench/.work/latest.md for docs/performance.md.
 *
 *   npm run bench [-- --quick]
 *   npx tsx bench/run.ts [--quick] [--only client-fetch,idle-poll]
 */

import { spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { BENCH_DIR, fmt, machineLine, REPO_DIR, readSummary, type SummaryRow, table } from './support.js';

const BENCHES = [
  'client-fetch',
  'rss-100mb',
  'local-poll',
  'idle-poll',
  'e2e-delivery',
  'rss-delivery',
  'rss-aws-handlers',
  'handlers-cold-init',
  'cost-model',
  'fuzz',
] as const;
/** A bound on one benchmark; the full idle-poll (100,000 messages, three first runs) is the longest. */
const BENCH_TIMEOUT_MS = 60 * 60_000;

function runChild(command: string, args: string[]): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: REPO_DIR, stdio: 'inherit' });
    const timer = setTimeout(() => child.kill('SIGKILL'), BENCH_TIMEOUT_MS);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

const argv = process.argv.slice(2);
const quick = argv.includes('--quick');
const onlyAt = argv.indexOf('--only');
const only = onlyAt === -1 ? [...BENCHES] : (argv[onlyAt + 1] ?? '').split(',');
for (const name of only) {
  if (!(BENCHES as readonly string[]).includes(name)) throw new Error(`unknown benchmark ${name}`);
}

const installed = await runChild('bash', [path.join(BENCH_DIR, 'install-deps.sh')]);
if (installed !== 0) process.exit(1);

const work = path.join(BENCH_DIR, '.work');
await mkdir(work, { recursive: true });
const started = new Date();
const rows: SummaryRow[] = [];
const sections: string[] = [];
const failed: string[] = [];
for (const name of only) {
  console.log(`\n===== ${name}${quick ? ' (--quick)' : ''} =====`);
  const summaryFile = path.join(work, `${name}.json`);
  const startedAt = Date.now();
  const code = await runChild(process.execPath, [
    '--import',
    'tsx',
    path.join(BENCH_DIR, `${name}.ts`),
    ...(quick ? ['--quick'] : []),
    '--summary',
    summaryFile,
  ]);
  if (code !== 0) {
    failed.push(name);
    rows.push({ bench: name, figure: 'FAILED', value: `exit ${code}`, target: '', met: false });
    continue;
  }
  const summary = await readSummary(summaryFile);
  rows.push(...summary.rows);
  sections.push(
    `### ${name}\n\n\`npx tsx bench/${name}.ts${quick ? ' --quick' : ''}\` (took ${fmt.ms(Date.now() - startedAt)})\n\n${summary.markdown}`,
  );
}

console.log(`\n===== summary (${started.toISOString()}; ${machineLine()}) =====`);
console.log(
  table(
    ['benchmark', 'figure', 'value', 'target', 'met'],
    rows.map((r) => [r.bench, r.figure, r.value, r.target, r.target.startsWith('(') ? '' : r.met ? 'yes' : 'NO']),
  ),
);
const latest = path.join(work, 'latest.md');
await writeFile(
  latest,
  [`Run of ${started.toISOString()} on ${machineLine()}${quick ? ' (--quick)' : ''}`, '', ...sections, ''].join('\n\n'),
);
console.log(`\nMarkdown tables: ${path.relative(REPO_DIR, latest)}`);
if (failed.length > 0) {
  console.error(`failed: ${failed.join(', ')}`);
  process.exitCode = 1;
}
