/**
 * The AWS side of a benchmark that runs the bundled Lambda handlers against
 * moto: the bucket, state table, queues and config KMS key the stack would
 * create, and the environment the handlers read (infra/constructs/bridge-function.ts,
 * ENV). Shared by bench/cost-model.ts and bench/poll-batch-rss.ts, so both
 * measure handlers configured the same way.
 *
 *   const aws = await provisionBenchAws(moto, 'cost');
 *   Object.assign(process.env, aws.handlerEnv({ endpoint: proxy.endpoint, logLevel: 'INFO' }));
 */
import { randomBytes } from 'node:crypto';
import { CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { CreateQueueCommand } from '@aws-sdk/client-sqs';
import { PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { type AwsClients, createAwsClients } from '../functions/aws/clients.js';
import { createTable } from '../functions/aws/table-schema.js';
import { type DovecotInstance, mailboxConfigFor } from '../test/support/dovecot.js';
import { type Moto, uniqueName } from '../test/support/moto.js';

export interface BenchAws {
  /** Clients straight to moto (set-up and checks, not counted by any proxy). */
  readonly clients: AwsClients;
  readonly ssm: SSMClient;
  readonly names: { readonly table: string; readonly bucket: string };
  /** The SSM path of the mailbox parameters, without a trailing slash. */
  readonly path: string;
  readonly pollQueue: string;
  readonly deliveryQueue: string;
  readonly configKeyArn: string;
  /** The handlers' environment, pointed at `endpoint` (moto itself, or a proxy in front of it). */
  handlerEnv(options: {
    readonly endpoint: string;
    readonly logLevel: 'DEBUG' | 'INFO' | 'WARN';
  }): Record<string, string>;
}

export async function provisionBenchAws(moto: Moto, prefix: string): Promise<BenchAws> {
  const clients = createAwsClients({
    region: moto.region,
    endpoint: moto.endpoint,
    forcePathStyle: true,
    credentials: moto.credentials,
  });
  const ssm = new SSMClient({ region: moto.region, endpoint: moto.endpoint, credentials: moto.credentials });
  const names = { table: uniqueName(prefix), bucket: uniqueName(prefix) };
  const path = `/${prefix}-${randomBytes(3).toString('hex')}/mailboxes`;
  await clients.s3.send(new CreateBucketCommand({ Bucket: names.bucket }));
  await createTable(clients.dynamo, names.table);
  const queue = async (name: string) =>
    (await clients.sqs.send(new CreateQueueCommand({ QueueName: uniqueName(name) }))).QueueUrl ?? '';
  const [pollQueue, deliveryQueue] = [await queue('poll'), await queue('delivery')];
  const kms = new KMSClient({ region: moto.region, endpoint: moto.endpoint, credentials: moto.credentials });
  const configKeyArn = (await kms.send(new CreateKeyCommand({}))).KeyMetadata?.Arn ?? '';
  kms.destroy();
  return {
    clients,
    ssm,
    names,
    path,
    pollQueue,
    deliveryQueue,
    configKeyArn,
    handlerEnv: ({ endpoint, logLevel }) => ({
      AWS_REGION: moto.region,
      AWS_ACCESS_KEY_ID: moto.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: moto.credentials.secretAccessKey,
      AWS_ENDPOINT_URL: endpoint,
      POP3_BRIDGE_S3_FORCE_PATH_STYLE: '1',
      TABLE_NAME: names.table,
      BUCKET_NAME: names.bucket,
      POLL_QUEUE_URL: pollQueue,
      DELIVERY_QUEUE_URL: deliveryQueue,
      MAILBOX_PARAMETER_PATH: path,
      CONFIG_KEY_ARN: configKeyArn,
      POWERTOOLS_SERVICE_NAME: 'pop3-bridge',
      POWERTOOLS_LOG_LEVEL: logLevel,
      POWERTOOLS_METRICS_NAMESPACE: 'Pop3Bridge',
    }),
  };
}

/** The registry handler as the benchmarks import it from its bundle. */
export type RegistryHandler = (event: Record<string, unknown>) => Promise<{ outcome?: string }>;

/** The event SSM sends EventBridge when parameter `name` (under the mailbox path) is created. */
export function parameterCreated(aws: BenchAws, name: string): Record<string, unknown> {
  return {
    source: 'aws.ssm',
    'detail-type': 'Parameter Store Change',
    detail: { name: `${aws.path}/${name}`, operation: 'Create', type: 'SecureString' },
  };
}

/** Writes mailbox `name`'s parameter, then has the registry register and seal it; fails unless it did. */
export async function registerMailbox(
  aws: BenchAws,
  registry: RegistryHandler,
  name: string,
  config: Record<string, unknown>,
): Promise<void> {
  await aws.ssm.send(
    new PutParameterCommand({ Name: `${aws.path}/${name}`, Type: 'SecureString', Value: JSON.stringify(config) }),
  );
  const registered = await registry(parameterCreated(aws, name));
  if (registered.outcome !== 'written') throw new Error(`${name} was not registered`);
}

/** A new account on the benchmark's Dovecot holding `messages`, registered and sealed as mailbox `name`. */
export async function addMailbox(
  aws: BenchAws,
  registry: RegistryHandler,
  dovecot: DovecotInstance,
  name: string,
  messages: Buffer[],
  fields: Record<string, unknown>,
): Promise<void> {
  const account = await dovecot.createMailbox(messages);
  await registerMailbox(aws, registry, name, mailboxConfigFor(name, dovecot.facts, account, fields));
}
