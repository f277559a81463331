/** The soak's summary as a plain-text table (one column per mode), for bench/soak.ts and failing tests. */
import { FAULT_KINDS } from './fault-plan.js';
import type { SoakReport } from './run-soak.js';

function pad(cells: ReadonlyArray<string>, widths: ReadonlyArray<number>): string {
  return cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
}

function header(r: SoakReport): string {
  const segments = r.segments ?? 1;
  return segments > 1
    ? `${r.mode} (${segments} segments, seeds ${r.seed}..${r.seed + segments - 1})`
    : `${r.mode} (seed ${r.seed})`;
}

export function soakTable(reports: ReadonlyArray<SoakReport>): string {
  const rows: Array<[string, ...string[]]> = [
    ['', ...reports.map(header)],
    ...FAULT_KINDS.map((k): [string, ...string[]] => [`fault  ${k}`, ...reports.map((r) => String(r.faults.get(k)))]),
    ['faults injected, total', ...reports.map((r) => String(r.totalFaults))],
    ['messages', ...reports.map((r) => String(r.verdict.messages))],
    ['lost', ...reports.map((r) => String(r.verdict.lost.length))],
    ['DELE before durable store', ...reports.map((r) => `${r.verdict.deleBeforeDurable} of ${r.dele}`)],
    ['duplicate webhook-ids', ...reports.map((r) => String(r.verdict.duplicateIds))],
    ['(message, endpoint) never delivered', ...reports.map((r) => String(r.verdict.undelivered.length))],
    ['bad signatures', ...reports.map((r) => String(r.verdict.badSignatures))],
    ['crashes (uncaught, child died)', ...reports.map((r) => String(r.verdict.crashes))],
    ['untyped errors', ...reports.map((r) => String(r.untyped.length))],
    ['dead-lettered jobs', ...reports.map((r) => String(r.deadJobs))],
    ['polls', ...reports.map((r) => String(r.polls))],
    ['RETR sent (refetch after faults)', ...reports.map((r) => `${r.retrs} (+${r.retrs - r.verdict.messages})`)],
    ['webhook requests', ...reports.map((r) => String(r.webhookRequests))],
    ['webhook retries (same id again)', ...reports.map((r) => String(r.webhookRetries))],
    ['accepted again after a timeout', ...reports.map((r) => String(r.verdict.redelivered))],
    ['retried sooner than Retry-After', ...reports.map((r) => String(r.verdict.retryAfterIgnored))],
    ['sent to the 410 endpoint after its 410', ...reports.map((r) => String(r.verdict.afterGone))],
    ['drained before the round limit', ...reports.map((r) => (r.finished ? 'yes' : 'NO'))],
    ['wall time', ...reports.map((r) => `${(r.elapsedMs / 1000).toFixed(1)} s`)],
    [
      'moto_server peak RSS',
      ...reports.map((r) => (r.motoPeakRssMb === undefined ? '-' : `${Math.round(r.motoPeakRssMb)} MiB`)),
    ],
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  return rows.map((row) => pad(row, widths)).join('\n');
}

/** Poll outcomes, one line per mode: which typed errors the faults produced. */
export function outcomeLines(reports: ReadonlyArray<SoakReport>): string {
  return reports
    .map(
      (r) =>
        `${r.mode} poll outcomes: ${Object.entries(r.pollOutcomes)
          .sort((a, b) => b[1] - a[1])
          .map(([k, n]) => `${k} ×${n}`)
          .join(', ')}`,
    )
    .join('\n');
}
