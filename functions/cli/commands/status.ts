/**
 * `pop3-bridge status`: per mailbox, last ok, last error, stored, pending deliveries, failing. Exits 1 when a
 * mailbox is skipped for its config or marked failing (an [AUTH] or [SYS/PERM] refusal, polled only at the slow
 * retry rate), so that `pop3-bridge status || alert` works from cron, as the exit-code table reads.
 */
import type { DeliveryStatus, MailboxState } from '../../core/ports.js';
import { openLocalRuntime } from '../../local/runtime.js';
import type { CliContext } from '../context.js';
import { ExitCode } from '../exit-codes.js';
import { formatBytes, formatTime, table } from '../output.js';

export async function statusCommand(ctx: CliContext): Promise<number> {
  const runtime = openLocalRuntime(ctx.config, { baseDir: process.cwd() });
  const rows: Array<{
    mailbox: string;
    enabled: boolean;
    state: MailboxState | undefined;
    deliveries: Record<DeliveryStatus, number>;
  }> = [];
  try {
    const states = new Map((await runtime.state.listMailboxStates()).map((s) => [s.mailbox, s]));
    const names = new Set([...ctx.config.mailboxes.map((m) => m.name), ...states.keys()]);
    for (const name of names) {
      rows.push({
        mailbox: name,
        enabled: ctx.config.mailboxes.find((m) => m.name === name)?.enabled ?? false,
        state: states.get(name),
        deliveries: await runtime.state.countDeliveries(name),
      });
    }
  } finally {
    await runtime.close();
  }
  const unwell =
    ctx.skipped.length > 0 || rows.some((r) => r.enabled && r.state?.failing === true)
      ? ExitCode.MAILBOX_FAILED
      : ExitCode.OK;
  if (ctx.json) {
    ctx.out(JSON.stringify({ store: runtime.dir, mailboxes: rows, skipped: ctx.skipped }, null, 2));
    return unwell;
  }
  ctx.out(
    table(
      ['MAILBOX', 'LAST OK', 'LAST ERROR', 'STORED', 'PENDING', 'DEAD', 'FAILING'],
      rows.map((r) => [
        r.enabled ? r.mailbox : `${r.mailbox} (disabled)`,
        formatTime(r.state?.lastOkAt),
        r.state?.lastError ? `${formatTime(r.state.lastError.at)} ${r.state.lastError.code}` : '-',
        `${r.state?.storedCount ?? 0} (${formatBytes(r.state?.storedBytes ?? 0)})`,
        String(r.deliveries.pending + r.deliveries.failed),
        String(r.deliveries.dead),
        r.state?.failing ? 'YES' : 'no',
      ]),
    ),
  );
  for (const name of ctx.skipped) ctx.out(`${name}: skipped (invalid config)`);
  return unwell;
}
