/**
 * When a mailbox is due, for a dispatcher that runs once a minute (AWS mode:
 * the EventBridge schedule of dispatch), decided without any state the poll
 * writes: idle polls write nothing, so "interval since lastPollAt" would make
 * every idle mailbox due every minute.
 *
 * Each mailbox has a fixed slot in its interval: an offset from a hash of its
 * name, to the millisecond, so 10,000 mailboxes spread evenly over the
 * minutes. Its poll times are offset + k·interval (epoch ms); it is due in the
 * dispatch run whose minute contains one of them. An interval that is not a
 * whole number of minutes works the same way (90 s: due every 1 or 2 minutes,
 * 40 times an hour); one under a minute is due every minute, the most a
 * once-a-minute dispatcher can do. A run that never happens (a failed
 * invocation) delays that minute's mailboxes by one interval; nothing is lost.
 *
 * A mailbox never polled is due at once, whatever its slot. One backing off
 * (`nextPollAfter`) is not due until then, and then at its next slot.
 */
import type { MailboxState } from '../ports.js';

export const MINUTE_MS = 60_000;

export interface ScheduledMailbox {
  readonly name: string;
  readonly enabled: boolean;
  readonly pollIntervalSeconds: number;
}

/** The mailbox's offset in its interval, in ms: stable for a name and interval, uniform over [0, interval). */
export function slotOffsetMs(name: string, intervalMs: number): number {
  // 53 bits from two seeded 32-bit hashes: exact as a JavaScript number, so the modulo has no visible bias.
  return ((hash32(name, 0x811c9dc5) % 0x200000) * 0x100000000 + hash32(name, 0x01000193)) % intervalMs;
}

/**
 * FNV-1a over the UTF-16 code units, then murmur3's finaliser so that names differing in the last character
 * land far apart. Not SHA-256: dispatch evaluates every mailbox every minute, and 10,000 SHA-256 digests a run
 * cost a few hundred ms of Lambda time on a small function.
 */
function hash32(text: string, seed: number): number {
  let h = seed >>> 0;
  for (let i = 0; i < text.length; i += 1) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** True when one of the poll times offset + k·interval falls in [minuteStart, minuteStart + 1 minute). */
export function slotInMinute(name: string, intervalMs: number, minuteStart: number): boolean {
  const offset = slotOffsetMs(name, intervalMs);
  const next = offset + Math.ceil((minuteStart - offset) / intervalMs) * intervalMs;
  return next < minuteStart + MINUTE_MS;
}

/** The start of the minute a dispatch run stands for: its scheduled time when the event has one, else `now`. */
export function dispatchMinute(scheduledTime: string | undefined, now: number): number {
  // EventBridge puts the rule's scheduled time in `time`: a run started a few seconds late still serves its minute.
  const scheduled = scheduledTime === undefined ? Number.NaN : Date.parse(scheduledTime);
  const at = Number.isFinite(scheduled) ? scheduled : now;
  return Math.floor(at / MINUTE_MS) * MINUTE_MS;
}

export function isPollDue(
  mailbox: ScheduledMailbox,
  state: MailboxState | undefined,
  now: number,
  minuteStart: number = dispatchMinute(undefined, now),
): boolean {
  if (!mailbox.enabled) return false;
  if ((state?.nextPollAfter ?? 0) > now) return false;
  // Never polled to the end (a poll that holds the lease always writes lastPollAt): now, not at its slot.
  if (state?.lastPollAt === undefined) return true;
  return slotInMinute(mailbox.name, mailbox.pollIntervalSeconds * 1000, minuteStart);
}
