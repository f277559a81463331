/**
 * AWS mode's wiring that every handler shares, built once per Lambda
 * container (module scope in each handler): the environment read and checked
 * once, SDK clients, the DynamoDB state store, mailbox configs from SSM
 * Parameter Store (Powertools parameters: decrypted, cached for a minute), and
 * the Powertools logger behind the core's Logger interface.
 *
 * What only one handler uses lives beside it, so the other bundles leave it
 * out (each Lambda bundle is only what its handler imports):
 * poll-runtime.ts (POP3 client, OAuth2 token source, S3 raw store uploads),
 * delivery-runtime.ts (MIME parser, event links, SSRF allow-list).
 */
import { Logger as PowertoolsLogger } from '@aws-lambda-powertools/logger';
import { SSMProvider } from '@aws-lambda-powertools/parameters/ssm';
import { SSMClient } from '@aws-sdk/client-ssm';
import type { MailboxConfig } from '../config/schema.js';
import { parseConfig } from '../config/validate.js';
import { BridgeError } from '../core/errors.js';
import { type LogFields, type Logger, redactFields } from '../core/logger.js';
import { type AwsClients, type AwsConfig, awsClients, awsConfigFromEnv } from './clients.js';
import { DynamoStateStore } from './dynamo-state-store.js';

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

/** How long dispatch keeps the decrypted list of mailboxes: the default poll interval. */
export const LIST_MAX_AGE_S = 300;
/** How long poll and deliver keep one mailbox's config: edits and removals apply within a minute. */
export const MAILBOX_MAX_AGE_S = 60;

export interface AwsRuntime {
  readonly env: HandlerEnv;
  /** The shared SDK clients (poll and deliver build their S3 raw store on `clients.s3`). */
  readonly clients: AwsClients;
  readonly state: DynamoStateStore;
  readonly logger: Logger;
  readonly rootLogger: PowertoolsLogger;
  readonly sqs: AwsClients['sqs'];
  /** Every valid mailbox under the parameter path; invalid ones are logged (path and field, never a value) and skipped. */
  mailboxes(): Promise<MailboxConfig[]>;
  mailbox(name: string): Promise<MailboxConfig | undefined>;
}

export function createAwsRuntime(env: HandlerEnv): AwsRuntime {
  const clients = awsClients(env.aws);
  const state = new DynamoStateStore(
    { doc: clients.doc, s3: clients.s3 },
    { table: env.tableName, bucket: env.bucketName },
  );
  const ssm = new SSMProvider({
    awsSdkV3Client: new SSMClient({
      region: env.aws.region,
      ...(env.aws.endpoint !== undefined && { endpoint: env.aws.endpoint }),
      ...(env.aws.credentials !== undefined && { credentials: { ...env.aws.credentials } }),
    }),
  });
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
   * All mailboxes (GetParametersByPath: dispatch's permission), cached for
   * LIST_MAX_AGE_S. Every decrypted parameter is a KMS request: re-reading
   * 10,000 configs on each one-minute dispatch was $0.13 per mailbox-month of
   * KMS alone (docs/cost-model.md). Dispatch only learns names, `enabled` and
   * intervals from them; poll and deliver read their own mailbox fresh (below),
   * so an edit or a removal still takes effect within a minute where it matters,
   * and a new mailbox gets its first poll at most one interval late.
   */
  const mailboxes = async (): Promise<MailboxConfig[]> =>
    parseMailboxes(
      (await ssm.getMultiple(env.mailboxPath, {
        decrypt: true,
        maxAge: LIST_MAX_AGE_S,
        throwOnTransformError: false,
      })) ?? {},
    );
  /** One mailbox by name (GetParameter on its own parameter: poll's and deliver's permission). */
  const mailbox = async (name: string): Promise<MailboxConfig | undefined> => {
    if (!/^[A-Za-z0-9._-]{1,64}$/.test(name)) return undefined;
    const value = await ssm
      .get(`${env.mailboxPath}${name}`, { decrypt: true, maxAge: MAILBOX_MAX_AGE_S })
      .catch((error: unknown) => {
        if (isParameterNotFound(error)) return undefined;
        throw error;
      });
    if (value === undefined) return undefined;
    return parseMailboxes({ [name]: value }).find((m) => m.name === name);
  };

  return {
    env,
    clients,
    state,
    logger,
    rootLogger,
    sqs: clients.sqs,
    mailboxes,
    mailbox,
  };
}
