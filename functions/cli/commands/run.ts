/**
 * `pop3-bridge run`: the long-running local bridge. Each mailbox is polled on
 * its own interval (back-off and LOGIN-DELAY come from the engine's state);
 * SIGINT/SIGTERM stops taking new messages, lets the current one finish, QUITs
 * and exits. A second signal exits at once (nothing is lost: a session cut
 * before QUIT deletes nothing).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { toBridgeError } from '../../core/errors.js';
import { decideBackoff } from '../../core/poll/backoff.js';
import { pollMailbox } from '../../core/poll/poll-mailbox.js';
import { pollTargetOf } from '../../core/poll/target.js';
import { deliverDue } from '../../delivery/delivery-engine.js';
import { startLinkServer } from '../../local/link-server.js';
import { openLocalRuntime } from '../../local/runtime.js';
import type { CliContext } from '../context.js';
import { ExitCode } from '../exit-codes.js';

function splitHostPort(listen: string): [string, number] {
  const at = listen.lastIndexOf(':');
  return [listen.slice(0, at).replace(/^\[|\]$/g, ''), Number(listen.slice(at + 1))];
}

export interface RunOptions {
  readonly concurrency: number;
  /** Stop after this many scheduler passes (tests); undefined runs until a signal. */
  readonly maxPasses?: number | undefined;
}

export async function runCommand(ctx: CliContext, names: ReadonlyArray<string>, options: RunOptions): Promise<number> {
  const runtime = openLocalRuntime(ctx.config, { baseDir: process.cwd() });
  const mailboxes = ctx.select(names);
  const stop = new AbortController();
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals += 1;
    // A second signal: stop now, with the shell's code for it (128 + its number: 130 for SIGINT, 143 for SIGTERM).
    if (signals > 1) process.exit(signal === 'SIGTERM' ? 143 : 130);
    ctx.logger.info('stopping: finishing the current message, then QUIT', { signal });
    stop.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const [host, port] = splitHostPort(ctx.config.links.listen);
  const links = await startLinkServer({ store: runtime.store, key: runtime.linkKey, host, port, logger: ctx.logger });
  const deliveryDeps = runtime.deliveryDeps(ctx.logger);
  /** The delivery round in progress; it resolves to whether it found any work. */
  let delivering: Promise<boolean> | undefined;
  const nextDue = new Map(mailboxes.map((m) => [m.name, 0]));
  /** Each mailbox's poll in progress; it settles (never rejects) once the mailbox's next poll is scheduled. */
  const inFlight = new Map<string, Promise<void>>();
  /** Consecutive polls of a mailbox that rejected: their back-off grows as a failed poll's does. */
  const rejected = new Map<string, number>();
  let failures = 0;
  ctx.logger.info('bridge running', { mailboxes: mailboxes.map((m) => m.name), store: runtime.dir, links: links.url });
  try {
    await runtime.sweepStaleTemp(ctx.logger);
    for (
      let pass = 0;
      !stop.signal.aborted && (options.maxPasses === undefined || pass < options.maxPasses);
      pass += 1
    ) {
      const now = Date.now();
      for (const mailbox of mailboxes) {
        if (inFlight.has(mailbox.name) || inFlight.size >= options.concurrency) continue;
        if ((nextDue.get(mailbox.name) ?? 0) > now) continue;
        const interval = mailbox.pollIntervalSeconds * 1000;
        // Started inside a promise chain, so that even a synchronous throw is this mailbox's failure alone.
        const poll = Promise.resolve()
          .then(() => pollMailbox(pollTargetOf(mailbox), runtime.depsFor(mailbox, ctx.logger), { signal: stop.signal }))
          .then(
            (result) => {
              rejected.delete(mailbox.name);
              nextDue.set(mailbox.name, Math.max(Date.now() + interval, result.nextPollAfter ?? 0));
              if (result.status === 'error') failures += 1;
            },
            (caught: unknown) => {
              // pollMailbox returns a failed poll as a result; it rejects only when the state store fails where
              // it cannot record that (releasing the lease in its `finally`, writing the failure itself) or on a
              // bug. That is this mailbox's failure: a rejection here once ended the scheduler loop and closed
              // the stores under the other mailboxes' polls and the delivery round. Nothing is lost: no QUIT
              // was sent with a DELE of anything unrecorded (poll-mailbox.ts).
              const error = toBridgeError(caught, 'POLL_ERR_INTERNAL');
              const count = (rejected.get(mailbox.name) ?? 0) + 1;
              rejected.set(mailbox.name, count);
              failures += 1;
              const at = Date.now();
              const next = Math.max(at + interval, decideBackoff(error, count, at).nextPollAfter);
              nextDue.set(mailbox.name, next);
              ctx.logger.error('poll ended with an unexpected error', {
                mailbox: mailbox.name,
                code: error.code,
                error,
                consecutive: count,
                nextPollAt: new Date(next).toISOString(),
              });
            },
          )
          .finally(() => inFlight.delete(mailbox.name));
        inFlight.set(mailbox.name, poll);
      }
      // One delivery round at a time; it runs beside the polls and never blocks them. While it waits on requests
      // in flight it keeps claiming new due jobs (refill), so an endpoint that hangs until its timeout does not
      // hold up another endpoint's new events; a stop ends the claiming, and the round then ends with its requests.
      delivering ??= deliverDue(deliveryDeps, { refill: { signal: stop.signal } })
        .then((result) => result.attempted > 0)
        .catch((error: unknown) => {
          ctx.logger.error('delivery round failed', { error });
          return false;
        })
        .finally(() => {
          delivering = undefined;
        });
      // A round that found work may have left more (it claims at most its limit): the next pass starts the next
      // round at once. Without this wake-up a backlog drained one round per pass, and between polls a pass waits
      // up to 5 s: 5,000 queued events took over four minutes instead of seconds.
      const roundFoundWork = delivering.then((more) => (more ? undefined : new Promise<never>(() => {})));
      const soonest = Math.min(...[...nextDue.values()].map((t) => t - Date.now()), 5_000);
      await Promise.race([
        sleep(Math.max(soonest, 50), undefined, { signal: stop.signal }).catch(() => {}),
        roundFoundWork,
        ...inFlight.values(),
      ]);
    }
    await Promise.all(inFlight.values());
    await delivering;
  } catch (error) {
    // Nothing above is expected to throw once the bridge is running (a poll's failure is its mailbox's, a
    // delivery round's is logged). If something does, the stores must not close under the polls and the
    // delivery round still running: stop taking new work, let them end, then main prints the error (exit 1).
    ctx.logger.error('bridge stopping on an unexpected error, after the polls and deliveries in flight', { error });
    stop.abort();
    await Promise.allSettled(inFlight.values());
    await delivering;
    throw error;
  } finally {
    await links.close();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await runtime.close();
  }
  ctx.logger.info('bridge stopped');
  return failures > 0 && options.maxPasses !== undefined ? ExitCode.MAILBOX_FAILED : ExitCode.OK;
}
