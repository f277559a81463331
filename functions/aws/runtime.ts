/**
 * AWS mode's wiring that every handler shares, built once per Lambda
 * container (module scope in each handler): the environment read and checked
 * once, SDK clients, the DynamoDB state store, mailbox configs from SSM
 * Parameter Store (decrypted once per parameter version and container), and
 * the Powertools logger behind the core's Logger interface.
 *
 * What only one handler uses lives beside it, so the other bundles leave it
 * out (each Lambda bundle is only what its handler imports):
 * poll-runtime.ts (POP3 client, OAuth2 token source, S3 raw store uploads),
 * delivery-runtime.ts (MIME parser, event links, SSRF allow-list).
 */
import { Logger as PowertoolsLogger } from '@aws-lambda-powertools/logger';
import { SSMProvider } from '@aws-lambda-powertools/parameters/ssm';
import { GetParameterCommand, GetParametersByPathCommand, GetParametersCommand, SSMClient } from '@aws-sdk/client-ssm';
import type { MailboxConfig } from '../config/schema.js';
import { parseConfig } from '../config/validate.js';
import { BridgeError } from '../core/errors.js';
import { type LogFields, type Logger, redactFields } from '../core/logger.js';
import { type AwsClients, type AwsConfig, awsClients, awsConfigFromEnv } from './clients.js';
import { DynamoStateStore } from './dynamo-state-store.js';
import { VersionedCache } from './versioned-cache.js';

export interface HandlerEnv {
  readonly aws: AwsConfig;
  readonly tableName: string;
  readonly bucketName: string;
  /** Set for dispatch only (the stack gives each function the queues it may send to). */
  readonly pollQueueUrl: string | undefined;
  readonly deliveryQueueUrl: string | undefined;
  readonly mailboxPath: string;
  /** CIDRs / hosts of internal webhook receivers (comma-separated WEBHOOK_ALLOW_LIST). */
  readonly webhookAllowList: ReadonlyArray<string>;
  /** How long links in events stay valid (LINK_TTL_SECONDS, default 24 h). */
  readonly linkTtlSeconds: number;
}

function required(env: Readonly<Record<string, string | undefined>>, name: string): string {
  const value = env[name];
  if (value === undefined || value === '') {
    throw new BridgeError('CONFIG_ERR_ENV', `${name} is not set`, { context: { variable: name } });
  }
  return value;
}

export function requireQueue(url: string | undefined, name: string): string {
  if (url === undefined) throw new BridgeError('CONFIG_ERR_ENV', `${name} is not set`, { context: { variable: name } });
  return url;
}

export function handlerEnv(env: Readonly<Record<string, string | undefined>>): HandlerEnv {
  return Object.freeze({
    aws: awsConfigFromEnv(env),
    tableName: required(env, 'TABLE_NAME'),
    bucketName: required(env, 'BUCKET_NAME'),
    pollQueueUrl: env.POLL_QUEUE_URL || undefined,
    deliveryQueueUrl: env.DELIVERY_QUEUE_URL || undefined,
    mailboxPath: required(env, 'MAILBOX_PARAMETER_PATH').replace(/\/?$/, '/'),
    webhookAllowList: (env.WEBHOOK_ALLOW_LIST ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s.length > 0),
    linkTtlSeconds: Number(env.LINK_TTL_SECONDS ?? 86_400),
  });
}

/** The core's Logger on top of Powertools (JSON to CloudWatch, Lambda context keys), with our redaction. */
export function powertoolsLogger(logger: PowertoolsLogger): Logger {
  const fields = (f?: LogFields) => (f ? (redactFields(f) as Record<string, unknown>) : {});
  return {
    debug: (m, f) => logger.debug(m, fields(f)),
    info: (m, f) => logger.info(m, fields(f)),
    warn: (m, f) => logger.warn(m, fields(f)),
    error: (m, f) => logger.error(m, fields(f)),
    child: (f) => {
      const child = logger.createChild();
      child.appendPersistentKeys(fields(f) as Record<string, string>);
      return powertoolsLogger(child);
    },
  };
}

/**
 * SSM's ParameterNotFound, also when Powertools wraps it: `ssm.get` throws a
 * GetParameterError whose name is not the SDK's, whose message is whatever the
 * service sent ("Parameter … not found.", or "UnknownError" when it sent none),
 * and whose `cause` is the SDK's ParameterNotFound.
 */
export function isParameterNotFound(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && typeof current === 'object' && current !== null; depth += 1) {
    if ((current as { name?: unknown }).name === 'ParameterNotFound') return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

/** How long poll and deliver keep one mailbox's config when a job carries no version: edits apply within a minute. */
export const MAILBOX_MAX_AGE_S = 60;
/**
 * Decrypted configs dispatch keeps (raw JSON, ≤ 4 KB each as Standard
 * parameters: ≤ 80 MB at the cap, about 20 MB at 10,000 typical 1 KB
 * configs). Above the cap the least recently listed are read again.
 */
export const DISPATCH_CACHED_CONFIGS = 20_000;
/** Parsed configs one poll container keeps: each container sees every mailbox in time, so the cap is the fleet size. */
export const POLL_CACHED_CONFIGS = 10_000;
/** GetParametersByPath pages of 10 per dispatch run: 50,000 mailboxes, so a broken NextToken cannot loop forever. */
const MAX_LIST_PAGES = 5_000;
/** GetParameters takes at most 10 names per call. */
const GET_PARAMETERS_MAX = 10;
const MAILBOX_NAME = /^[A-Za-z0-9._-]{1,64}$/;

/** The mailboxes dispatch sees on one run, with the parameter version each poll job carries. */
export interface MailboxListing {
  readonly mailboxes: MailboxConfig[];
  /** The SSM version of parameter `<path><name>`, as decrypted into `mailboxes`. */
  versionOf(name: string): number | undefined;
}

export interface AwsRuntime {
  readonly env: HandlerEnv;
  /** The shared SDK clients (poll and deliver build their S3 raw store on `clients.s3`). */
  readonly clients: AwsClients;
  readonly state: DynamoStateStore;
  readonly logger: Logger;
  readonly rootLogger: PowertoolsLogger;
  readonly sqs: AwsClients['sqs'];
  /**
   * Every valid mailbox under the parameter path (dispatch); invalid ones are
   * logged (path and field, never a value) and skipped.
   */
  listMailboxes(): Promise<MailboxListing>;
  /** One mailbox by name, cached for MAILBOX_MAX_AGE_S (deliver; poll jobs sent before versions existed). */
  mailbox(name: string): Promise<MailboxConfig | undefined>;
  /** One mailbox at the parameter version a poll job carries: cached until a job carries another version. */
  mailboxAt(name: string, version: number): Promise<MailboxConfig | undefined>;
}

export function createAwsRuntime(env: HandlerEnv): AwsRuntime {
  const clients = awsClients(env.aws);
  const state = new DynamoStateStore(
    { doc: clients.doc, s3: clients.s3 },
    { table: env.tableName, bucket: env.bucketName },
  );
  const ssmClient = new SSMClient({
    region: env.aws.region,
    ...(env.aws.endpoint !== undefined && { endpoint: env.aws.endpoint }),
    ...(env.aws.credentials !== undefined && { credentials: { ...env.aws.credentials } }),
  });
  const ssm = new SSMProvider({ awsSdkV3Client: ssmClient });
  const rootLogger = new PowertoolsLogger({ serviceName: 'pop3-bridge' });
  const logger = powertoolsLogger(rootLogger);

  const parseMailboxes = (docs: Record<string, unknown>): MailboxConfig[] => {
    const list: unknown[] = [];
    /** The parameter each entry of `list` came from: a problem's `mailboxes[i]` means nothing to an operator. */
    const parameters: string[] = [];
    for (const [name, value] of Object.entries(docs)) {
      try {
        list.push(JSON.parse(String(value)));
        parameters.push(`${env.mailboxPath}${name}`);
      } catch {
        // The parse error would quote the document, which holds secrets: name the parameter only.
        logger.error('mailbox parameter is not valid JSON: skipped', { parameter: `${env.mailboxPath}${name}` });
      }
    }
    const parsed = parseConfig({ mailboxes: list });
    for (const problem of parsed.problems) {
      const index = /^mailboxes\[(\d+)\]/.exec(problem.path)?.[1];
      const parameter = index === undefined ? undefined : parameters[Number(index)];
      // Not `...problem`: Powertools owns the `message` key, so the problem's own message would be dropped.
      logger.error('mailbox config problem: mailbox skipped', {
        ...(parameter && { parameter }),
        path: problem.path,
        problem: problem.message,
      });
    }
    return [...parsed.config.mailboxes];
  };
  /**
   * Names and versions of every mailbox parameter (GetParametersByPath without
   * decryption: a SecureString's Value is then its ciphertext, unused here, and
   * SSM makes no KMS request). Short names (`support`), in listing order.
   */
  const listVersions = async (): Promise<Map<string, number>> => {
    const versions = new Map<string, number>();
    let nextToken: string | undefined;
    for (let page = 0; page < MAX_LIST_PAGES; page += 1) {
      const out = await ssmClient.send(
        new GetParametersByPathCommand({
          Path: env.mailboxPath.slice(0, -1),
          Recursive: false,
          WithDecryption: false,
          MaxResults: 10,
          NextToken: nextToken,
        }),
      );
      for (const p of out.Parameters ?? []) {
        if (p.Name?.startsWith(env.mailboxPath) && p.Version !== undefined) {
          versions.set(p.Name.slice(env.mailboxPath.length), p.Version);
        }
      }
      nextToken = out.NextToken;
      if (nextToken === undefined || nextToken === '') return versions;
    }
    logger.warn('mailbox listing stopped at the page limit: the rest are not dispatched', { pages: MAX_LIST_PAGES });
    return versions;
  };

  /** Dispatch's decrypted parameter values (JSON text, holds secrets: never logged), by short name and version. */
  const rawConfigs = new VersionedCache<string>(DISPATCH_CACHED_CONFIGS);
  /**
   * All mailboxes (dispatch's permissions: GetParametersByPath, GetParameters).
   * Every decrypted SecureString is one KMS request: decrypting 10,000 configs
   * each time dispatch needs their `enabled` flag and interval was most of the
   * idle cost (docs/cost-model.md). Here a parameter is decrypted once per
   * version per container, and an edit (new version) is seen on the next run.
   * The whole set is parsed together on each run, as before: the duplicate-name
   * check spans parameters, and a bad one is reported on every run.
   */
  const listMailboxes = async (): Promise<MailboxListing> => {
    const versions = await listVersions();
    const stale = [...versions].filter(([name, version]) => rawConfigs.get(name)?.version !== version);
    for (let i = 0; i < stale.length; i += GET_PARAMETERS_MAX) {
      const names = stale.slice(i, i + GET_PARAMETERS_MAX).map(([name]) => `${env.mailboxPath}${name}`);
      const out = await ssmClient.send(new GetParametersCommand({ Names: names, WithDecryption: true }));
      for (const p of out.Parameters ?? []) {
        if (p.Name === undefined || p.Version === undefined || p.Value === undefined) continue;
        // Possibly newer than listed (edited in between): kept at its own version, so the job carries that one.
        rawConfigs.set(p.Name.slice(env.mailboxPath.length), p.Version, p.Value);
      }
      // InvalidParameters: deleted since the listing; no longer dispatched.
    }
    rawConfigs.retainOnly(new Set(versions.keys()));
    const docs: Record<string, string> = Object.create(null);
    for (const name of versions.keys()) {
      const entry = rawConfigs.get(name);
      if (entry !== undefined) docs[name] = entry.value;
    }
    return {
      mailboxes: parseMailboxes(docs),
      versionOf: (name) => (Object.hasOwn(docs, name) ? rawConfigs.get(name)?.version : undefined),
    };
  };
  /** One mailbox by name (GetParameter on its own parameter: poll's and deliver's permission). */
  const mailbox = async (name: string): Promise<MailboxConfig | undefined> => {
    if (!MAILBOX_NAME.test(name)) return undefined;
    const value = await ssm
      .get(`${env.mailboxPath}${name}`, { decrypt: true, maxAge: MAILBOX_MAX_AGE_S })
      .catch((error: unknown) => {
        if (isParameterNotFound(error)) return undefined;
        throw error;
      });
    if (value === undefined) return undefined;
    return parseMailboxes({ [name]: value }).find((m) => m.name === name);
  };

  /**
   * Poll's configs, parsed, by name with the version they were read at. A job
   * carries the version dispatch saw, so a cached config at that version is
   * current: no SSM or KMS request on the idle path, where a 60 s cache never
   * hit at a 5-minute interval (docs/cost-model.md). Any other version (an
   * edit, or an older job still in flight) reads the parameter again.
   */
  const polled = new VersionedCache<MailboxConfig | undefined>(POLL_CACHED_CONFIGS);
  const mailboxAt = async (name: string, version: number): Promise<MailboxConfig | undefined> => {
    if (!MAILBOX_NAME.test(name)) return undefined;
    const cached = polled.get(name);
    if (cached?.version === version) return cached.value;
    const out = await ssmClient
      .send(new GetParameterCommand({ Name: `${env.mailboxPath}${name}`, WithDecryption: true }))
      .catch((error: unknown) => {
        if (isParameterNotFound(error)) return undefined;
        throw error;
      });
    const parameter = out?.Parameter;
    if (parameter?.Value === undefined || parameter.Version === undefined) {
      polled.delete(name);
      return undefined;
    }
    const config = parseMailboxes({ [name]: parameter.Value }).find((m) => m.name === name);
    polled.set(name, parameter.Version, config);
    return config;
  };

  return {
    env,
    clients,
    state,
    logger,
    rootLogger,
    sqs: clients.sqs,
    listMailboxes,
    mailbox,
    mailboxAt,
  };
}
