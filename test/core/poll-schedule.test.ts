/**
 * Dispatch's schedule without lastPollAt (idle polls write nothing): each
 * mailbox is due in the minute that holds its slot. Simulated minute ticks of
 * a dispatcher that runs once a minute, over hours, for many mailboxes.
 */
import { describe, expect, it } from 'vitest';
import {
  dispatchMinute,
  isPollDue,
  MINUTE_MS,
  type ScheduledMailbox,
  slotOffsetMs,
} from '../../functions/core/poll/schedule.js';
import type { MailboxState } from '../../functions/core/ports.js';

const HOUR_START = Date.UTC(2026, 10, 27, 6, 0, 0);
/** A mailbox that has been polled before (it has a lastPollAt), healthy. */
const POLLED: MailboxState = { mailbox: 'x', lastPollAt: HOUR_START - 3_600_000, lastOkAt: HOUR_START - 3_600_000 };

function mailboxes(count: number, pollIntervalSeconds: number): ScheduledMailbox[] {
  return Array.from({ length: count }, (_, i) => ({
    name: `mailbox-${i}@example.test`,
    enabled: true,
    pollIntervalSeconds,
  }));
}

/** The minute indexes (0 = HOUR_START) at which each mailbox was dispatched, over `minutes` runs. */
function simulate(list: ReadonlyArray<ScheduledMailbox>, minutes: number, stateOf = (_m: ScheduledMailbox) => POLLED) {
  const dispatched = new Map<string, number[]>(list.map((m) => [m.name, []]));
  for (let t = 0; t < minutes; t += 1) {
    // A run a few seconds after its scheduled minute, as Lambda starts it: the minute is what counts.
    const now = HOUR_START + t * MINUTE_MS + 2_500;
    for (const m of list) if (isPollDue(m, stateOf(m), now)) dispatched.get(m.name)?.push(t);
  }
  return dispatched;
}

describe('poll schedule (dispatch slots)', () => {
  it('every 5 minutes: over an hour each mailbox is dispatched exactly 12 times, 5 minutes apart, spread evenly', () => {
    const list = mailboxes(2_000, 300);
    const dispatched = simulate(list, 60);
    const perMinute = new Array<number>(60).fill(0);
    for (const minutes of dispatched.values()) for (const t of minutes) perMinute[t] = (perMinute[t] ?? 0) + 1;
    expect(new Set([...dispatched.values()].map((minutes) => minutes.length))).toEqual(new Set([12]));
    const gaps = [...dispatched.values()].flatMap((times) => times.slice(1).map((t, i) => t - (times[i] ?? 0)));
    expect(new Set(gaps)).toEqual(new Set([5]));
    // 2,000 mailboxes over 5 slots: about 400 a minute, every minute (not all 2,000 in one).
    for (const n of perMinute) {
      expect(n).toBeGreaterThan(320);
      expect(n).toBeLessThan(480);
    }
  });

  it.each([60, 90, 100, 120, 301, 600, 3_600])(
    'an interval of %i s: dispatched once per interval, ⌊interval⌋ or ⌈interval⌉ minutes apart',
    (seconds) => {
      const list = mailboxes(300, seconds);
      const minutes = 6 * 60;
      const dispatched = simulate(list, minutes);
      const perInterval = (minutes * 60) / seconds;
      // Each poll time lands in exactly one minute, and two poll times never share a minute (interval ≥ 60 s).
      const counts = [...dispatched.values()].map((times) => times.length);
      expect(Math.min(...counts)).toBeGreaterThanOrEqual(Math.floor(perInterval));
      expect(Math.max(...counts)).toBeLessThanOrEqual(Math.ceil(perInterval));
      const gaps = [...dispatched.values()].flatMap((times) => times.slice(1).map((t, i) => t - (times[i] ?? 0)));
      expect(Math.min(...gaps)).toBe(Math.floor(seconds / 60));
      expect(Math.max(...gaps)).toBe(Math.ceil(seconds / 60));
    },
  );

  it('an interval under a minute (30 s, the minimum) is due at every run: the most a once-a-minute dispatch can do', () => {
    const dispatched = simulate(mailboxes(50, 30), 60);
    for (const times of dispatched.values()) expect(times).toHaveLength(60);
  });

  it('a mailbox never polled is due at the first run, whatever its slot; then at its slot', () => {
    const list = mailboxes(200, 300);
    const now = HOUR_START + 2_500;
    expect(list.every((m) => isPollDue(m, undefined, now))).toBe(true);
    // A state row without lastPollAt (written by delivery, e.g. a disabled endpoint) is not a poll either.
    expect(list.every((m) => isPollDue(m, { mailbox: m.name, disabledEndpoints: [] }, now))).toBe(true);
    const afterFirstPoll = list.filter((m) => isPollDue(m, POLLED, now));
    expect(afterFirstPoll.length).toBeGreaterThan(0);
    expect(afterFirstPoll.length).toBeLessThan(list.length / 2);
  });

  it('backing off: not due before nextPollAfter even in its slot, then at its next slot', () => {
    const [m] = mailboxes(1, 300) as [ScheduledMailbox];
    const slotMinute = Math.floor(slotOffsetMs(m.name, 300_000) / MINUTE_MS);
    const inSlot = HOUR_START + slotMinute * MINUTE_MS + 1_000;
    expect(isPollDue(m, POLLED, inSlot)).toBe(true);
    const backingOff = { ...POLLED, nextPollAfter: inSlot + 60_000 };
    expect(isPollDue(m, backingOff, inSlot)).toBe(false);
    // The minutes after the back-off ends but before the next slot: not due; the next slot: due.
    expect(isPollDue(m, backingOff, inSlot + 2 * MINUTE_MS)).toBe(false);
    expect(isPollDue(m, backingOff, inSlot + 5 * MINUTE_MS)).toBe(true);
  });

  it('a disabled mailbox is never due', () => {
    const m = { name: 'off', enabled: false, pollIntervalSeconds: 30 };
    expect(isPollDue(m, undefined, HOUR_START)).toBe(false);
    expect(isPollDue(m, POLLED, HOUR_START)).toBe(false);
  });

  it('the slot is stable for a name and uniform over the interval', () => {
    expect(slotOffsetMs('a@example.test', 300_000)).toBe(slotOffsetMs('a@example.test', 300_000));
    const offsets = mailboxes(10_000, 300).map((m) => slotOffsetMs(m.name, 300_000));
    expect(Math.min(...offsets)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...offsets)).toBeLessThan(300_000);
    const tenths = new Array<number>(10).fill(0);
    for (const o of offsets) tenths[Math.floor(o / 30_000)] = (tenths[Math.floor(o / 30_000)] ?? 0) + 1;
    for (const n of tenths) expect(Math.abs(n - 1_000)).toBeLessThan(150);
  });

  it("dispatchMinute: the event's scheduled time when it has one, else now; always a whole minute", () => {
    const late = Date.UTC(2026, 10, 27, 6, 41, 3);
    expect(dispatchMinute('2026-11-27T06:40:00Z', late)).toBe(Date.UTC(2026, 10, 27, 6, 40));
    expect(dispatchMinute(undefined, late)).toBe(Date.UTC(2026, 10, 27, 6, 41));
    expect(dispatchMinute('not a time', late)).toBe(Date.UTC(2026, 10, 27, 6, 41));
  });
});
