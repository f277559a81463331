/**
 * The one place that fixes every Lambda function's defaults (runtime, arm64,
 * ESM bundle with a createRequire banner, source maps, tracing, an explicit log
 * group with retention, Powertools env vars) and the `bind*` methods that grant
 * exactly what an access mode needs, with explicit actions and resources.
 */
import { Arn, ArnFormat, type Duration, Stack } from 'aws-cdk-lib';
import type { ISecurityGroup, ISubnet, IVpc } from 'aws-cdk-lib/aws-ec2';
import { Effect, PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import {
  ApplicationLogLevel,
  Architecture,
  LoggingFormat,
  Runtime,
  SystemLogLevel,
  Tracing,
} from 'aws-cdk-lib/aws-lambda';
import { type BundlingOptions, NodejsFunction, OutputFormat, SourceMapMode } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { MailboxConfig } from './mailbox-config.js';
import { acknowledgeWildcardResource } from './nag.js';

/** Makes `require` work inside an ESM bundle that pulls in CommonJS dependencies. */
export const CREATE_REQUIRE_BANNER =
  "import { createRequire as __bridgeCreateRequire } from 'node:module';const require = __bridgeCreateRequire(import.meta.url);";

/**
 * Every function's esbuild settings. Exported so the end-to-end test and the
 * cold-init benchmark (test/support/bundle-handlers.ts) bundle the handlers
 * exactly as a deploy does.
 */
export const BUNDLING: BundlingOptions = {
  format: OutputFormat.ESM,
  target: 'node24',
  mainFields: ['module', 'main'],
  banner: CREATE_REQUIRE_BANNER,
  minify: true,
  sourceMap: true,
  sourceMapMode: SourceMapMode.DEFAULT,
  sourcesContent: false,
  // The pinned AWS SDK v3 goes into the bundle: the handlers run the versions the tests ran.
  // Leaving @aws-sdk/* to the runtime's copy would save ≈ 600 kB per bundle, but that copy's
  // version follows AWS's release train, not package-lock.json, and nothing here tested it.
  // bench/handlers-cold-init.ts prints each bundle's size and what it is made of.
  externalModules: [],
  // Module substitutions for the bundles only (esbuild resolves an alias's path from the project root, where
  // CDK runs it). Each one keeps behaviour and drops code a handler cannot reach:
  esbuildArgs: {
    '--alias': [
      // libmime ships a CommonJS and an ES build of the same sources: mailsplit require()s one, mailparser and
      // functions/events import the other, so both were bundled (≈ 95 kB). The CommonJS build serves both: its
      // module.exports is the shared instance that the ES build default-exports, and esbuild gives an ES
      // importer module.exports as the default export, as Node does.
      'libmime=./node_modules/libmime/dist/cjs/libmime.js',
      // The SDK's default credential chain → the environment credentials Lambda sets (≈ 111 kB; why it is
      // enough: infra/bundling/lambda-env-credentials.ts).
      '@aws-sdk/credential-provider-node=./infra/bundling/lambda-env-credentials.ts',
      // standardwebhooks' pure-JS SHA-256 → node:crypto (≈ 6 kB; why only in the bundles:
      // infra/bundling/fast-sha256-node-crypto.ts).
      'fast-sha256=./infra/bundling/fast-sha256-node-crypto.ts',
    ],
  },
  forceDockerBundling: false,
};

export const SERVICE_NAME = 'pop3-bridge';
export const METRICS_NAMESPACE = 'Pop3Bridge';

/** Environment variable names the handlers read (documented in docs/aws.md). */
export const ENV = {
  tableName: 'TABLE_NAME',
  bucketName: 'BUCKET_NAME',
  pollQueueUrl: 'POLL_QUEUE_URL',
  deliveryQueueUrl: 'DELIVERY_QUEUE_URL',
  mailboxPath: 'MAILBOX_PARAMETER_PATH',
  configKeyArn: 'CONFIG_KEY_ARN',
  maxEventBodyBytes: 'MAX_EVENT_BODY_BYTES',
  linkTtlSeconds: 'LINK_TTL_SECONDS',
  webhookAllowList: 'WEBHOOK_ALLOW_LIST',
} as const;

/** The encryption context of every data key for sealed mailbox configs (functions/aws/config-keys.ts). */
export const CONFIG_KEY_CONTEXT = { key: 'pop3-bridge:purpose', value: 'mailbox-config' } as const;

export type LogLevel = 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';

/** A VPC placement: the function's network interfaces go in `subnets`, with `securityGroups` (none: one is created). */
export interface FunctionNetwork {
  readonly vpc: IVpc;
  readonly subnets: ReadonlyArray<ISubnet>;
  readonly securityGroups: ReadonlyArray<ISecurityGroup>;
}

/**
 * What Lambda needs of the execution role to manage a function's network interfaces in a VPC: the actions of
 * AWS's managed AWSLambdaVPCAccessExecutionRole, granted here as an explicit statement (this role attaches no
 * managed policy). The Describe actions support no resource-level permissions, and Lambda creates and deletes
 * the interfaces under names it chooses, so the resource is `*`, as in the managed policy.
 */
const VPC_ACCESS_ACTIONS = [
  'ec2:CreateNetworkInterface',
  'ec2:DescribeNetworkInterfaces',
  'ec2:DescribeSubnets',
  'ec2:DeleteNetworkInterface',
  'ec2:AssignPrivateIpAddresses',
  'ec2:UnassignPrivateIpAddresses',
] as const;

export interface BridgeFunctionProps {
  /** Absolute path of the handler's TypeScript entry (exports `handler`). */
  readonly entry: string;
  readonly description: string;
  readonly timeout: Duration;
  readonly memorySize: number;
  readonly logRetention: RetentionDays;
  readonly logLevel: LogLevel;
  /** Caps this function's share of the account's concurrency; unset by default (see docs/aws.md). */
  readonly reservedConcurrentExecutions?: number;
  /**
   * Lambda's own log lines (START, END, REPORT: system logs at INFO) are kept at `INFO` (the
   * default) and dropped at `WARN`, which poll uses: at 10,000 mailboxes they are a line set per
   * invocation, billed per byte ingested (docs/cost-model.md). Errors and timeouts still show in
   * the function's Errors metric and its alarm.
   */
  readonly systemLogLevel?: 'INFO' | 'WARN';
  /**
   * X-Ray: `ACTIVE` (the default) samples and records this function's invocations; `PASS_THROUGH`
   * records one only when the caller's trace header says it is sampled (poll's default: see BridgeStackProps.pollTracing).
   */
  readonly tracing?: 'ACTIVE' | 'PASS_THROUGH';
  /** Runs the function in a VPC (deliver with BridgeStackProps.deliverVpc). Default: outside any VPC. */
  readonly network?: FunctionNetwork;
}

export type TableAccess = 'read' | 'readWrite';

/**
 * What the bind methods use of a table or bucket. Narrower than ITable/IBucket, which
 * `Table`/`Bucket` do not satisfy under `exactOptionalPropertyTypes`.
 */
export interface TableRef {
  readonly tableName: string;
  readonly tableArn: string;
}
export interface BucketRef {
  readonly bucketName: string;
  readonly bucketArn: string;
  arnForObjects(keyPattern: string): string;
}

const TABLE_READ = ['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:Query'] as const;
/** TransactWriteItems is authorised per item through these actions; there is no Scan anywhere. */
const TABLE_WRITE = [
  'dynamodb:PutItem',
  'dynamodb:UpdateItem',
  'dynamodb:DeleteItem',
  'dynamodb:BatchWriteItem',
  'dynamodb:ConditionCheckItem',
] as const;

export interface BucketAccess {
  /** Key prefixes (`raw/`) the function may GET (also what its presigned URLs can reach). */
  readonly read?: readonly string[];
  /** Key prefixes it may PUT (single and multipart upload, abort of its own uploads). */
  readonly write?: readonly string[];
  /** Key prefixes it may DELETE (staging objects only). */
  readonly delete?: readonly string[];
}

export class BridgeFunction extends Construct {
  readonly fn: NodejsFunction;
  readonly role: Role;
  readonly logGroup: LogGroup;

  constructor(scope: Construct, id: string, props: BridgeFunctionProps) {
    super(scope, id);

    this.logGroup = new LogGroup(this, 'Logs', { retention: props.logRetention });
    // An explicit role with no managed policies: every permission below is an explicit statement.
    this.role = new Role(this, 'Role', {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: `pop3-bridge ${id}: least-privilege execution role`,
    });
    this.role.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'WriteOwnLogs',
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [this.logGroup.logGroupArn],
      }),
    );

    this.fn = new NodejsFunction(this, 'Function', {
      entry: props.entry,
      handler: 'handler',
      description: props.description,
      runtime: Runtime.NODEJS_24_X,
      architecture: Architecture.ARM_64,
      memorySize: props.memorySize,
      timeout: props.timeout,
      role: this.role,
      logGroup: this.logGroup,
      // JSON log format: Lambda filters the Powertools JSON lines by their "level" and its own lines by the
      // system level (docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-log-level.html). The
      // application level must equal POWERTOOLS_LOG_LEVEL: Powertools takes the stricter of the two.
      loggingFormat: LoggingFormat.JSON,
      applicationLogLevelV2: ApplicationLogLevel[props.logLevel],
      systemLogLevelV2: SystemLogLevel[props.systemLogLevel ?? 'INFO'],
      tracing: Tracing[props.tracing ?? 'ACTIVE'],
      ...(props.reservedConcurrentExecutions === undefined
        ? {}
        : { reservedConcurrentExecutions: props.reservedConcurrentExecutions }),
      environment: {
        NODE_OPTIONS: '--enable-source-maps',
        POWERTOOLS_SERVICE_NAME: SERVICE_NAME,
        POWERTOOLS_LOG_LEVEL: props.logLevel,
        POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
      },
      bundling: BUNDLING,
      ...(props.network && {
        vpc: props.network.vpc,
        vpcSubnets: { subnets: [...props.network.subnets] },
        ...(props.network.securityGroups.length > 0 && { securityGroups: [...props.network.securityGroups] }),
      }),
    });
    if (props.network) {
      this.role.addToPrincipalPolicy(
        new PolicyStatement({ sid: 'ManageVpcNetworkInterfaces', actions: [...VPC_ACCESS_ACTIONS], resources: ['*'] }),
      );
    }
    acknowledgeWildcardResource(
      this.role,
      '*',
      props.network
        ? 'Active X-Ray tracing adds xray:PutTraceSegments and xray:PutTelemetryRecords, and running in a VPC needs the network-interface actions of AWSLambdaVPCAccessExecutionRole (Describe* and interfaces Lambda names itself); none supports a narrower resource, and no other statement of this role has Resource *.'
        : 'Active X-Ray tracing adds xray:PutTraceSegments and xray:PutTelemetryRecords, which support no resource-level permissions; no other statement of this role has Resource *.',
    );
  }

  /** Sets TABLE_NAME and grants item reads (and writes for `readWrite`) on the table and its named GSIs. */
  bindTable(table: TableRef, access: TableAccess, indexNames: readonly string[]): void {
    this.fn.addEnvironment(ENV.tableName, table.tableName);
    const resources = [table.tableArn, ...indexNames.map((name) => `${table.tableArn}/index/${name}`)];
    this.role.addToPrincipalPolicy(new PolicyStatement({ sid: 'ReadStateTable', actions: [...TABLE_READ], resources }));
    if (access === 'readWrite') {
      this.role.addToPrincipalPolicy(
        new PolicyStatement({ sid: 'WriteStateTable', actions: [...TABLE_WRITE], resources: [table.tableArn] }),
      );
    }
  }

  /** Sets BUCKET_NAME and grants object actions on the given key prefixes only (`{}`: the name, no access). */
  bindBucket(bucket: BucketRef, access: BucketAccess): void {
    this.fn.addEnvironment(ENV.bucketName, bucket.bucketName);
    const objects = (prefixes: readonly string[]) => prefixes.map((p) => bucket.arnForObjects(`${p}*`));
    const prefixes = new Set([...(access.read ?? []), ...(access.write ?? []), ...(access.delete ?? [])]);
    for (const prefix of prefixes) {
      acknowledgeWildcardResource(
        this.role,
        bucket.arnForObjects(`${prefix}*`),
        `Keys under ${prefix} are content-addressed or generated per upload, so they are unknown when the policy is written: access is scoped to the ${prefix} prefix of this one bucket (per-action prefixes in docs/aws.md).`,
      );
    }
    if (access.read?.length) {
      this.role.addToPrincipalPolicy(
        new PolicyStatement({ sid: 'ReadObjects', actions: ['s3:GetObject'], resources: objects(access.read) }),
      );
    }
    if (access.write?.length) {
      this.role.addToPrincipalPolicy(
        new PolicyStatement({
          sid: 'WriteObjects',
          actions: ['s3:PutObject', 's3:AbortMultipartUpload'],
          resources: objects(access.write),
        }),
      );
    }
    if (access.delete?.length) {
      this.role.addToPrincipalPolicy(
        new PolicyStatement({ sid: 'DeleteObjects', actions: ['s3:DeleteObject'], resources: objects(access.delete) }),
      );
    }
    if (access.read?.length || access.write?.length) {
      // Without ListBucket a HEAD of a missing key is 403, not 404: the store's `has()` needs the 404.
      this.role.addToPrincipalPolicy(
        new PolicyStatement({ sid: 'ListBucket', actions: ['s3:ListBucket'], resources: [bucket.bucketArn] }),
      );
    }
  }

  /**
   * Sets MAILBOX_PARAMETER_PATH and grants reading the mailbox parameters:
   * `path` (dispatch, poll, deliver) = the path only, no SSM or KMS (dispatch
   * reads the registry in the state table, poll and deliver the sealed
   * configs); `read` (registry) = GetParametersByPath on the path, without
   * decryption, for names and versions, and GetParameter on one mailbox,
   * decrypted only with the mailbox key, only through SSM, only for parameters
   * under the path.
   */
  bindMailboxes(config: MailboxConfig, access: 'path' | 'read'): void {
    this.fn.addEnvironment(ENV.mailboxPath, config.path);
    if (access === 'path') return;
    this.role.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'ListMailboxParameters',
        actions: ['ssm:GetParametersByPath'],
        resources: [config.pathArn],
      }),
    );
    this.role.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'GetMailboxParameter',
        actions: ['ssm:GetParameter'],
        resources: [config.parametersArn],
      }),
    );
    acknowledgeWildcardResource(
      this.role,
      config.parametersArn,
      `Operators add mailboxes after deploy (aws ssm put-parameter), so their names are unknown here: GetParameter is scoped to ${config.path}/ and decryption to the mailbox key through SSM for that path only.`,
    );
    const stack = Stack.of(this);
    this.role.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'DecryptMailboxParameters',
        effect: Effect.ALLOW,
        actions: ['kms:Decrypt'],
        resources: [config.key.keyArn],
        conditions: {
          StringEquals: { 'kms:ViaService': `ssm.${stack.region}.${stack.urlSuffix}` },
          StringLike: { 'kms:EncryptionContext:PARAMETER_ARN': config.parametersArn },
        },
      }),
    );
  }

  /**
   * Sets CONFIG_KEY_ARN and grants the KMS half of sealed mailbox configs, only
   * with the mailbox key and only for data keys whose encryption context says
   * they are for mailbox configs: `seal` (registry) = GenerateDataKey, `open`
   * (poll, deliver) = Decrypt. Not through SSM: these functions call KMS
   * themselves, once per data key.
   */
  bindSealedConfigs(config: MailboxConfig, access: 'seal' | 'open'): void {
    this.fn.addEnvironment(ENV.configKeyArn, config.key.keyArn);
    this.role.addToPrincipalPolicy(
      new PolicyStatement({
        sid: access === 'seal' ? 'SealMailboxConfigs' : 'OpenMailboxConfigs',
        actions: [access === 'seal' ? 'kms:GenerateDataKey' : 'kms:Decrypt'],
        resources: [config.key.keyArn],
        conditions: {
          StringEquals: { [`kms:EncryptionContext:${CONFIG_KEY_CONTEXT.key}`]: CONFIG_KEY_CONTEXT.value },
        },
      }),
    );
  }

  /** Sets `envName` to the queue URL and grants SendMessage (also covers SendMessageBatch). */
  bindQueueSend(queue: IQueue, envName: string): void {
    this.fn.addEnvironment(envName, queue.queueUrl);
    this.role.addToPrincipalPolicy(new PolicyStatement({ actions: ['sqs:SendMessage'], resources: [queue.queueArn] }));
  }
}

/** `arn:…:ssm:region:account:parameter/<path>` for a path that starts with `/`. */
export function parameterArn(scope: Construct, path: string): string {
  return Arn.format(
    { service: 'ssm', resource: 'parameter', resourceName: path.slice(1), arnFormat: ArnFormat.SLASH_RESOURCE_NAME },
    Stack.of(scope),
  );
}
