/**
 * One time budget shared by several phases (connect, TLS handshake, greeting,
 * login), as imapflow does: each phase gets min(its own limit, what is left of
 * the budget), and every timer is cleared however the phase ends.
 */
import { BridgeError } from '../core/errors.js';

export class Deadline {
  private readonly endsAt: number;

  constructor(
    budgetMs: number,
    private readonly now: () => number = Date.now,
  ) {
    this.endsAt = now() + budgetMs;
  }

  remaining(): number {
    return Math.max(0, this.endsAt - this.now());
  }

  /**
   * Runs `work`, rejecting with POP3_ERR_TIMEOUT after min(phaseMs, remaining)
   * or with POP3_ERR_ABORTED when `signal` aborts. `onTimeout` lets the caller
   * tear down what the phase opened (e.g. destroy a half-open socket).
   */
  async run<T>(
    phase: string,
    phaseMs: number,
    work: Promise<T>,
    options: { signal?: AbortSignal | undefined; onTimeout?: () => void } = {},
  ): Promise<T> {
    const ms = Math.min(phaseMs, this.remaining());
    return withTimeout(phase, ms, work, options);
  }
}

export async function withTimeout<T>(
  phase: string,
  ms: number,
  work: Promise<T>,
  options: { signal?: AbortSignal | undefined; onTimeout?: () => void } = {},
): Promise<T> {
  const { signal, onTimeout } = options;
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const guard = new Promise<never>((_, reject) => {
    if (signal?.aborted) {
      reject(new BridgeError('POP3_ERR_ABORTED', `${phase} aborted`, { cause: signal.reason }));
      return;
    }
    timer = setTimeout(() => {
      onTimeout?.();
      reject(new BridgeError('POP3_ERR_TIMEOUT', `${phase} timed out after ${ms} ms`, { context: { phase } }));
    }, ms);
    if (signal) {
      onAbort = () => {
        onTimeout?.();
        reject(new BridgeError('POP3_ERR_ABORTED', `${phase} aborted`, { cause: signal.reason }));
      };
      signal.addEventListener('abort', onAbort, { once: true });
    }
  });
  // The losing side must not surface as an unhandled rejection.
  guard.catch(() => {});
  work.catch(() => {});
  try {
    return await Promise.race([work, guard]);
  } finally {
    if (timer) clearTimeout(timer);
    if (signal && onAbort) signal.removeEventListener('abort', onAbort);
  }
}
