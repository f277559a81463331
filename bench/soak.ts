/**
 * The full fault-injection soak (issue 6): 5,000 messages per mode through
 * well over 1,000 injected faults, local mode and AWS mode (moto behind the
 * fault proxy), then the verification pass and one table.
 *
 *   npx tsx bench/soak.ts                 # both modes, 5,000 messages each, seed from the clock (printed)
 *   npx tsx bench/soak.ts --seed 42 --mode local --messages 2000
 *   npx tsx bench/soak.ts --quick         # 300 messages per mode
 *
 * Exits 1 if any promise was broken (lost, DELE before the store, duplicate
 * ids, undelivered, bad signature, crash, untyped error). docs/soak.md explains the table.
 */
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import type { FaultRates } from '../test/soak/fault-plan.js';
import { outcomeLines, soakTable } from '../test/soak/report-table.js';
import { runSoak, type SoakReport } from '../test/soak/run-soak.js';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    seed: { type: 'string' },
    mode: { type: 'string', default: 'both' },
    messages: { type: 'string' },
  },
});
const seed = values.seed !== undefined ? Number(values.seed) : Date.now() % 1_000_000;
const messages = values.messages !== undefined ? Number(values.messages) : values.quick ? 300 : 5_000;
const modes: Array<'local' | 'aws'> = values.mode === 'both' ? ['local', 'aws'] : [values.mode as 'local' | 'aws'];

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
for (const mode of modes) {
  const report = await runSoak({
    mode,
    seed,
    messages,
    batch: 50,
    rates: RATES,
    maxRounds: Math.ceil(messages / 50) * 20 + 200,
    progress: (line) => console.error(line),
  });
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
    r.untyped.length > 0,
);
if (broken) {
  console.log(`PROMISE BROKEN (seed ${seed}): see the table`);
  process.exitCode = 1;
}
