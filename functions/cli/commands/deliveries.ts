/**
 * Delivery commands: `deliver` (send what is due now), `deliveries` (list
 * pending / failed / dead ones), `replay` (send again, same webhook-id) and
 * `events show` (print the event body of a delivery or message).
 */
import type { DeliveryJob, DeliveryStatus } from '../../core/ports.js';
import { type DeliveryRunResult, deliverDue } from '../../delivery/delivery-engine.js';
import { eventForJob } from '../../delivery/event-source.js';
import { type LocalRuntime, openLocalRuntime } from '../../local/runtime.js';
import type { CliContext } from '../context.js';
import { ExitCode } from '../exit-codes.js';
import { formatTime, table } from '../output.js';

const STATUSES: ReadonlyArray<DeliveryStatus> = ['pending', 'delivered', 'failed', 'dead', 'disabled'];

/** Sends everything due now, round after round, until nothing is due (bounded). */
export async function drainDeliveries(
  runtime: LocalRuntime,
  ctx: CliContext,
  maxRounds = 50,
): Promise<DeliveryRunResult> {
  const total = { attempted: 0, delivered: 0, retrying: 0, dead: 0, disabled: 0 };
  const deps = runtime.deliveryDeps(ctx.logger);
  for (let round = 0; round < maxRounds; round += 1) {
    const result = await deliverDue(deps);
    for (const k of Object.keys(total) as Array<keyof DeliveryRunResult>) total[k] += result[k];
    if (result.attempted === 0) break;
  }
  return total;
}

export async function deliverCommand(ctx: CliContext): Promise<number> {
  const runtime = openLocalRuntime(ctx.config, { baseDir: process.cwd() });
  try {
    const result = await drainDeliveries(runtime, ctx);
    if (ctx.json) ctx.out(JSON.stringify(result, null, 2));
    else
      ctx.out(
        `${result.attempted} attempted: ${result.delivered} delivered, ${result.retrying} to retry, ${result.dead} dead, ${result.disabled} not sent (filtered or endpoint disabled)`,
      );
    return result.dead > 0 ? ExitCode.MAILBOX_FAILED : ExitCode.OK;
  } finally {
    await runtime.close();
  }
}

export async function deliveriesCommand(
  ctx: CliContext,
  names: ReadonlyArray<string>,
  status: string | undefined,
): Promise<number> {
  if (status !== undefined && !STATUSES.includes(status as DeliveryStatus)) {
    ctx.err(`--status must be one of ${STATUSES.join(', ')}`);
    return ExitCode.USAGE;
  }
  const runtime = openLocalRuntime(ctx.config, { baseDir: process.cwd() });
  let jobs: DeliveryJob[] = [];
  try {
    const mailboxes = names.length > 0 ? names : [undefined];
    for (const mailbox of mailboxes) {
      const filter = { ...(mailbox && { mailbox }), ...(status && { status: status as DeliveryStatus }), limit: 1000 };
      jobs.push(...(await runtime.state.listDeliveries(filter)));
    }
    // Default view: what needs attention, not the delivered history.
    if (status === undefined) jobs = jobs.filter((j) => j.status !== 'delivered');
  } finally {
    await runtime.close();
  }
  if (ctx.json) {
    ctx.out(JSON.stringify({ deliveries: jobs }, null, 2));
    return ExitCode.OK;
  }
  ctx.out(
    table(
      ['WEBHOOK-ID', 'MAILBOX', 'UID', 'ENDPOINT', 'STATUS', 'TRIES', 'NEXT', 'LAST ERROR'],
      jobs.map((j) => [
        j.webhookId,
        j.mailbox,
        j.uid.length > 24 ? `${j.uid.slice(0, 21)}...` : j.uid,
        j.endpointId,
        j.status,
        String(j.attempts),
        j.status === 'pending' || j.status === 'failed' ? formatTime(j.nextAttemptAt) : '-',
        (j.lastError ?? '').slice(0, 60),
      ]),
    ),
  );
  return ExitCode.OK;
}

export interface ReplaySelection {
  readonly mailbox?: string | undefined;
  readonly uid?: string | undefined;
  readonly since?: number | undefined;
  readonly dead?: boolean | undefined;
}

/** Puts the selected deliveries back in the queue, due now, with their webhook-ids unchanged; then sends them. */
export async function replayCommand(ctx: CliContext, selection: ReplaySelection): Promise<number> {
  if (!selection.dead && !selection.mailbox) {
    ctx.err('replay needs a mailbox (with a uid or --since) or --dead');
    return ExitCode.USAGE;
  }
  const runtime = openLocalRuntime(ctx.config, { baseDir: process.cwd() });
  try {
    const filter = {
      ...(selection.mailbox && { mailbox: selection.mailbox }),
      ...(selection.uid && { uid: selection.uid }),
      ...(selection.dead && { status: 'dead' as const }),
    };
    const jobs = (await runtime.state.listDeliveries(filter)).filter(
      (j) => selection.since === undefined || j.createdAt >= selection.since,
    );
    const now = Date.now();
    for (const job of jobs) {
      await runtime.state.updateDelivery(job.webhookId, { status: 'pending', attempts: 0, nextAttemptAt: now });
    }
    ctx.logger.info('deliveries queued again', { count: jobs.length });
    const result = await drainDeliveries(runtime, ctx);
    if (ctx.json) ctx.out(JSON.stringify({ replayed: jobs.length, ...result }, null, 2));
    else
      ctx.out(
        `${jobs.length} deliveries replayed: ${result.delivered} delivered, ${result.retrying} to retry, ${result.dead} dead`,
      );
    return ExitCode.OK;
  } finally {
    await runtime.close();
  }
}

/** Prints the event body of a delivery (by webhook-id) or of a message (mailbox + uid). */
export async function eventsShowCommand(ctx: CliContext, args: ReadonlyArray<string>): Promise<number> {
  const [first, second] = args;
  if (!first) {
    ctx.err('usage: pop3-bridge events show <webhook-id> | <mailbox> <uid>');
    return ExitCode.USAGE;
  }
  const runtime = openLocalRuntime(ctx.config, { baseDir: process.cwd() });
  try {
    const jobs =
      second === undefined
        ? (await runtime.state.listDeliveries({ limit: 100_000 })).filter((j) => j.webhookId === first)
        : await runtime.state.listDeliveries({ mailbox: first, uid: second, limit: 1 });
    const job = jobs[0];
    if (!job) {
      ctx.err(second === undefined ? `no delivery with webhook-id ${first}` : `no message ${second} in ${first}`);
      return ExitCode.MAILBOX_FAILED;
    }
    const event = await eventForJob(job, runtime);
    ctx.out(JSON.stringify(event, null, 2));
    return ExitCode.OK;
  } finally {
    await runtime.close();
  }
}
