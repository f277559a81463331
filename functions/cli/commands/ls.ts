/** `pop3-bridge ls`: the messages the next poll would fetch (From, Subject, size via TOP). A dry run. */
import { isBridgeError } from '../../core/errors.js';
import { createTokenSource } from '../../core/oauth/token-source.js';
import { type PreviewEntry, previewNewMessages } from '../../core/poll/preview.js';
import { openMailboxSession } from '../../core/session.js';
import { openLocalRuntime } from '../../local/runtime.js';
import type { CliContext } from '../context.js';
import { ExitCode } from '../exit-codes.js';
import { formatBytes, table } from '../output.js';

export async function lsCommand(ctx: CliContext, names: ReadonlyArray<string>, limit: number): Promise<number> {
  const runtime = openLocalRuntime(ctx.config, { baseDir: process.cwd() });
  const tokens = createTokenSource();
  const results: Array<{
    mailbox: string;
    total?: number;
    messages?: PreviewEntry[];
    error?: { code: string; message: string };
  }> = [];
  try {
    for (const mailbox of ctx.select(names)) {
      try {
        const client = await openMailboxSession(mailbox, { tokens, logger: ctx.logger });
        try {
          const preview = await previewNewMessages(client, runtime.state, mailbox.name, limit);
          // QUIT without DELE: nothing changes on the server.
          await client.quit();
          results.push({ mailbox: mailbox.name, total: preview.total, messages: preview.entries });
        } finally {
          client.close();
        }
      } catch (error) {
        results.push({
          mailbox: mailbox.name,
          error: isBridgeError(error)
            ? { code: error.code, message: error.message }
            : { code: 'INTERNAL', message: String(error) },
        });
      }
    }
  } finally {
    await runtime.close();
  }
  if (ctx.json) {
    ctx.out(JSON.stringify({ mailboxes: results }, null, 2));
  } else {
    for (const r of results) {
      if (r.error) {
        ctx.out(`${r.mailbox}: FAILED ${r.error.code}: ${r.error.message}\n`);
        continue;
      }
      const shown = r.messages?.length ?? 0;
      ctx.out(`${r.mailbox}: ${r.total} new message(s)${r.total !== shown ? `, first ${shown} shown` : ''}`);
      if (shown > 0) {
        ctx.out(
          table(
            ['#', 'SIZE', 'FROM', 'SUBJECT'],
            (r.messages ?? []).map((m) => [
              String(m.msg),
              formatBytes(m.size),
              m.from.slice(0, 40),
              m.subject.slice(0, 60),
            ]),
          ),
        );
      }
      ctx.out('');
    }
  }
  return results.every((r) => !r.error) && ctx.skippedFor(names).length === 0 ? ExitCode.OK : ExitCode.MAILBOX_FAILED;
}
