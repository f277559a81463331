/**
 * Reads a configuration file (JSON, or YAML for any other extension),
 * substitutes `${VAR}` in string values, and validates it with `parseConfig`.
 *
 * Parse errors report a position, never the source text around it: that text
 * may be a password. `JSON.parse` and the YAML parser both quote the source in
 * their messages, so their errors are not kept as `cause`.
 */
import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { BridgeError } from '../core/errors.js';
import { type ConfigProblem, formatPath, type ParsedConfig, parseConfig } from './validate.js';

export type ConfigFormat = 'json' | 'yaml';
export type Env = Readonly<Record<string, string | undefined>>;

export interface LoadOptions {
  /** Variables for `${VAR}`; defaults to `process.env`, read once here. */
  readonly env?: Env;
}

/** `$${` is a literal `${`; `${NAME}` a variable; any other `${` is malformed. */
const REFERENCE = /\$\$\{|\$\{([^}]*)\}?/g;
const VAR_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Replaces `${VAR}` in every string value (keys are left alone). Collects all
 * unset or malformed references and throws one CONFIG_ERR_ENV naming each
 * path and variable, never a value.
 */
export function substituteEnv(value: unknown, env: Env): unknown {
  const { result, problems } = substituteCollecting(value, env, []);
  if (problems.length > 0) throw envError(problems);
  return result;
}

function envError(problems: ReadonlyArray<string>): BridgeError {
  return new BridgeError(
    'CONFIG_ERR_ENV',
    `configuration references unusable environment variables:\n${problems.join('\n')}`,
    { context: { problems: problems.length } },
  );
}

/**
 * `substituteEnv` for a whole configuration, with promise 5's rule: a mailbox that references an unusable
 * variable is skipped with its problems (`mailboxProblems`, by index), as a mailbox with a bad field is, while
 * the others run; one in the top level still fails the file. Before, an unset variable in any mailbox — even a
 * disabled one — stopped every mailbox.
 */
export function substituteEnvInConfig(
  value: unknown,
  env: Env,
): { value: unknown; mailboxProblems: ReadonlyMap<number, ReadonlyArray<ConfigProblem>> } {
  const mailboxProblems = new Map<number, ConfigProblem[]>();
  if (typeof value !== 'object' || value === null || !Array.isArray((value as { mailboxes?: unknown }).mailboxes)) {
    return { value: substituteEnv(value, env), mailboxProblems };
  }
  const { mailboxes, ...top } = value as { mailboxes: unknown[] } & Record<string, unknown>;
  const substitutedTop = substituteEnv(top, env) as Record<string, unknown>;
  const substituted = mailboxes.map((item, index) => {
    const { result, problems } = substituteCollecting(item, env, ['mailboxes', index]);
    if (problems.length === 0) return result;
    mailboxProblems.set(
      index,
      problems.map((problem) => {
        const colon = problem.indexOf(': ');
        return { path: problem.slice(0, colon), message: problem.slice(colon + 2) };
      }),
    );
    return item;
  });
  // The top level's keys in their order, then the mailboxes (their place among the keys does not matter).
  return { value: { ...substitutedTop, mailboxes: substituted }, mailboxProblems };
}

function substituteCollecting(value: unknown, env: Env, at: PropertyKey[]): { result: unknown; problems: string[] } {
  const problems: string[] = [];
  const walk = (node: unknown, path: PropertyKey[]): unknown => {
    if (typeof node === 'string') return substituteString(node, env, path, problems);
    if (Array.isArray(node)) return node.map((item, i) => walk(item, [...path, i]));
    if (typeof node === 'object' && node !== null) {
      const out: Record<string, unknown> = {};
      for (const [key, item] of Object.entries(node)) {
        // defineProperty: a `__proto__` key from JSON stays a plain key instead of setting the prototype.
        Object.defineProperty(out, key, {
          value: walk(item, [...path, key]),
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
      return out;
    }
    return node;
  };
  return { result: walk(value, at), problems };
}

function substituteString(text: string, env: Env, path: PropertyKey[], problems: string[]): string {
  return text.replace(REFERENCE, (match, name: string | undefined) => {
    if (match === '$${') return '${';
    if (name === undefined || !match.endsWith('}') || !VAR_NAME.test(name)) {
      problems.push(`${formatPath(path)}: malformed \${…} reference (write $\${ for a literal \${)`);
      return match;
    }
    const found = Object.hasOwn(env, name) ? env[name] : undefined;
    if (found === undefined) {
      problems.push(`${formatPath(path)}: environment variable ${name} is not set`);
      return match;
    }
    return found;
  });
}

export function formatOf(file: string): ConfigFormat {
  return extname(file).toLowerCase() === '.json' ? 'json' : 'yaml';
}

/** Parses text into a plain value. Errors carry a line and column, not the offending text. */
export function parseConfigText(raw: string, format: ConfigFormat, source = 'configuration'): unknown {
  // A UTF-8 byte-order mark (Windows Notepad writes one) is not JSON, and JSON.parse refused the whole file.
  const text = raw.startsWith('\uFEFF') ? raw.slice(1) : raw;
  if (format === 'json') {
    try {
      return JSON.parse(text);
    } catch {
      throw new BridgeError('CONFIG_ERR_READ', `${source}: not valid JSON${jsonPosition(text)}`);
    }
  }
  try {
    // maxAliasCount bounds alias expansion ("billion laughs"); uniqueKeys rejects repeated keys.
    return parseYaml(text, { maxAliasCount: 100, uniqueKeys: true, prettyErrors: true, logLevel: 'error' });
  } catch (err) {
    if (err instanceof YAMLParseError) {
      const at = err.linePos?.[0];
      const where = at === undefined ? '' : ` (line ${at.line}, column ${at.col})`;
      throw new BridgeError('CONFIG_ERR_READ', `${source}: not valid YAML: ${err.code}${where}`);
    }
    throw new BridgeError('CONFIG_ERR_READ', `${source}: not valid YAML`);
  }
}

/** Locates a JSON syntax error without quoting the text (V8's message quotes it; we only take the offset). */
function jsonPosition(text: string): string {
  try {
    JSON.parse(text);
  } catch (err) {
    const m = /position (\d+)/.exec(err instanceof Error ? err.message : '');
    if (m !== null) {
      const offset = Number(m[1]);
      const before = text.slice(0, offset).split('\n');
      return ` (line ${before.length}, column ${(before.at(-1)?.length ?? 0) + 1})`;
    }
  }
  return '';
}

/** Reads, substitutes and validates a configuration file. */
export async function loadConfig(file: string, options: LoadOptions = {}): Promise<ParsedConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
    throw new BridgeError('CONFIG_ERR_READ', `cannot read configuration file ${file}: ${code}`, {
      cause: err,
      context: { file },
    });
  }
  const raw = parseConfigText(text, formatOf(file), file);
  const { value, mailboxProblems } = substituteEnvInConfig(raw, options.env ?? process.env);
  return parseConfig(value, mailboxProblems);
}
