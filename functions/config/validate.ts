/**
 * From untrusted input to a frozen `BridgeConfig`, or to problems an operator
 * can act on: one line per problem, `mailboxes[2].port: expected 1..65535`.
 *
 * The top level is strict (a bad top level throws CONFIG_ERR_INVALID listing
 * every problem). Each mailbox is validated on its own: a bad one is reported
 * and skipped, the others run. Messages never contain a received value: the
 * fallback messages below only name types and bounds, and any credential that
 * still shows up in a message (belt and braces) is redacted.
 */
import type { z } from 'zod';
import { BridgeError } from '../core/errors.js';
import {
  type BridgeConfig,
  type MailboxConfig,
  MailboxSchema,
  NAME_PATTERN,
  SECRET_KEYS,
  TopLevelSchema,
} from './schema.js';

type Issue = z.core.$ZodIssue;
type RawIssue = z.core.$ZodRawIssue;

export interface ConfigProblem {
  /** `mailboxes[2].webhooks[0].url`; `(root)` for the document itself. */
  readonly path: string;
  readonly message: string;
}

export interface ParsedConfig {
  /** Valid mailboxes only, deep-frozen. */
  readonly config: BridgeConfig;
  /** Problems of the skipped mailboxes (the top level was valid, or this would have thrown). */
  readonly problems: ReadonlyArray<ConfigProblem>;
  /** Names of the skipped mailboxes (`mailboxes[i]` when the name itself is unusable). */
  readonly skipped: ReadonlyArray<string>;
}

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
const REDACTED = '[redacted]';
const MIN_REDACT_LENGTH = 4;

export function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else {
      const key = String(part);
      out += IDENTIFIER.test(key) ? (out === '' ? key : `.${key}`) : `[${JSON.stringify(key)}]`;
    }
  }
  return out === '' ? '(root)' : out;
}

export function formatProblems(problems: ReadonlyArray<ConfigProblem>): string {
  return problems.map((p) => `${p.path}: ${p.message}`).join('\n');
}

function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number' && Number.isInteger(value)) return 'integer';
  return typeof value;
}

/**
 * The parse-time error map: the message for every issue a schema did not word
 * itself. Uses the input only for its type, never its value.
 */
export function fallbackMessage(issue: RawIssue): string {
  switch (issue.code) {
    case 'invalid_type':
      if (issue.input === undefined) return 'required';
      return `expected ${issue.expected === 'int' ? 'an integer' : issue.expected}, got ${kindOf(issue.input)}`;
    case 'too_small':
    case 'too_big': {
      const small = issue.code === 'too_small';
      const bound = small ? issue.minimum : issue.maximum;
      const op = small ? (issue.inclusive === false ? '>' : '≥') : issue.inclusive === false ? '<' : '≤';
      if (issue.origin === 'string') return `expected ${small ? 'at least' : 'at most'} ${bound} characters`;
      if (issue.origin === 'array') return `expected ${small ? 'at least' : 'at most'} ${bound} items`;
      return `expected ${op} ${bound}`;
    }
    case 'invalid_format':
      return issue.format === 'regex' && issue.pattern !== undefined
        ? `expected a string matching ${issue.pattern}`
        : `expected ${issue.format}`;
    case 'not_multiple_of':
      return `expected a multiple of ${issue.divisor}`;
    case 'unrecognized_keys':
      return 'unknown field';
    case 'invalid_value':
      return `expected ${issue.values.map((v) => JSON.stringify(v)).join(' | ')}`;
    case 'invalid_union':
      return 'expected one of the allowed shapes';
    default:
      return 'invalid value';
  }
}

/** A union of `T | T[]` reports every branch; keep the one the input was aiming at. */
function bestBranch(issue: Extract<Issue, { code: 'invalid_union' }>): Issue[] | undefined {
  const aimed = issue.errors.filter((branch) => !branch.some((i) => i.code === 'invalid_type' && i.path.length === 0));
  return aimed.length === 1 ? aimed[0] : undefined;
}

export function issuesToProblems(
  issues: ReadonlyArray<Issue>,
  prefix: ReadonlyArray<PropertyKey> = [],
): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  for (const issue of issues) {
    const path = [...prefix, ...issue.path];
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) out.push({ path: formatPath([...path, key]), message: 'unknown field' });
    } else if (issue.code === 'invalid_union' && issue.discriminator === undefined && bestBranch(issue) !== undefined) {
      out.push(...issuesToProblems(bestBranch(issue) ?? [], path));
    } else {
      out.push({ path: formatPath(path), message: issue.message });
    }
  }
  return out;
}

/** Every string held under a credential key (or a URL, which may carry a token), anywhere in `value`. */
export function collectSecrets(value: unknown, into: Set<string> = new Set(), underSecret = false): Set<string> {
  if (typeof value === 'string') {
    if (underSecret && value.length >= MIN_REDACT_LENGTH) into.add(value);
  } else if (Array.isArray(value)) {
    for (const item of value) collectSecrets(item, into, underSecret);
  } else if (typeof value === 'object' && value !== null) {
    for (const [key, item] of Object.entries(value)) {
      const secretKey = (SECRET_KEYS as ReadonlyArray<string>).includes(key) || key === 'url';
      collectSecrets(item, into, underSecret || secretKey);
    }
  }
  return into;
}

export function redact(text: string, secrets: ReadonlySet<string>): string {
  let out = text;
  for (const secret of secrets) out = out.split(secret).join(REDACTED);
  return out;
}

function redactAll(problems: ConfigProblem[], secrets: ReadonlySet<string>): ConfigProblem[] {
  if (secrets.size === 0) return problems;
  return problems.map((p) => ({ path: redact(p.path, secrets), message: redact(p.message, secrets) }));
}

export function problemsError(problems: ReadonlyArray<ConfigProblem>): BridgeError {
  const count = problems.length === 1 ? '1 problem' : `${problems.length} problems`;
  return new BridgeError('CONFIG_ERR_INVALID', `invalid configuration (${count}):\n${formatProblems(problems)}`, {
    context: { problems: problems.length },
  });
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    for (const item of Object.values(value)) deepFreeze(item);
    Object.freeze(value);
  }
  return value;
}

function displayName(raw: unknown, index: number): string {
  const name = typeof raw === 'object' && raw !== null ? (raw as { name?: unknown }).name : undefined;
  return typeof name === 'string' && NAME_PATTERN.test(name) ? name : `mailboxes[${index}]`;
}

/**
 * Validates a whole configuration. Throws CONFIG_ERR_INVALID (every problem
 * listed) when the top level is wrong; otherwise returns the valid mailboxes
 * and reports the bad ones, which are skipped. Of mailboxes sharing a name
 * (compared case-insensitively: names key files and state rows), the first in
 * file order wins, valid or not, so fixing it never silently swaps which runs.
 */
export function parseConfig(
  raw: unknown,
  /** Problems found before validation (load.ts: unusable `${VAR}`s), by mailbox index: those mailboxes are skipped. */
  mailboxProblems: ReadonlyMap<number, ReadonlyArray<ConfigProblem>> = new Map(),
): ParsedConfig {
  const top = TopLevelSchema.safeParse(raw, { error: fallbackMessage });
  if (!top.success) {
    throw problemsError(redactAll(issuesToProblems(top.error.issues), collectSecrets(raw)));
  }

  const firstByName = new Map<string, number>();
  const mailboxes: MailboxConfig[] = [];
  const problems: ConfigProblem[] = [];
  const skipped: string[] = [];
  top.data.mailboxes.forEach((item, index) => {
    const own: ConfigProblem[] = [];
    const name = typeof item === 'object' && item !== null ? (item as { name?: unknown }).name : undefined;
    if (typeof name === 'string') {
      const key = name.toLowerCase();
      const first = firstByName.get(key);
      if (first === undefined) firstByName.set(key, index);
      else
        own.push({ path: `mailboxes[${index}].name`, message: `duplicate name (first used by mailboxes[${first}])` });
    }
    own.push(...(mailboxProblems.get(index) ?? []));
    const parsed = MailboxSchema.safeParse(item, { error: fallbackMessage });
    if (!parsed.success) own.push(...issuesToProblems(parsed.error.issues, ['mailboxes', index]));
    if (own.length > 0 || !parsed.success) {
      problems.push(...redactAll(own, collectSecrets(item)));
      skipped.push(displayName(item, index));
    } else {
      mailboxes.push(parsed.data);
    }
  });

  const { $schema: _ignored, ...rest } = top.data;
  const config = deepFreeze({ ...rest, mailboxes }) as BridgeConfig;
  return { config, problems: Object.freeze(problems), skipped: Object.freeze(skipped) };
}
