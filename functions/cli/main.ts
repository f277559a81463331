/**
 * `pop3-bridge` — the local mode's command line.
 *
 * Arguments are parsed with node:util parseArgs (no dependency); every command
 * reads the same config file; human output goes to stdout, JSON logs to stderr.
 */
import { parseArgs } from 'node:util';
import { isBridgeError } from '../core/errors.js';
import type { LogLevel } from '../core/logger.js';
import { checkCommand } from './commands/check.js';
import { deliverCommand } from './commands/deliver.js';
import { DEFAULT_DELIVERIES_LIMIT, deliveriesCommand } from './commands/deliveries.js';
import { demoCommand } from './commands/demo.js';
import { eventsShowCommand } from './commands/events-show.js';
import { lsCommand } from './commands/ls.js';
import { pollCommand } from './commands/poll.js';
import { replayCommand } from './commands/replay.js';
import { runCommand } from './commands/run.js';
import { statusCommand } from './commands/status.js';
import { createContext } from './context.js';
import { ExitCode } from './exit-codes.js';

export const USAGE = `Usage: pop3-bridge <command> [options] [mailbox...]

Commands:
  demo              serve a generated demo mailbox and run the real bridge against it
  check [mailbox]   connect, TLS, CAPA, log in, STAT; nothing is changed
  ls [mailbox]      dry run: the messages the next poll would fetch (From, Subject, size)
  poll [mailbox]    one pass over all (or the named) mailboxes, sending the due webhooks as it goes
  run [mailbox]     keep polling (each mailbox on its interval) and delivering, and serve the links in
                    events; SIGINT/SIGTERM finishes the current message, QUITs and exits
  status            per mailbox: last ok, last error, stored, pending deliveries, failing
  deliver           send the webhooks that are due now
  deliveries [mb]   list deliveries needing attention: pending, failed, dead
                    (--status pending|failed|dead|disabled|delivered for one status)
  replay <webhook-id> | <mb> <uid> | <mb>/<uid>
                    send a delivery or a message's events again (same webhook-id, receivers deduplicate)
  replay <mb> --since ISO-TIME   the mailbox's deliveries created since then
  replay --dead [mb] [--since T] every dead-lettered delivery (of one mailbox)
  events show <webhook-id> | <mb> <uid> | <mb>/<uid>
                    print an event body

Options:
  -c, --config FILE   config file (default: $POP3_BRIDGE_CONFIG or ./pop3-bridge.yaml|.yml|.json)
      --json          machine-readable output (check, ls, poll, status, deliver, deliveries, replay, demo)
      --force         poll even if a mailbox is backing off after errors
      --no-deliver    poll: store and queue only, send nothing
      --status S      deliveries: filter by status
      --since T       replay: deliveries created at or after T (ISO 8601)
      --dead          replay: every dead-lettered delivery
      --limit N       ls: show at most N messages per mailbox (default 50);
                      deliveries: show at most N deliveries (default 1000)
      --concurrency N run: mailboxes polled at once (default 4)
      --log-level L   debug | info | warn | error (default: info for poll, run, demo, deliver and replay;
                      warn otherwise)
  -h, --help

Exit codes: 0 ok, 1 a mailbox failed or was skipped for invalid config (status: one is marked failing;
deliver, replay: a delivery is dead; run: stopped on an error, printed on stderr), 2 usage or config file error, 3 the webhook-id or message
given is not in the state store.`;

const LOG_LEVELS: ReadonlyArray<LogLevel> = ['debug', 'info', 'warn', 'error'];

/**
 * A numeric option as a whole number ≥ 1 (`fallback` when absent); undefined, with the reason on stderr, for
 * anything else. `Number('abc')` is NaN, and `ls --limit abc` showed nothing and exited 0, `run --concurrency 0`
 * polled nothing and exited 0.
 */
function positiveInteger(value: unknown, name: string, fallback: number): number | undefined {
  if (value === undefined) return fallback;
  const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : Number.NaN;
  if (Number.isSafeInteger(n) && n >= 1) return n;
  process.stderr.write(`${name} must be a positive integer\n`);
  return undefined;
}

export async function main(argv: ReadonlyArray<string>, env: NodeJS.ProcessEnv): Promise<number> {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        config: { type: 'string', short: 'c' },
        json: { type: 'boolean', default: false },
        force: { type: 'boolean', default: false },
        'no-deliver': { type: 'boolean', default: false },
        status: { type: 'string' },
        since: { type: 'string' },
        dead: { type: 'boolean', default: false },
        limit: { type: 'string' },
        concurrency: { type: 'string' },
        'log-level': { type: 'string' },
        'max-passes': { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n\n${USAGE}\n`);
    return ExitCode.USAGE;
  }
  const { values, positionals } = parsed;
  const [command, ...names] = positionals;
  if (values.help || command === undefined) {
    process.stdout.write(`${USAGE}\n`);
    return command === undefined && !values.help ? ExitCode.USAGE : ExitCode.OK;
  }
  const verbose =
    command === 'poll' || command === 'run' || command === 'demo' || command === 'deliver' || command === 'replay';
  const logLevel = (values['log-level'] as string | undefined) ?? (verbose ? 'info' : 'warn');
  if (!LOG_LEVELS.includes(logLevel as LogLevel)) {
    process.stderr.write(`--log-level must be one of ${LOG_LEVELS.join(', ')}\n`);
    return ExitCode.USAGE;
  }
  const json = values.json === true;
  try {
    if (command === 'demo') return await demoCommand({ json, logLevel: logLevel as LogLevel });
    const ctx = await createContext(
      { config: values.config as string | undefined, json, logLevel: logLevel as LogLevel },
      env,
    );
    switch (command) {
      case 'check':
        return await checkCommand(ctx, names);
      case 'ls': {
        const limit = positiveInteger(values.limit, '--limit', 50);
        return limit === undefined ? ExitCode.USAGE : await lsCommand(ctx, names, limit);
      }
      case 'poll':
        return await pollCommand(ctx, names, { force: values.force === true, deliver: values['no-deliver'] !== true });
      case 'deliver':
        return await deliverCommand(ctx);
      case 'deliveries': {
        const limit = positiveInteger(values.limit, '--limit', DEFAULT_DELIVERIES_LIMIT);
        if (limit === undefined) return ExitCode.USAGE;
        return await deliveriesCommand(ctx, names, { status: values.status as string | undefined, limit });
      }
      case 'replay': {
        const since = values.since === undefined ? undefined : Date.parse(values.since as string);
        if (since !== undefined && Number.isNaN(since)) {
          process.stderr.write('--since must be an ISO 8601 time\n');
          return ExitCode.USAGE;
        }
        return await replayCommand(ctx, names, { since, dead: values.dead === true });
      }
      case 'events':
        if (names[0] !== 'show') {
          process.stderr.write(`unknown events subcommand '${names[0] ?? ''}'\n`);
          return ExitCode.USAGE;
        }
        return await eventsShowCommand(ctx, names.slice(1));
      case 'run': {
        const concurrency = positiveInteger(values.concurrency, '--concurrency', 4);
        const maxPasses =
          values['max-passes'] === undefined ? undefined : positiveInteger(values['max-passes'], '--max-passes', 0);
        if (concurrency === undefined || (values['max-passes'] !== undefined && maxPasses === undefined)) {
          return ExitCode.USAGE;
        }
        return await runCommand(ctx, names, { concurrency, maxPasses });
      }
      case 'status':
        return await statusCommand(ctx);
      default:
        process.stderr.write(`unknown command '${command}'\n\n${USAGE}\n`);
        return ExitCode.USAGE;
    }
  } catch (error) {
    if (isBridgeError(error) && error.code.startsWith('CONFIG_ERR')) {
      process.stderr.write(`pop3-bridge: ${error.message}\n`);
      return ExitCode.USAGE;
    }
    process.stderr.write(`pop3-bridge: ${isBridgeError(error) ? `${error.code}: ${error.message}` : String(error)}\n`);
    return ExitCode.MAILBOX_FAILED;
  }
}
