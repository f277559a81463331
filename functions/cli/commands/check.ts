/** `pop3-bridge check`: connect, TLS, CAPA, login, STAT for each mailbox, and QUIT. Nothing is changed. */
import { isBridgeError } from '../../core/errors.js';
import { createTokenSource } from '../../core/oauth/token-source.js';
import { openMailboxSession } from '../../core/session.js';
import type { CliContext } from '../context.js';
import { ExitCode } from '../exit-codes.js';
import { formatBytes, table } from '../output.js';

interface CheckReport {
  mailbox: string;
  server: string;
  ok: boolean;
  secure?: boolean;
  capabilities?: string[];
  sasl?: string[];
  messages?: number;
  bytes?: number;
  ms: number;
  error?: { code: string; message: string; retryable: boolean };
}

export async function checkCommand(ctx: CliContext, names: ReadonlyArray<string>): Promise<number> {
  const tokens = createTokenSource();
  const reports: CheckReport[] = [];
  for (const mailbox of ctx.select(names)) {
    const started = Date.now();
    const server = `${mailbox.host}:${mailbox.port} (${mailbox.tls})`;
    try {
      const client = await openMailboxSession(mailbox, { tokens, logger: ctx.logger });
      const stat = await client.stat();
      const caps = client.capabilities;
      await client.quit();
      reports.push({
        mailbox: mailbox.name,
        server,
        ok: true,
        secure: client.secure,
        capabilities: [...caps.raw.keys()],
        sasl: [...caps.sasl],
        messages: stat.count,
        bytes: stat.size,
        ms: Date.now() - started,
      });
    } catch (error) {
      const e = isBridgeError(error)
        ? { code: error.code, message: error.message, retryable: error.retryable }
        : { code: 'INTERNAL', message: String(error), retryable: false };
      reports.push({ mailbox: mailbox.name, server, ok: false, ms: Date.now() - started, error: e });
    }
  }
  for (const name of ctx.skippedFor(names)) {
    reports.push({
      mailbox: name,
      server: '-',
      ok: false,
      ms: 0,
      error: { code: 'CONFIG_ERR_INVALID', message: 'invalid config', retryable: false },
    });
  }
  if (ctx.json) {
    ctx.out(JSON.stringify({ mailboxes: reports }, null, 2));
  } else {
    ctx.out(
      table(
        ['MAILBOX', 'SERVER', 'RESULT', 'MESSAGES', 'DETAIL'],
        reports.map((r) => [
          r.mailbox,
          r.server,
          r.ok ? 'ok' : `FAILED ${r.error?.code ?? ''}`,
          r.ok ? `${r.messages} (${formatBytes(r.bytes ?? 0)})` : '-',
          r.ok
            ? `TLS ${r.secure ? 'yes' : 'NO'}; SASL ${r.sasl?.join(' ') || '-'}; ${r.ms} ms`
            : (r.error?.message ?? ''),
        ]),
      ),
    );
  }
  return reports.every((r) => r.ok) ? ExitCode.OK : ExitCode.MAILBOX_FAILED;
}
