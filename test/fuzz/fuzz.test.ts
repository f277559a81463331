/**
 * The CI slice of the fuzz run: every target of bench/fuzz.ts, through the same runner, with a fixed seed and
 * about 1% of the bench's inputs (a few seconds in all). The bench run covers ≥ 100,000 inputs.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BridgeError } from '../../functions/core/errors.js';
import { passed, runFuzzTarget } from './runner.js';
import { FUZZ_TARGETS, type FuzzTarget, FuzzViolation } from './targets.js';

const SEED = 20_261_127;

describe('fuzz targets (CI slice)', () => {
  it.each(FUZZ_TARGETS.map((t) => [t.name, t] as const))(
    '%s: no uncaught exception, hang or violation',
    async (_name, target) => {
      const numRuns = Math.max(30, Math.round(target.benchRuns / 100));
      const result = await runFuzzTarget(target, { seed: SEED, numRuns });
      expect(result.failures).toEqual([]);
      expect(result.inputs).toBe(numRuns);
      expect(result.clean + result.typed).toBe(numRuns);
    },
  );
});

describe('the fuzz runner counts what goes wrong', () => {
  it('sorts inputs into clean, typed, violation, uncaught and hang, and keeps the first of each', async () => {
    const target: FuzzTarget = {
      name: 'self-test',
      benchRuns: 0,
      perInputMs: 50,
      typedCodes: ['POP3_ERR_PROTOCOL'],
      open: async () => ({
        arbitrary: fc.constantFrom(0, 1, 2, 3, 4, 5),
        async run(n: number) {
          if (n === 1) throw new BridgeError('POP3_ERR_PROTOCOL', 'typed');
          if (n === 2) throw new FuzzViolation('wrong');
          if (n === 3) throw new TypeError('crash');
          if (n === 4) await new Promise(() => undefined); // never settles
          if (n === 5) throw new BridgeError('POP3_ERR_LIMIT', 'a code this target does not expect');
        },
      }),
    };
    const r = await runFuzzTarget(target, { seed: SEED, numRuns: 60 });
    expect(r.inputs).toBe(60);
    expect(r.clean + r.typed + r.violations + r.uncaught + r.hangs).toBe(60);
    for (const n of [r.clean, r.typed, r.violations, r.uncaught, r.hangs]) expect(n).toBeGreaterThan(0);
    expect(passed(r)).toBe(false);
    expect(r.failures.join('\n')).toMatch(/violations: wrong/);
    expect(r.failures.join('\n')).toMatch(/uncaught: TypeError: crash/);
    expect(r.failures.join('\n')).toMatch(/hangs: no result within 50 ms/);
  });

  it('counts a synchronous input that overruns its bound as a hang', async () => {
    const target: FuzzTarget = {
      name: 'slow',
      benchRuns: 0,
      perInputMs: 5,
      typedCodes: [],
      open: async () => ({
        arbitrary: fc.constant(0),
        run() {
          const until = performance.now() + 10;
          while (performance.now() < until);
        },
      }),
    };
    const r = await runFuzzTarget(target, { seed: SEED, numRuns: 3 });
    expect(r.hangs).toBe(3);
  });
});
