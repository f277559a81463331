/**
 * `replay`: puts deliveries back in the queue, due now, with their
 * webhook-ids unchanged (receivers deduplicate on it), then sends them.
 *
 *   replay <webhook-id>                       one delivery
 *   replay <mailbox> <uid> | <mailbox>/<uid>  every delivery of one message
 *   replay <mailbox> --since T                the mailbox's deliveries created at or after T
 *   replay --dead [<mailbox>] [--since T]     every dead letter (of one mailbox)
 */
import type { DeliveryJob, DeliveryStatus } from '../../core/ports.js';
import { openLocalRuntime } from '../../local/runtime.js';
import type { CliContext } from '../context.js';
import { canonicalMailbox, describeRef, isConfiguredMailbox, parseDeliveryRef } from '../delivery-ref.js';
import { ExitCode } from '../exit-codes.js';
import { drainDeliveries } from './deliver.js';

export interface ReplayOptions {
  /** Epoch ms: only deliveries created at or after it. */
  readonly since?: number | undefined;
  readonly dead?: boolean | undefined;
}

const USAGE =
  'usage: pop3-bridge replay <webhook-id> | <mailbox> <uid> | <mailbox>/<uid> | <mailbox> --since T | --dead [<mailbox>] [--since T]';

type Selection =
  | { readonly kind: 'ref'; readonly ref: NonNullable<ReturnType<typeof parseDeliveryRef>> }
  | { readonly kind: 'query'; readonly mailbox?: string; readonly dead: boolean; readonly since?: number };

/** What the command line selects, or a usage message. */
function selectionOf(ctx: CliContext, args: ReadonlyArray<string>, options: ReplayOptions): Selection | string {
  if (options.dead || options.since !== undefined) {
    const [mailbox, ...rest] = args;
    if (rest.length > 0) return USAGE;
    if (mailbox === undefined && !options.dead) return 'replay --since needs a mailbox (or --dead)';
    if (mailbox !== undefined && !isConfiguredMailbox(ctx, mailbox)) return `no such mailbox: ${mailbox}`;
    return {
      kind: 'query',
      ...(mailbox !== undefined && { mailbox: canonicalMailbox(ctx, mailbox) }),
      dead: options.dead === true,
      ...(options.since !== undefined && { since: options.since }),
    };
  }
  const ref = parseDeliveryRef(args);
  if (ref === undefined) return USAGE;
  return { kind: 'ref', ref };
}

async function selectedJobs(
  ctx: CliContext,
  state: ReturnType<typeof openLocalRuntime>['state'],
  selection: Selection,
): Promise<DeliveryJob[]> {
  if (selection.kind === 'ref') {
    const { ref } = selection;
    if (ref.kind === 'webhook') {
      const job = await state.getDelivery(ref.webhookId);
      return job === undefined ? [] : [job];
    }
    return state.listDeliveries({ mailbox: canonicalMailbox(ctx, ref.mailbox), uid: ref.uid });
  }
  const status: DeliveryStatus | undefined = selection.dead ? 'dead' : undefined;
  const jobs = await state.listDeliveries({
    ...(selection.mailbox !== undefined && { mailbox: selection.mailbox }),
    ...(status !== undefined && { status }),
  });
  return selection.since === undefined ? jobs : jobs.filter((j) => j.createdAt >= (selection.since ?? 0));
}

export async function replayCommand(
  ctx: CliContext,
  args: ReadonlyArray<string>,
  options: ReplayOptions,
): Promise<number> {
  const selection = selectionOf(ctx, args, options);
  if (typeof selection === 'string') {
    ctx.err(selection);
    return ExitCode.USAGE;
  }
  const runtime = openLocalRuntime(ctx.config, { baseDir: process.cwd() });
  try {
    const jobs = await selectedJobs(ctx, runtime.state, selection);
    if (selection.kind === 'ref' && jobs.length === 0) {
      const { ref } = selection;
      // `replay main` alone: a mailbox without a uid, --since or --dead would replay everything it ever sent.
      if (ref.kind === 'webhook' && isConfiguredMailbox(ctx, ref.webhookId)) {
        ctx.err(`'${ref.webhookId}' is a mailbox: replay needs a uid, --since T or --dead\n${USAGE}`);
        return ExitCode.USAGE;
      }
      ctx.err(`no ${describeRef(ref)} (pop3-bridge deliveries --status delivered lists webhook-ids and uids)`);
      return ExitCode.NOT_FOUND;
    }
    const now = Date.now();
    for (const job of jobs) {
      await runtime.state.updateDelivery(job.webhookId, { status: 'pending', attempts: 0, nextAttemptAt: now });
      ctx.logger.info('delivery queued again', { mailbox: job.mailbox, uid: job.uid, webhookId: job.webhookId });
    }
    await drainDeliveries(runtime, ctx);
    // The outcome of the replayed jobs only: the drain also sends whatever else was due.
    const outcome = { delivered: 0, retrying: 0, dead: 0, disabled: 0 };
    for (const job of jobs) {
      const status = (await runtime.state.getDelivery(job.webhookId))?.status;
      if (status === 'delivered' || status === 'dead' || status === 'disabled') outcome[status] += 1;
      else outcome.retrying += 1;
    }
    if (ctx.json) {
      ctx.out(JSON.stringify({ replayed: jobs.length, ...outcome, webhookIds: jobs.map((j) => j.webhookId) }, null, 2));
    } else {
      ctx.out(
        `${jobs.length} deliveries replayed: ${outcome.delivered} delivered, ${outcome.retrying} to retry, ${outcome.dead} dead, ${outcome.disabled} not sent (filtered or endpoint disabled)`,
      );
    }
    return outcome.dead > 0 ? ExitCode.MAILBOX_FAILED : ExitCode.OK;
  } finally {
    await runtime.close();
  }
}
