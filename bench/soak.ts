/**
 * The full fault-injection soak (issue 6): 5,000 messages per mode through
 * well over 1,000 injected faults, local mode and AWS mode (moto behind the
 * fault proxy), then the verification pass and one table.
 *
 *   npx tsx bench/soak.ts                 # both modes, 5,000 messages each, seed from the clock (printed)
 *   npx tsx bench/soak.ts --seed 42 --mode local --messages 2000
 *   npx tsx bench/soak.ts --quick         # 300 messages per mode
 *   npx tsx bench/soak.ts --mode aws --segment-size 500   # AWS in segments of 500 (default 250)
 *
 * AWS mode runs in segments (default 250 messages): each segment is a whole
 * soak with a fresh moto_server, table, bucket, mailbox and receivers, checked
 * to zero on its own; the table sums them. moto keeps every item copy its
 * TransactWriteItems makes, so one moto's memory grows with the square of the
 * messages it holds (docs/soak.md). Segment i uses seed + i. moto is stopped
 * and the run fails if it passes --moto-rss-cap-mb (default 4096).
 *
 * Exits 1 if any promise was broken (lost, DELE before the store, duplicate
 * ids, undelivered, bad signature, crash, untyped error). docs/soak.md explains the table.
 */
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import type { FaultRates } from '../test/soak/fault-plan.js';
import { outcomeLines, soakTable } from '../test/soak/report-table.js';
import { runSoak, type SoakReport } from '../test/soak/run-soak.js';
import { combineSegments, segmentSeeds } from '../test/soak/segments.js';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    seed: { type: 'string' },
    mode: { type: 'string', default: 'both' },
    messages: { type: 'string' },
    'segment-size': { type: 'string', default: '250' },
    'moto-rss-cap-mb': { type: 'string', default: '4096' },
  },
});
const seed = values.seed !== undefined ? Number(values.seed) : Date.now() % 1_000_000;
const messages = values.messages !== undefined ? Number(values.messages) : values.quick ? 300 : 5_000;
const modes: Array<'local' | 'aws'> = values.mode === 'both' ? ['local', 'aws'] : [values.mode as 'local' | 'aws'];
const segmentSize = Number(values['segment-size']);
const motoRssCapMb = Number(values['moto-rss-cap-mb']);
if (!Number.isSafeInteger(segmentSize) || segmentSize < 1) throw new Error('--segment-size must be a positive integer');

/** Per decision point; see FaultRates. High enough that every kind fires many times in 5,000 messages. */
const RATES: FaultRates = {
  retrDrop: 0.02,
  retrStall: 0.006,
  sysTemp: 0.01,
  inUse: 0.1,
  kill: 0.1,
  deadline: 0.08,
  aws: 0.03,
  webhook: 0.1,
};

const reports: SoakReport[] = [];
console.log(`soak: seed ${seed}, ${messages} messages per mode, modes ${modes.join(', ')}`);
console.log(
  `load average before: ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
);
const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

function run(mode: 'local' | 'aws', runSeed: number, count: number): Promise<SoakReport> {
  return runSoak({
    mode,
    seed: runSeed,
    messages: count,
    batch: 50,
    rates: RATES,
    maxRounds: Math.ceil(count / 50) * 20 + 200,
    progress: (line) => console.error(line),
    motoRssCapMb,
  });
}

/** AWS: one soak per segment, each on a fresh moto and verified on its own, then summed. */
async function segmented(): Promise<SoakReport> {
  const plan = segmentSeeds(seed, messages, segmentSize);
  const done: SoakReport[] = [];
  for (const [i, segment] of plan.entries()) {
    const r = await run('aws', segment.seed, segment.messages);
    done.push(r);
    console.error(
      `segment ${i + 1}/${plan.length} (seed ${r.seed}): ${r.verdict.messages} messages, ${r.totalFaults} faults, ` +
        `lost ${r.verdict.lost.length}, early DELE ${r.verdict.deleBeforeDurable}, duplicate ids ${r.verdict.duplicateIds}, ` +
        `undelivered ${r.verdict.undelivered.length}, crashes ${r.verdict.crashes}, untyped ${r.untyped.length}, ` +
        `dead ${r.deadJobs}, drained ${r.finished ? 'yes' : 'NO'}, moto peak ${Math.round(r.motoPeakRssMb ?? 0)} MiB, ` +
        `${(r.elapsedMs / 1000).toFixed(1)} s, load ${load()}`,
    );
  }
  return combineSegments(done);
}

for (const mode of modes) {
  const report = mode === 'aws' && messages > segmentSize ? await segmented() : await run(mode, seed, messages);
  reports.push(report);
  // Each mode's table as soon as it is done (a long AWS run must not hide the local result).
  if (modes.length > 1)
    console.error(
      `${soakTable([report])}\n${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
    );
}
console.log(soakTable(reports));
console.log(outcomeLines(reports));
console.log(
  `load average after: ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
);
const broken = reports.some(
  (r) =>
    r.verdict.lost.length > 0 ||
    r.verdict.deleBeforeDurable > 0 ||
    r.verdict.duplicateIds > 0 ||
    r.verdict.undelivered.length > 0 ||
    r.verdict.badSignatures > 0 ||
    r.verdict.retryAfterIgnored > 0 ||
    r.verdict.crashes > 0 ||
    r.untyped.length > 0 ||
    r.deadJobs > 0 ||
    !r.finished,
);
if (broken) {
  console.log(`PROMISE BROKEN (seed ${seed}): see the table`);
  process.exitCode = 1;
}
