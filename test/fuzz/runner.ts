/**
 * Runs one fuzz target for a seeded number of inputs and sorts every input into: clean, typed refusal,
 * property violation, uncaught exception or hang. Shared by the CI slice and `bench/fuzz.ts`.
 *
 * Every input runs to the end of the target (the property always answers true to fast-check), so one bad input
 * does not hide the others and the counts are real; the first failure of each kind is kept with its input, and
 * the seed reproduces the run.
 */
import fc from 'fast-check';
import { BridgeError } from '../../functions/core/errors.js';
import { type FuzzTarget, FuzzViolation } from './targets.js';

export interface FuzzOptions {
  readonly seed: number;
  readonly numRuns: number;
  /** Called as each input starts (bench/fuzz.ts feeds its watchdog with it). */
  readonly onInput?: () => void;
}

export interface FuzzResult {
  readonly target: string;
  readonly inputs: number;
  readonly clean: number;
  readonly typed: number;
  readonly violations: number;
  readonly uncaught: number;
  readonly hangs: number;
  readonly ms: number;
  readonly peakRssBytes: number;
  readonly peakHeapBytes: number;
  /** The first failing input of each kind, with what went wrong. */
  readonly failures: ReadonlyArray<string>;
}

const HUNG = Symbol('hung');

/**
 * A synchronous target cannot be interrupted from the same thread, so its time is measured after the fact: an
 * input that takes longer than the bound counts as a hang (a super-linear blow-up shows up here); one that never
 * returns is caught by the watchdog thread of bench/fuzz.ts. An asynchronous target is raced against a timer,
 * so an input that never settles is a hang, not a stuck run.
 */
async function withinBound(work: () => void | Promise<void>, ms: number): Promise<typeof HUNG | undefined> {
  const started = performance.now();
  const result = work();
  if (result instanceof Promise) {
    let timer: NodeJS.Timeout | undefined;
    const hung = new Promise<typeof HUNG>((resolve) => {
      timer = setTimeout(() => resolve(HUNG), ms);
    });
    try {
      const outcome = await Promise.race([result.then(() => undefined), hung]);
      if (outcome === HUNG) result.catch(() => undefined);
      return outcome;
    } finally {
      clearTimeout(timer);
    }
  }
  return performance.now() - started > ms ? HUNG : undefined;
}

export async function runFuzzTarget(target: FuzzTarget, options: FuzzOptions): Promise<FuzzResult> {
  const opened = await target.open();
  const counts = { inputs: 0, clean: 0, typed: 0, violations: 0, uncaught: 0, hangs: 0 };
  const failures = new Map<string, string>();
  const note = (kind: keyof typeof counts, input: unknown, what: string): void => {
    counts[kind] += 1;
    if (!failures.has(kind)) failures.set(kind, `${kind}: ${what} — input ${fc.stringify(input).slice(0, 2_000)}`);
  };
  let peakRss = 0;
  let peakHeap = 0;
  const sample = (): void => {
    const { rss, heapUsed } = process.memoryUsage();
    peakRss = Math.max(peakRss, rss);
    peakHeap = Math.max(peakHeap, heapUsed);
  };
  sample();
  const started = performance.now();
  try {
    await fc.check(
      fc.asyncProperty(opened.arbitrary, async (input) => {
        counts.inputs += 1;
        options.onInput?.();
        try {
          const outcome = await withinBound(() => opened.run(input), target.perInputMs);
          if (outcome === HUNG) note('hangs', input, `no result within ${target.perInputMs} ms`);
          else counts.clean += 1;
        } catch (error) {
          if (error instanceof FuzzViolation) note('violations', input, error.message);
          else if (error instanceof BridgeError && target.typedCodes.includes(error.code)) counts.typed += 1;
          else if (error instanceof BridgeError)
            note('violations', input, `unexpected code ${error.code}: ${error.message}`);
          else note('uncaught', input, error instanceof Error ? (error.stack ?? error.message) : String(error));
        }
        if (counts.inputs % 64 === 0) sample();
        return true;
      }),
      { seed: options.seed, numRuns: options.numRuns },
    );
  } finally {
    await opened.close?.();
  }
  sample();
  return {
    target: target.name,
    ...counts,
    ms: performance.now() - started,
    peakRssBytes: peakRss,
    peakHeapBytes: peakHeap,
    failures: [...failures.values()],
  };
}

/** True when a result has no uncaught exception, hang or violation. */
export function passed(result: FuzzResult): boolean {
  return result.uncaught === 0 && result.hangs === 0 && result.violations === 0;
}
