/**
 * The soak's seeded dice: every fault decision (POP3 server, AWS proxy,
 * webhook receivers, kills, deadlines) is drawn from one PRNG stream per
 * source, so a seed reproduces the same decisions (apart from timing-driven
 * interleavings), and every fault that fires is counted by kind.
 */
import { prng } from '../support/prng.js';

export const FAULT_KINDS = [
  'pop3: connection dropped mid-RETR',
  'pop3: server stall (timeout fired)',
  'pop3: -ERR [SYS/TEMP]',
  'pop3: -ERR [IN-USE]',
  'poll: SIGKILL mid-poll',
  'poll: deadline mid-batch',
  's3: 5xx',
  's3: 503 SlowDown',
  'dynamodb: 5xx',
  'dynamodb: throttling',
  'aws: connection dropped',
  'webhook: 5xx',
  'webhook: timeout',
  'webhook: 429 Retry-After',
  'webhook: 410 Gone',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** Probabilities per decision point; 0 turns a kind off. */
export interface FaultRates {
  /** Per RETR: drop the connection part way through the body. */
  readonly retrDrop: number;
  /** Per RETR: stall (half way through the body, or before the status line). */
  readonly retrStall: number;
  /** Per RETR or QUIT: answer -ERR [SYS/TEMP]. */
  readonly sysTemp: number;
  /** Per PASS: answer -ERR [IN-USE]. */
  readonly inUse: number;
  /** Per poll: run it in a child process that SIGKILLs itself at a random point. */
  readonly kill: number;
  /** Per poll: give it a deadline a few milliseconds away. */
  readonly deadline: number;
  /** Per request to S3 or DynamoDB through the proxy. */
  readonly aws: number;
  /** Per webhook request to a normal endpoint. */
  readonly webhook: number;
  /**
   * Small runs only: a decision point whose fault has not fired in this many
   * chances fires anyway, so every kind shows up even in a short CI run.
   */
  readonly forceAfter?: number;
}

export class FaultPlan {
  readonly counts = new Map<FaultKind, number>(FAULT_KINDS.map((k) => [k, 0]));
  readonly #streams = new Map<string, () => number>();
  /** Chances taken and faults fired per stream (for `forceAfter`). */
  readonly #chances = new Map<string, { taken: number; fired: number }>();
  /** Picks made per stream (for `pick`'s cover). */
  readonly #picks = new Map<string, number>();

  constructor(
    readonly seed: number,
    readonly rates: FaultRates,
  ) {}

  /** A uniform float in [0, 1) from the named stream (one stream per fault source keeps sources independent). */
  random(stream: string): number {
    let next = this.#streams.get(stream);
    if (next === undefined) {
      let h = this.seed >>> 0;
      for (const c of stream) h = Math.imul(h ^ c.charCodeAt(0), 0x01000193) >>> 0;
      next = prng(h);
      this.#streams.set(stream, next);
    }
    return next() / 0x1_0000_0000;
  }

  /** Integer in [min, max]. */
  int(stream: string, min: number, max: number): number {
    return min + Math.floor(this.random(stream) * (max - min + 1));
  }

  /**
   * Which kind of fault to fire: an integer in [min, max]. In small runs (`forceAfter` set) the first picks of
   * a stream are `cover`, in order, so each kind listed there fires once before any kind repeats, however few
   * faults the run has; then, and in long runs from the start, uniform as `int`.
   */
  pick(stream: string, min: number, max: number, cover: ReadonlyArray<number> = []): number {
    const made = this.#picks.get(stream) ?? 0;
    this.#picks.set(stream, made + 1);
    if (this.rates.forceAfter !== undefined && made < cover.length) return cover[made]!;
    return this.int(stream, min, max);
  }

  chance(stream: string, p: number): boolean {
    if (p <= 0) return false;
    const seen = this.#chances.get(stream) ?? { taken: 0, fired: 0 };
    seen.taken += 1;
    const forced = this.rates.forceAfter !== undefined && seen.fired === 0 && seen.taken >= this.rates.forceAfter;
    const fired = this.random(stream) < p || forced;
    if (fired) seen.fired += 1;
    this.#chances.set(stream, seen);
    return fired;
  }

  count(kind: FaultKind, n = 1): void {
    this.counts.set(kind, (this.counts.get(kind) ?? 0) + n);
  }

  get total(): number {
    let sum = 0;
    for (const n of this.counts.values()) sum += n;
    return sum;
  }
}
