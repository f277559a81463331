/**
 * AWS mode's wiring that every handler shares, built once per Lambda
 * container (module scope in each handler): the environment read and checked
 * once, SDK clients, the DynamoDB state store, and the Powertools logger
 * behind the core's Logger interface.
 *
 * What only one handler uses lives beside it, so the other bundles leave it
 * out (each Lambda bundle is only what its handler imports):
 * poll-runtime.ts (POP3 client, OAuth2 token source, S3 raw store uploads),
 * delivery-runtime.ts (MIME parser, event links, SSRF allow-list),
 * mailbox-configs.ts (sealed configs and KMS: poll and deliver),
 * mailbox-parameters.ts (SSM: the registry function only).
 */
import { Logger as PowertoolsLogger } from '@aws-lambda-powertools/logger';
import { isAllowListEntry } from '../config/hosts.js';
import { BridgeError } from '../core/errors.js';
import { type LogFields, type Logger, redactFields } from '../core/logger.js';
import { MAX_BODY_BYTES, MIN_BODY_BYTES } from '../events/limits.js';
import { type AwsClients, type AwsConfig, awsClients, awsConfigFromEnv } from './clients.js';
import { DynamoStateStore } from './dynamo-state-store.js';
import { DEFAULT_LINK_TTL_SECONDS, MAX_LINK_TTL_SECONDS, MIN_LINK_TTL_SECONDS } from './link-ttl.js';

export interface HandlerEnv {
  readonly aws: AwsConfig;
  readonly tableName: string;
  readonly bucketName: string;
  /** Set for dispatch only (the stack gives each function the queues it may send to). */
  readonly pollQueueUrl: string | undefined;
  readonly deliveryQueueUrl: string | undefined;
  readonly mailboxPath: string;
  /** The config KMS key (CONFIG_KEY_ARN): set for the functions that seal or open mailbox configs. */
  readonly configKeyArn: string | undefined;
  /** CIDRs / hosts of internal webhook receivers (comma-separated WEBHOOK_ALLOW_LIST). */
  readonly webhookAllowList: ReadonlyArray<string>;
  /** How long links in events stay valid (LINK_TTL_SECONDS, the stack's `linkTtlSeconds`; default 24 h). */
  readonly linkTtlSeconds: number;
  /** The stack's `maxEventBodyBytes` (MAX_EVENT_BODY_BYTES); undefined: the default 256 KiB. */
  readonly maxEventBodyBytes: number | undefined;
}

function required(env: Readonly<Record<string, string | undefined>>, name: string): string {
  const value = env[name];
  if (value === undefined || value === '') {
    throw new BridgeError('CONFIG_ERR_ENV', `${name} is not set`, { context: { variable: name } });
  }
  return value;
}

/** WEBHOOK_ALLOW_LIST: comma-separated entries, each checked as the config file's `webhookAllowList` is. */
function allowListFrom(env: Readonly<Record<string, string | undefined>>): ReadonlyArray<string> {
  const entries = (env.WEBHOOK_ALLOW_LIST ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  // Without this check a bad prefix (`/33`) stopped the container with a bare RangeError from node:net's
  // BlockList, and a URL or host:port was taken for a host name that never matches. Like config problems,
  // the error names where the value is, not the value.
  const bad = entries.findIndex((entry) => !isAllowListEntry(entry));
  if (bad !== -1) {
    throw new BridgeError(
      'CONFIG_ERR_ENV',
      `WEBHOOK_ALLOW_LIST entry ${bad + 1} is not a CIDR, an IP address, a host name or *.domain`,
      { context: { variable: 'WEBHOOK_ALLOW_LIST' } },
    );
  }
  return entries;
}

/** An integer setting in `min..max`, undefined when unset; CONFIG_ERR_ENV at init when it is anything else. */
function optionalInt(
  env: Readonly<Record<string, string | undefined>>,
  name: string,
  min: number,
  max: number,
): number | undefined {
  const value = env[name];
  if (value === undefined || value === '') return undefined;
  const n = /^\d+$/.test(value) ? Number(value) : Number.NaN;
  if (!(n >= min && n <= max)) {
    throw new BridgeError('CONFIG_ERR_ENV', `${name} must be an integer from ${min} to ${max}`, {
      context: { variable: name },
    });
  }
  return n;
}

/** A setting only some functions get (the stack sets it for those): CONFIG_ERR_ENV at init when it is missing. */
export function requireEnv(value: string | undefined, name: string): string {
  if (value === undefined)
    throw new BridgeError('CONFIG_ERR_ENV', `${name} is not set`, { context: { variable: name } });
  return value;
}

export function requireQueue(url: string | undefined, name: string): string {
  return requireEnv(url, name);
}

export function handlerEnv(env: Readonly<Record<string, string | undefined>>): HandlerEnv {
  return Object.freeze({
    aws: awsConfigFromEnv(env),
    tableName: required(env, 'TABLE_NAME'),
    bucketName: required(env, 'BUCKET_NAME'),
    pollQueueUrl: env.POLL_QUEUE_URL || undefined,
    deliveryQueueUrl: env.DELIVERY_QUEUE_URL || undefined,
    mailboxPath: required(env, 'MAILBOX_PARAMETER_PATH').replace(/\/?$/, '/'),
    configKeyArn: env.CONFIG_KEY_ARN || undefined,
    webhookAllowList: allowListFrom(env),
    linkTtlSeconds:
      optionalInt(env, 'LINK_TTL_SECONDS', MIN_LINK_TTL_SECONDS, MAX_LINK_TTL_SECONDS) ?? DEFAULT_LINK_TTL_SECONDS,
    maxEventBodyBytes: optionalInt(env, 'MAX_EVENT_BODY_BYTES', MIN_BODY_BYTES, MAX_BODY_BYTES),
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

export interface AwsRuntime {
  readonly env: HandlerEnv;
  /** The shared SDK clients (poll and deliver build their S3 raw store on `clients.s3`). */
  readonly clients: AwsClients;
  readonly state: DynamoStateStore;
  readonly logger: Logger;
  readonly rootLogger: PowertoolsLogger;
  readonly sqs: AwsClients['sqs'];
}

export function createAwsRuntime(env: HandlerEnv): AwsRuntime {
  const clients = awsClients(env.aws);
  const state = new DynamoStateStore(
    { doc: clients.doc, s3: clients.s3 },
    { table: env.tableName, bucket: env.bucketName },
  );
  const rootLogger = new PowertoolsLogger({ serviceName: 'pop3-bridge' });
  const logger = powertoolsLogger(rootLogger);

  return {
    env,
    clients,
    state,
    logger,
    rootLogger,
    sqs: clients.sqs,
  };
}
