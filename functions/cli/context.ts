/**
 * What every CLI command starts from: the parsed config (bad mailboxes already
 * reported and skipped), the selected mailboxes, a logger, and output helpers.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../config/load.js';
import type { BridgeConfig, MailboxConfig } from '../config/schema.js';
import type { ConfigProblem } from '../config/validate.js';
import { BridgeError } from '../core/errors.js';
import { createJsonLogger, type Logger, type LogLevel } from '../core/logger.js';

export interface GlobalOptions {
  readonly config: string | undefined;
  readonly json: boolean;
  readonly logLevel: LogLevel;
}

export interface CliContext {
  readonly configFile: string;
  readonly config: BridgeConfig;
  readonly problems: ReadonlyArray<ConfigProblem>;
  readonly skipped: ReadonlyArray<string>;
  readonly logger: Logger;
  readonly json: boolean;
  out(text: string): void;
  err(text: string): void;
  /** The enabled mailboxes, or the named ones (unknown names are a usage error). */
  select(names: ReadonlyArray<string>): MailboxConfig[];
  /** Mailboxes skipped for invalid config that count as failures: all of them when no names were given, else none. */
  skippedFor(names: ReadonlyArray<string>): ReadonlyArray<string>;
}

const DEFAULT_FILES = ['pop3-bridge.yaml', 'pop3-bridge.yml', 'pop3-bridge.json'];

export function findConfigFile(explicit: string | undefined, env: NodeJS.ProcessEnv): string {
  const chosen = explicit ?? env.POP3_BRIDGE_CONFIG;
  if (chosen) return path.resolve(chosen);
  for (const name of DEFAULT_FILES) if (existsSync(name)) return path.resolve(name);
  throw new BridgeError(
    'CONFIG_ERR_READ',
    `no config file: pass --config FILE, set POP3_BRIDGE_CONFIG, or create ${DEFAULT_FILES.join(' / ')} (see docs/examples/config.example.yaml), or try 'pop3-bridge demo'`,
  );
}

export async function createContext(options: GlobalOptions, env: NodeJS.ProcessEnv): Promise<CliContext> {
  const configFile = findConfigFile(options.config, env);
  const parsed = await loadConfig(configFile, { env });
  const logger = createJsonLogger({ level: options.logLevel });
  const ctx: CliContext = {
    configFile,
    config: parsed.config,
    problems: parsed.problems,
    skipped: parsed.skipped,
    logger,
    json: options.json,
    out: (text) => process.stdout.write(`${text}\n`),
    err: (text) => process.stderr.write(`${text}\n`),
    skippedFor: (names) => (names.length === 0 ? parsed.skipped : []),
    select(names) {
      const all = parsed.config.mailboxes;
      if (names.length === 0) return all.filter((m) => m.enabled);
      return names.map((name) => {
        const found = all.find((m) => m.name.toLowerCase() === name.toLowerCase());
        if (!found) {
          const why = parsed.skipped.includes(name) ? 'its config is invalid (see above)' : 'no such mailbox';
          throw new BridgeError('CONFIG_ERR_INVALID', `mailbox '${name}': ${why}`);
        }
        return found;
      });
    },
  };
  for (const problem of parsed.problems) logger.warn('config problem: mailbox skipped', { ...problem });
  if (parsed.problems.length > 0 && !options.json) {
    ctx.err(`Config problems in ${configFile} (these mailboxes are skipped, the others run):`);
    for (const p of parsed.problems) ctx.err(`  ${p.path}: ${p.message}`);
  }
  return ctx;
}
