/**
 * The decision an idle poll rests on: from the stored state and STAT + `UIDL n`,
 * is there anything to write? Every reason the lease-holding poll writes state
 * for must be "work"; only an unchanged, healthy mailbox is idle.
 */
import { describe, expect, it } from 'vitest';
import { type PendingWorkInput, pendingWork, sameMailboxState } from '../../functions/core/poll/pending-work.js';
import type { MailboxState } from '../../functions/core/ports.js';

const NOW = Date.UTC(2026, 10, 27, 6);
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

const healthy: MailboxState = {
  mailbox: 'mb',
  lastPollAt: NOW - HOUR,
  lastOkAt: NOW - HOUR,
  failing: false,
  consecutiveFailures: 0,
  nextPollAfter: 0,
  cursor: { count: 3, size: 300, lastUidl: 'u3' },
  lastFullSyncAt: NOW - HOUR,
};
const unchanged = { count: 3, size: 300, lastUidl: 'u3', noUidl: false, retentionDue: false };

/** The healthy state without one field (exactOptionalPropertyTypes: absent, not undefined). */
function without(field: keyof MailboxState): MailboxState {
  const copy: Record<string, unknown> = { ...healthy };
  delete copy[field];
  return copy as unknown as MailboxState;
}

function input(overrides: Partial<PendingWorkInput> = {}): PendingWorkInput {
  return { mode: 'leave', state: healthy, check: unchanged, now: NOW, fullSyncIntervalMs: DAY, ...overrides };
}

describe('pendingWork', () => {
  it('an unchanged, healthy leave-mode mailbox is idle', () => {
    expect(pendingWork(input())).toBeUndefined();
  });

  it('an empty delete-mode mailbox is idle, whatever the cursor says', () => {
    expect(pendingWork(input({ mode: 'delete', check: { ...unchanged, count: 0, size: 0 } }))).toBeUndefined();
    expect(pendingWork(input({ mode: 'delete', state: without('cursor') }))).toBe('messages on the server');
  });

  it.each<[string, Partial<PendingWorkInput>, string]>([
    ['never polled', { state: undefined }, 'first poll'],
    ['marked failing', { state: { ...healthy, failing: true } }, 'clear failure'],
    ['failures counted', { state: { ...healthy, consecutiveFailures: 2 } }, 'clear failure'],
    ['a back-off set (a forced poll)', { state: { ...healthy, nextPollAfter: NOW + HOUR } }, 'clear failure'],
    ['never succeeded', { state: without('lastOkAt') }, 'status refresh'],
    ['last success a day ago', { state: { ...healthy, lastOkAt: NOW - DAY } }, 'status refresh'],
    ['no UIDL on the server', { check: { ...unchanged, noUidl: true } }, 'no UIDL'],
    ['retention due', { check: { ...unchanged, retentionDue: true } }, 'retention'],
    ['never fully listed', { state: without('lastFullSyncAt') }, 'full sync'],
    ['full listing a day old', { state: { ...healthy, lastFullSyncAt: NOW - DAY } }, 'full sync'],
    ['no cursor', { state: without('cursor') }, 'no cursor'],
    [
      'cursor invalidated (-1)',
      { state: { ...healthy, cursor: { count: -1, size: -1, lastUidl: undefined } } },
      'no cursor',
    ],
    ['a new message', { check: { ...unchanged, count: 4, size: 400, lastUidl: 'u4' } }, 'mailbox changed'],
    ['same count, other size', { check: { ...unchanged, size: 301 } }, 'mailbox changed'],
    ['same count and size, other last UIDL', { check: { ...unchanged, lastUidl: 'x3' } }, 'mailbox changed'],
    [
      'one deleted by another client',
      { check: { ...unchanged, count: 2, size: 200, lastUidl: 'u2' } },
      'mailbox changed',
    ],
    ['delete mode, messages there', { mode: 'delete', check: unchanged }, 'messages on the server'],
  ])('%s: %s', (_name, overrides, expected) => {
    expect(pendingWork(input(overrides))).toBe(expected);
  });

  it('just under a day is still idle (the daily refresh and full listing are not early)', () => {
    const state = { ...healthy, lastOkAt: NOW - DAY + 1, lastFullSyncAt: NOW - DAY + 1 };
    expect(pendingWork(input({ state }))).toBeUndefined();
  });
});

describe('sameMailboxState', () => {
  it('ignores key order (DynamoDB does not keep it) and sees any changed value', () => {
    const reordered = Object.fromEntries(Object.entries(healthy).reverse()) as unknown as MailboxState;
    expect(sameMailboxState(healthy, reordered)).toBe(true);
    expect(sameMailboxState(healthy, { ...healthy, cursor: { count: 3, size: 300, lastUidl: 'u4' } })).toBe(false);
    expect(sameMailboxState(healthy, { ...healthy, lastOkAt: NOW })).toBe(false);
    expect(sameMailboxState(undefined, healthy)).toBe(false);
    expect(sameMailboxState(undefined, undefined)).toBe(true);
  });
});
