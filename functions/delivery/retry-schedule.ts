/**
 * When to try a failed delivery again: Svix's schedule (immediately, 5 s,
 * 5 min, 30 min, 2 h, 5 h, 10 h, 10 h — about 27.6 hours in all), each
 * delay with ±20 % jitter so retries of many messages do not arrive together.
 * After the last attempt the delivery is dead-lettered.
 */
import { parseHttpDate } from './http-date.js';

export const RETRY_DELAYS_MS: ReadonlyArray<number> = [
  0,
  5_000,
  5 * 60_000,
  30 * 60_000,
  2 * 3_600_000,
  5 * 3_600_000,
  10 * 3_600_000,
  10 * 3_600_000,
];

/** The longest a receiver's Retry-After (429, 503) may put a retry off: later would read as a dead endpoint. */
export const MAX_RETRY_AFTER_MS = 24 * 3_600_000;

/** The jitter's top: a delay is drawn from 80 % to 120 % of the schedule's. */
const MAX_JITTER = 1.2;

/**
 * The latest the last attempt of a delivery can come after its first: each wait at its longest, whether the
 * schedule's with the jitter's top or a Retry-After at its cap. The raw object must outlive this (every attempt
 * rebuilds the event from it), and the links of the last attempt's event the link lifetime more: the stack
 * refuses a `raw/` expiry shorter than that (infra/bridge-stack.ts).
 */
export function longestRetrySpanMs(schedule: ReadonlyArray<number> = RETRY_DELAYS_MS): number {
  // schedule[0] is the first attempt (at once); waits follow attempts 1..n-1, and after the n-th it is dead.
  return schedule.slice(1).reduce((sum, base) => sum + Math.max(Math.ceil(base * MAX_JITTER), MAX_RETRY_AFTER_MS), 0);
}

/** Delay before attempt number `attempt + 1`, given `attempt` attempts made; undefined when none is left. */
export function nextRetryDelay(
  attemptsMade: number,
  schedule: ReadonlyArray<number> = RETRY_DELAYS_MS,
  random: () => number = Math.random,
): number | undefined {
  const base = schedule[attemptsMade];
  if (base === undefined) return undefined;
  return Math.round(base * (0.8 + 0.4 * random()));
}

/**
 * RFC 9110 §10.2.3 Retry-After: delay-seconds or an HTTP-date (strictly, http-date.ts says why). Undefined
 * when absent or unreadable, so the schedule applies.
 */
export function parseRetryAfter(value: string | undefined, now: number): number | undefined {
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const date = parseHttpDate(trimmed, now);
  return date === undefined ? undefined : Math.max(0, date - now);
}
