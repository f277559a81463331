/** `deliver`: send every webhook that is due now. */
import { setTimeout as sleep } from 'node:timers/promises';
import type { EndpointRef } from '../../core/ports.js';
import { type DeliveryRunResult, deliverDue } from '../../delivery/delivery-engine.js';
import { TimedOutEndpoints } from '../../delivery/timed-out-endpoints.js';
import { type LocalRuntime, openLocalRuntime } from '../../local/runtime.js';
import type { CliContext } from '../context.js';
import { ExitCode } from '../exit-codes.js';

/**
 * Sends everything due now, round after round, until a round finds nothing due. Every attempt moves its job
 * along the retry schedule (the first retry is 5 s away, the next minutes, and after eight attempts the job is
 * dead), so this ends on its own; `maxRounds` only guards against a clock that stands still. Until 2026-11-28 it
 * stopped after 50 rounds of 100: a first sync of more than 5,000 messages delivered 5,000 and left the rest for
 * the next command, which nothing in the output said.
 *
 * An endpoint that timed out is left alone for the rest of the drain (timed-out-endpoints.ts): its other jobs
 * stay due for the next command or `run`. Before, a command with a backlog for a receiver that accepts
 * connections and never answers ran for many minutes (test/cli/drain-hanging-endpoint.test.ts: 400 jobs at a
 * 1 s timeout, over 30 s; now one round).
 */
export async function drainDeliveries(
  runtime: LocalRuntime,
  ctx: CliContext,
  options: DrainOptions = {},
): Promise<DrainResult> {
  const total = { attempted: 0, delivered: 0, retrying: 0, dead: 0, disabled: 0, deferred: 0 };
  const timedOut = new TimedOutEndpoints();
  const deps = runtime.deliveryDeps(ctx.logger);
  const maxRounds = options.maxRounds ?? 1_000_000;
  for (let rounds = 0; rounds < maxRounds; ) {
    // Asked before the round: a poll that ends during it may have stored messages the round did not claim.
    const pollGoesOn = options.whilePolling?.() ?? false;
    const result = await deliverDue(deps, {
      ...(options.limit !== undefined && { limit: options.limit }),
      ...timedOut.roundOptions(),
    });
    for (const k of Object.keys(total) as Array<keyof DeliveryRunResult>) total[k] += result[k];
    if (result.attempted > 0) {
      rounds += 1;
      continue;
    }
    if (!pollGoesOn) break;
    // Waiting for the poll is not a round: the poll's end (bounded by its own timeouts) ends the waits, and a
    // poll of many hours must not use up maxRounds and leave its later messages unsent.
    await sleep(POLL_WAIT_MS);
  }
  return { ...total, timedOutEndpoints: timedOut.list() };
}

/** A drain's counts, and the endpoints that timed out (left alone for the rest of it). */
export interface DrainResult extends DeliveryRunResult {
  readonly timedOutEndpoints: ReadonlyArray<EndpointRef>;
}

export interface DrainOptions {
  /** Jobs per round (deliverDue's `limit`). */
  readonly limit?: number;
  /** Rounds that found work, at most. */
  readonly maxRounds?: number;
  /**
   * While this answers true a poll is storing messages beside the drain: a round that finds nothing due waits
   * POLL_WAIT_MS and looks again instead of ending the drain.
   */
  readonly whilePolling?: () => boolean;
}

/** How long a drain beside a poll waits when nothing is due yet (the poll stores a message every few ms). */
const POLL_WAIT_MS = 25;

export async function deliverCommand(ctx: CliContext): Promise<number> {
  const runtime = openLocalRuntime(ctx.config, { baseDir: process.cwd() });
  try {
    const result = await drainDeliveries(runtime, ctx);
    if (ctx.json) ctx.out(JSON.stringify(result, null, 2));
    else
      ctx.out(
        `${result.attempted} attempted: ${result.delivered} delivered, ${result.retrying} to retry, ${result.dead} dead, ${result.disabled} not sent (filtered or endpoint disabled)${describeDeferred(result)}`,
      );
    return result.dead > 0 ? ExitCode.MAILBOX_FAILED : ExitCode.OK;
  } finally {
    await runtime.close();
  }
}

/** The summary's note on deferred jobs and endpoints that did not answer, empty when there are none. */
export function describeDeferred(result: DrainResult): string {
  const deferred =
    result.deferred > 0
      ? `; ${result.deferred} deferred (not sent in this round, see docs/webhooks.md: tried again in a later one)`
      : '';
  const silent = result.timedOutEndpoints.map(({ mailbox, endpointId }) => `${endpointId} of ${mailbox}`);
  return silent.length > 0
    ? `${deferred}; timed out, so not tried again by this command (their webhooks wait for the next run): ${silent.join(', ')}`
    : deferred;
}
