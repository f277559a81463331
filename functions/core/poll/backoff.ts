/**
 * When to try a mailbox again after a failed poll.
 *
 * Transient failures ([IN-USE], [SYS/TEMP], network, timeouts) back off
 * exponentially with jitter up to a cap. [LOGIN-DELAY] (RFC 2449 §6.5) is
 * honoured: never sooner than the delay the server announced. Permanent
 * failures ([AUTH], [SYS/PERM], TLS) mark the mailbox failing and are retried
 * only at a slow rate, so a wrong password does not hammer the server (or get
 * the account locked).
 */
import type { BridgeError } from '../errors.js';

export interface BackoffPolicy {
  readonly baseMs: number;
  readonly capMs: number;
  /** Retry interval of a mailbox marked failing. */
  readonly failingRetryMs: number;
}

export const defaultBackoff: BackoffPolicy = Object.freeze({
  baseMs: 60_000,
  capMs: 60 * 60_000,
  failingRetryMs: 6 * 60 * 60_000,
});

export interface BackoffDecision {
  readonly nextPollAfter: number;
  readonly failing: boolean;
}

export function decideBackoff(
  error: BridgeError,
  consecutiveFailures: number,
  now: number,
  policy: BackoffPolicy = defaultBackoff,
  random: () => number = Math.random,
): BackoffDecision {
  if (!error.retryable) return { nextPollAfter: now + policy.failingRetryMs, failing: true };
  const exponent = Math.min(Math.max(consecutiveFailures - 1, 0), 30);
  const ceiling = Math.min(policy.capMs, policy.baseMs * 2 ** exponent);
  // "Full jitter" halved: somewhere between half and all of the ceiling, so retries of many mailboxes spread out.
  let delay = ceiling / 2 + random() * (ceiling / 2);
  if (error.code === 'POP3_ERR_LOGIN_DELAY' && error.retryAfterSeconds !== undefined) {
    delay = Math.max(delay, error.retryAfterSeconds * 1000);
  }
  return { nextPollAfter: now + Math.round(delay), failing: false };
}
