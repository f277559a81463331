/**
 * `deliveries`: the delivery queue. By default what needs attention —
 * pending, failed (retry scheduled) and dead — not the delivered history
 * or the jobs a filter or a 410 left unsent (`--status` shows those).
 */
import type { DeliveryJob, DeliveryStatus } from '../../core/ports.js';
import { openLocalRuntime } from '../../local/runtime.js';
import type { CliContext } from '../context.js';
import { canonicalMailbox, isConfiguredMailbox } from '../delivery-ref.js';
import { ExitCode } from '../exit-codes.js';
import { formatTime, table } from '../output.js';

const STATUSES: ReadonlyArray<DeliveryStatus> = ['pending', 'delivered', 'failed', 'dead', 'disabled'];
const NEEDS_ATTENTION: ReadonlyArray<DeliveryStatus> = ['pending', 'failed', 'dead'];
export const DEFAULT_DELIVERIES_LIMIT = 1000;

export async function deliveriesCommand(
  ctx: CliContext,
  names: ReadonlyArray<string>,
  options: { readonly status: string | undefined; readonly limit: number },
): Promise<number> {
  const { status, limit } = options;
  if (status !== undefined && !STATUSES.includes(status as DeliveryStatus)) {
    ctx.err(`--status must be one of ${STATUSES.join(', ')}`);
    return ExitCode.USAGE;
  }
  const unknown = names.filter((n) => !isConfiguredMailbox(ctx, n));
  if (unknown.length > 0) {
    ctx.err(`no such mailbox: ${unknown.join(', ')}`);
    return ExitCode.USAGE;
  }
  const statuses = status === undefined ? NEEDS_ATTENTION : [status as DeliveryStatus];
  const mailboxes = names.length > 0 ? names.map((n) => canonicalMailbox(ctx, n)) : [undefined];
  const runtime = openLocalRuntime(ctx.config, { baseDir: process.cwd() });
  let jobs: DeliveryJob[] = [];
  try {
    // One query per (mailbox, status), each asked for one more than shown so a cut is reported, not silent.
    for (const mailbox of mailboxes) {
      for (const s of statuses) {
        jobs.push(
          ...(await runtime.state.listDeliveries({ ...(mailbox && { mailbox }), status: s, limit: limit + 1 })),
        );
      }
    }
  } finally {
    await runtime.close();
  }
  jobs.sort((a, b) => a.createdAt - b.createdAt || (a.webhookId < b.webhookId ? -1 : 1));
  const truncated = jobs.length > limit;
  jobs = jobs.slice(0, limit);
  if (ctx.json) {
    ctx.out(JSON.stringify({ deliveries: jobs, truncated }, null, 2));
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
  if (truncated) ctx.out(`(the oldest ${limit} shown; more match: --limit N shows more)`);
  return ExitCode.OK;
}
