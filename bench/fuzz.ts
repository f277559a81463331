/**
 * The fuzz run: every target in test/fuzz/targets.ts with a printed seed, ≥ 100,000 inputs in total, a time
 * bound per input (and a watchdog thread for a loop that never returns) and the peak memory of the process. Exits 1 on any uncaught exception, hang, property
 * violation or a peak RSS over the bound. The CI slice (test/fuzz/fuzz.test.ts) runs the same targets with
 * fewer inputs.
 *
 *   npx tsx bench/fuzz.ts [--seed N] [--quick] [--only <substring>] [--summary FILE]
 *
 * `--summary` writes the row `npm run bench` (bench/run.ts) puts in its table.
 *
 * POP3 and SASL targets need no Dovecot; the MIME target writes to a temp dir it removes.
 */
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { type FuzzResult, passed, runFuzzTarget } from '../test/fuzz/runner.js';
import { FUZZ_TARGETS } from '../test/fuzz/targets.js';
import { writeSummary } from './support.js';

/** Bounded memory: parsers stream or cap, so the whole run must stay far below a Lambda's 1 GiB. */
const MAX_RSS_BYTES = 512 * 1024 * 1024;

const { values } = parseArgs({
  options: {
    seed: { type: 'string' },
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    summary: { type: 'string' },
  },
});
const seed = values.seed !== undefined ? Number(values.seed) : Date.now() % 2 ** 31;
const scale = values.quick ? 0.05 : 1;
const targets = FUZZ_TARGETS.filter((t) => values.only === undefined || t.name.includes(values.only));

const mib = (bytes: number): string => (bytes / 1024 / 1024).toFixed(1);
console.log(`fuzz seed ${seed} (reproduce: npx tsx bench/fuzz.ts --seed ${seed}${values.quick ? ' --quick' : ''})`);
console.log(
  `load average before: ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
);

/**
 * A synchronous infinite loop blocks this thread's timers, so the per-input bound cannot see it: a watchdog on
 * its own thread reads a shared progress counter and, when no input has started for STALL_MS, names the target,
 * reports the hang and kills the process (exit status 137: a failure).
 */
const STALL_MS = 60_000;
const progress = new Int32Array(new SharedArrayBuffer(8)); // [inputs started, target index]
const watchdog = new Worker(
  `const { workerData: { progress, names, stallMs } } = require('node:worker_threads');
   const { writeSync } = require('node:fs');
   let seen = -1, since = Date.now();
   setInterval(() => {
     const now = Atomics.load(progress, 0);
     if (now !== seen) { seen = now; since = Date.now(); return; }
     if (Date.now() - since < stallMs) return;
     writeSync(2, 'FAIL hang: no new input for ' + stallMs / 1000 + ' s in target "' + names[Atomics.load(progress, 1)] + '" after ' + now + ' inputs in all\\n');
     process.kill(process.pid, 'SIGKILL');
   }, 1000);`,
  { eval: true, workerData: { progress, names: targets.map((t) => t.name), stallMs: STALL_MS } },
);
watchdog.unref();

const results: FuzzResult[] = [];
for (const [index, target] of targets.entries()) {
  Atomics.store(progress, 1, index);
  const result = await runFuzzTarget(target, {
    seed,
    numRuns: Math.max(1, Math.round(target.benchRuns * scale)),
    onInput: () => Atomics.add(progress, 0, 1),
  });
  results.push(result);
  console.log(
    `  ${result.target}: ${result.inputs} inputs in ${(result.ms / 1000).toFixed(1)} s, peak RSS ${mib(result.peakRssBytes)} MiB`,
  );
}

const header = [
  'target',
  'inputs',
  'uncaught',
  'hangs',
  'violations',
  'typed errors',
  'time s',
  'peak RSS MiB',
  'peak heap MiB',
];
const rows = results.map((r) => [
  r.target,
  String(r.inputs),
  String(r.uncaught),
  String(r.hangs),
  String(r.violations),
  String(r.typed),
  (r.ms / 1000).toFixed(1),
  mib(r.peakRssBytes),
  mib(r.peakHeapBytes),
]);
const sum = (f: (r: FuzzResult) => number): number => results.reduce((n, r) => n + f(r), 0);
const peakRss = Math.max(...results.map((r) => r.peakRssBytes));
rows.push([
  'total',
  String(sum((r) => r.inputs)),
  String(sum((r) => r.uncaught)),
  String(sum((r) => r.hangs)),
  String(sum((r) => r.violations)),
  String(sum((r) => r.typed)),
  (sum((r) => r.ms) / 1000).toFixed(1),
  mib(peakRss),
  mib(Math.max(...results.map((r) => r.peakHeapBytes))),
]);
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
const line = (cells: string[]): string => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
console.log(`\n${line(header)}\n|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
for (const row of rows) console.log(line(row));
console.log(
  `\nload average after: ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
);

let failed = false;
for (const r of results) {
  if (!passed(r)) {
    failed = true;
    for (const f of r.failures) console.error(`FAIL ${r.target}: ${f}`);
  }
}
if (peakRss > MAX_RSS_BYTES) {
  failed = true;
  console.error(`FAIL peak RSS ${mib(peakRss)} MiB over the ${mib(MAX_RSS_BYTES)} MiB bound`);
}
if (!values.quick && values.only === undefined && sum((r) => r.inputs) < 100_000) {
  failed = true;
  console.error(`FAIL only ${sum((r) => r.inputs)} inputs; the run must reach 100,000`);
}
const bad = sum((r) => r.uncaught) + sum((r) => r.hangs) + sum((r) => r.violations);
await writeSummary(
  { quick: values.quick, summaryFile: values.summary, n: undefined },
  [
    {
      bench: 'fuzz',
      figure: `inputs over ${results.length} targets (seed ${seed}): uncaught / hangs / violations; peak RSS`,
      value: `${sum((r) => r.inputs)}: ${sum((r) => r.uncaught)} / ${sum((r) => r.hangs)} / ${sum((r) => r.violations)}; ${mib(peakRss)} MiB`,
      target: '≥ 100,000 inputs, 0 / 0 / 0, ≤ 512 MiB',
      met: !failed && bad === 0,
    },
  ],
  [
    `| ${header.join(' | ')} |`,
    `|${header.map(() => ' --- ').join('|')}|`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n'),
);
process.exit(failed ? 1 : 0);
