/**
 * AWS SDK v3 clients, built once per configuration and reused across Lambda
 * invocations (module scope, created lazily on first use).
 *
 * Configuration comes in as a typed, frozen object: `awsConfigFromEnv()` is
 * the one place that reads the environment, and only a handler's top level
 * (or a test) calls it. Nothing below reads `process.env`.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { BridgeError } from '../core/errors.js';

export interface AwsConfig {
  readonly region: string;
  /** An endpoint for every service (moto, LocalStack); undefined on AWS. */
  readonly endpoint?: string;
  /** Path-style S3 URLs (`http://host/bucket/key`): needed for an emulator on an IP address. */
  readonly forcePathStyle?: boolean;
  /** Static credentials (tests against an emulator); undefined: the default chain (Lambda role). */
  readonly credentials?: {
    readonly accessKeyId: string;
    readonly secretAccessKey: string;
    readonly sessionToken?: string;
  };
  /** SDK retries of throttling and 5xx (default 3, the SDK's standard mode). */
  readonly maxAttempts?: number;
  /** Time to open a TCP connection (ms). */
  readonly connectionTimeoutMs?: number;
  /** Time a request may wait for the response to start (ms); keep it above an 8 MB part upload. */
  readonly requestTimeoutMs?: number;
  /** Concurrent connections per client (SDK default 50); requests beyond it wait for a free socket. */
  readonly maxSockets?: number;
}

export interface AwsClients {
  readonly s3: S3Client;
  readonly dynamo: DynamoDBClient;
  /** Document client over `dynamo` (same middleware stack): plain JS values in and out. */
  readonly doc: DynamoDBDocumentClient;
  readonly sqs: SQSClient;
}

const DEFAULTS = { maxAttempts: 3, connectionTimeoutMs: 3_000, requestTimeoutMs: 60_000 } as const;

/**
 * Reads the AWS settings once from an environment: `AWS_REGION` (required;
 * Lambda sets it), `AWS_ENDPOINT_URL` (optional, emulators) and
 * `POP3_BRIDGE_S3_FORCE_PATH_STYLE=1`.
 */
export function awsConfigFromEnv(env: Readonly<Record<string, string | undefined>>): AwsConfig {
  const region = env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
  if (region === undefined || region === '') {
    throw new BridgeError('CONFIG_ERR_ENV', 'AWS_REGION is not set', { context: { variable: 'AWS_REGION' } });
  }
  const endpoint = env.AWS_ENDPOINT_URL;
  return Object.freeze({
    region,
    ...(endpoint !== undefined && endpoint !== '' && { endpoint }),
    ...(env.POP3_BRIDGE_S3_FORCE_PATH_STYLE === '1' && { forcePathStyle: true }),
  });
}

/** New clients for `config` (tests that add middleware want their own). */
export function createAwsClients(config: AwsConfig): AwsClients {
  const common = {
    region: config.region,
    maxAttempts: config.maxAttempts ?? DEFAULTS.maxAttempts,
    requestHandler: {
      connectionTimeout: config.connectionTimeoutMs ?? DEFAULTS.connectionTimeoutMs,
      requestTimeout: config.requestTimeoutMs ?? DEFAULTS.requestTimeoutMs,
      ...(config.maxSockets !== undefined && {
        httpAgent: { keepAlive: true, maxSockets: config.maxSockets },
        httpsAgent: { keepAlive: true, maxSockets: config.maxSockets },
      }),
    },
    ...(config.endpoint !== undefined && { endpoint: config.endpoint }),
    ...(config.credentials !== undefined && { credentials: { ...config.credentials } }),
  };
  const s3 = new S3Client({
    ...common,
    forcePathStyle: config.forcePathStyle ?? false,
    // Checksums only where S3 requires them: the store verifies content itself
    // (SHA-256 on the way in), and an emulator need not understand the
    // trailing-checksum (aws-chunked) framing of streamed bodies.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  const dynamo = new DynamoDBClient(common);
  const doc = DynamoDBDocumentClient.from(dynamo, {
    marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: false },
    unmarshallOptions: { wrapNumbers: false },
  });
  const sqs = new SQSClient(common);
  return { s3, dynamo, doc, sqs };
}

const cache = new Map<string, AwsClients>();

/** The shared clients for `config`: built on first use, then reused for the life of the container. */
export function awsClients(config: AwsConfig): AwsClients {
  const key = JSON.stringify([
    config.region,
    config.endpoint,
    config.forcePathStyle,
    config.credentials?.accessKeyId,
    config.maxAttempts,
    config.connectionTimeoutMs,
    config.requestTimeoutMs,
    config.maxSockets,
  ]);
  let clients = cache.get(key);
  if (clients === undefined) {
    clients = createAwsClients(config);
    cache.set(key, clients);
  }
  return clients;
}
