/**
 * A long AWS soak as independent segments: each segment is a whole `runSoak`
 * (fresh moto_server, table, bucket, scripted mailbox and receivers) verified
 * to zero on its own, and the segments' reports are summed into one table.
 *
 * Why segments: moto 5.2 keeps every model instance it ever created, and its
 * TransactWriteItems deep-copies the whole table once per action, so one moto
 * holding N messages has retained O(N²) item copies (docs/soak.md). A segment
 * restarts moto; since its data goes with it, each segment must be checked on
 * its own — which `runSoak` does.
 */
import type { FaultKind } from './fault-plan.js';
import type { SoakReport } from './run-soak.js';
import type { Verdict } from './verify.js';

/** Segment i runs with seed `seed + i` (so `--seed seed+i --messages size` reruns it alone). */
export function segmentSeeds(seed: number, messages: number, size: number): Array<{ seed: number; messages: number }> {
  const segments: Array<{ seed: number; messages: number }> = [];
  for (let done = 0, i = 0; done < messages; done += size, i += 1) {
    segments.push({ seed: seed + i, messages: Math.min(size, messages - done) });
  }
  return segments;
}

function sum(reports: ReadonlyArray<SoakReport>, of: (r: SoakReport) => number): number {
  return reports.reduce((total, r) => total + of(r), 0);
}

/** One report for the whole run: counts summed, lists joined, finished only if every segment finished. */
export function combineSegments(reports: ReadonlyArray<SoakReport>): SoakReport {
  const first = reports[0];
  if (first === undefined) throw new Error('combineSegments: no segments');
  const faults = new Map<FaultKind, number>();
  for (const r of reports) for (const [kind, n] of r.faults) faults.set(kind, (faults.get(kind) ?? 0) + n);
  const pollOutcomes: Record<string, number> = {};
  for (const r of reports) {
    for (const [key, n] of Object.entries(r.pollOutcomes)) pollOutcomes[key] = (pollOutcomes[key] ?? 0) + n;
  }
  const v = (of: (verdict: Verdict) => number) => sum(reports, (r) => of(r.verdict));
  const peaks = reports.map((r) => r.motoPeakRssMb).filter((p): p is number => p !== undefined);
  return {
    mode: first.mode,
    seed: first.seed,
    faults,
    totalFaults: sum(reports, (r) => r.totalFaults),
    verdict: {
      messages: v((x) => x.messages),
      lost: reports.flatMap((r) => r.verdict.lost),
      deleBeforeDurable: v((x) => x.deleBeforeDurable),
      duplicateIds: v((x) => x.duplicateIds),
      undelivered: reports.flatMap((r) => r.verdict.undelivered),
      badSignatures: v((x) => x.badSignatures),
      afterGone: v((x) => x.afterGone),
      retryAfterIgnored: v((x) => x.retryAfterIgnored),
      redelivered: v((x) => x.redelivered),
      crashes: v((x) => x.crashes),
    },
    polls: sum(reports, (r) => r.polls),
    pollOutcomes,
    untyped: reports.flatMap((r) => r.untyped),
    crashDetails: reports.flatMap((r) => r.crashDetails),
    webhookRequests: sum(reports, (r) => r.webhookRequests),
    webhookRetries: sum(reports, (r) => r.webhookRetries),
    deadJobs: sum(reports, (r) => r.deadJobs),
    retrs: sum(reports, (r) => r.retrs),
    dele: sum(reports, (r) => r.dele),
    rounds: sum(reports, (r) => r.rounds),
    finished: reports.every((r) => r.finished),
    elapsedMs: sum(reports, (r) => r.elapsedMs),
    motoPeakRssMb: peaks.length > 0 ? Math.max(...peaks) : undefined,
    segments: sum(reports, (r) => r.segments ?? 1),
  };
}
