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
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import type { MailboxConfig } from '../config/schema.js';
import { BridgeError } from '../core/errors.js';
import { type LogFields, type Logger, redactFields } from '../core/logger.js';
import { type AwsClients, type AwsConfig, awsClients, awsConfigFromEnv } from './clients.js';
import { DynamoStateStore } from './dynamo-state-store.js';
import { parseMailboxDocument } from './mailbox-document.js';
import { isParameterNotFound, MAILBOX_NAME } from './mailbox-parameters.js';
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

/** How long poll and deliver keep one mailbox's config when a job carries no version: edits apply within a minute. */
export const MAILBOX_MAX_AGE_S = 60;
/** Parsed configs one poll container keeps: each container sees every mailbox in time, so the cap is the fleet size. */
export const POLL_CACHED_CONFIGS = 10_000;

export interface AwsRuntime {
  readonly env: HandlerEnv;
  /** The shared SDK clients (poll and deliver build their S3 raw store on `clients.s3`). */
  readonly clients: AwsClients;
  readonly state: DynamoStateStore;
  readonly logger: Logger;
  readonly rootLogger: PowertoolsLogger;
  readonly sqs: AwsClients['sqs'];
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
  /** A mailbox's document parsed; an invalid one is logged (field and schema message, never a value). */
  const parseMailbox = (name: string, text: string): MailboxConfig | undefined => {
    const document = parseMailboxDocument(name, text);
    if (document.ok) return document.config;
    logger.error('mailbox config problem: mailbox skipped', {
      mailbox: name,
      path: document.invalid.path,
      problem: document.invalid.message,
    });
    return undefined;
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
    return parseMailbox(name, String(value));
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
    const config = parseMailbox(name, parameter.Value);
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
    mailbox,
    mailboxAt,
  };
}
