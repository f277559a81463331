/** `pop3-bridge poll`: one pass over all (or the named) mailboxes, sending webhooks as messages are stored. */
import { toBridgeError } from '../../core/errors.js';
import { type PollResult, pollMailbox } from '../../core/poll/poll-mailbox.js';
import { pollTargetOf } from '../../core/poll/target.js';
import { openLocalRuntime } from '../../local/runtime.js';
import type { CliContext } from '../context.js';
import { ExitCode } from '../exit-codes.js';
import { formatBytes, progressBar, table } from '../output.js';
import { describeDeferred, drainDeliveries } from './deliver.js';

export function describeResults(results: ReadonlyArray<PollResult>): string {
  return table(
    ['MAILBOX', 'RESULT', 'FETCHED', 'DELETED', 'LEFT', 'DETAIL'],
    results.map((r) => [
      r.mailbox,
      r.status === 'error' ? `FAILED ${r.error?.code ?? ''}` : r.status,
      `${r.fetched} (${formatBytes(r.bytes)})`,
      String(r.deleted),
      String(r.remaining),
      r.error?.message ??
        (r.uidlReset ? `UIDL reset: ${r.uidlReset.matchedByHash} matched by content hash` : (r.path ?? '')),
    ]),
  );
}

export async function pollCommand(
  ctx: CliContext,
  names: ReadonlyArray<string>,
  options: { force: boolean; deliver: boolean },
): Promise<number> {
  const { force } = options;
  const runtime = openLocalRuntime(ctx.config, { baseDir: process.cwd() });
  const results: PollResult[] = [];
  let delivery: Awaited<ReturnType<typeof drainDeliveries>> | undefined;
  try {
    const mailboxes = ctx.select(names);
    await runtime.sweepStaleTemp(ctx.logger);
    // Webhooks go out while the polls store messages, as `run` sends them (a first sync of thousands of
    // messages does not wait for the last one before the first event); the drain ends once the polls have and
    // nothing is due. The runtime closes only after the drain has stopped using it.
    let polling = true;
    const draining = options.deliver
      ? drainDeliveries(runtime, ctx, { whilePolling: () => polling }).then(
          (result) => ({ result }),
          (error: unknown) => ({ error }),
        )
      : undefined;
    let pollFailure: { error: unknown } | undefined;
    try {
      for (const mailbox of mailboxes) {
        const bar = progressBar(mailbox.name);
        const deps = runtime.depsFor(mailbox, ctx.logger, {
          onProgress: ({ done, total, bytes }) => bar.update(done, total, bytes),
        });
        try {
          results.push(await pollMailbox(pollTargetOf(mailbox), deps, { force }));
        } catch (caught) {
          // pollMailbox returns a failed poll as a result; it rejects only when the state store fails where it
          // cannot record that (releasing the lease, writing the failure) or on a bug. That is this mailbox's
          // failure: it once ended the pass, and the mailboxes after it were not polled at all.
          const error = toBridgeError(caught, 'POLL_ERR_INTERNAL');
          ctx.logger.error('poll ended with an unexpected error', { mailbox: mailbox.name, code: error.code, error });
          results.push({
            mailbox: mailbox.name,
            status: 'error',
            fetched: 0,
            bytes: 0,
            deleted: 0,
            skipped: 0,
            remaining: 0,
            error,
          });
        }
        bar.end();
      }
    } catch (error) {
      pollFailure = { error };
    }
    polling = false;
    const drained = await draining;
    // A poll's own failure is the one to report; a failed drain (the state database) loses nothing either way.
    if (pollFailure) throw pollFailure.error;
    if (drained && 'error' in drained) throw drained.error;
    delivery = drained?.result;
  } finally {
    await runtime.close();
  }
  if (ctx.json) {
    ctx.out(JSON.stringify({ results: results.map((r) => ({ ...r, error: r.error?.toJSON() })), delivery }, null, 2));
  } else {
    ctx.out(describeResults(results));
    if (delivery && delivery.attempted > 0) {
      ctx.out(
        `\nWebhooks: ${delivery.delivered} delivered, ${delivery.retrying} to retry, ${delivery.dead} dead, ${delivery.disabled} not sent (filtered or endpoint disabled)${describeDeferred(delivery)}`,
      );
    }
  }
  const failed = results.some((r) => r.status === 'error') || ctx.skippedFor(names).length > 0;
  return failed ? ExitCode.MAILBOX_FAILED : ExitCode.OK;
}
