/**
 * When to try a failed delivery again: Svix's schedule (immediately, 5 s,
 * 5 min, 30 min, 2 h, 5 h, 10 h, 10 h — about a day and a half in all), each
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
