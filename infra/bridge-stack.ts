/**
 * The AWS flow (docs/aws.md): EventBridge → dispatch → poll queue → poll →
 * S3 + DynamoDB → delivery queue → deliver → webhooks. Resources and grants
 * only: no business logic lives here.
 */
import { fileURLToPath } from 'node:url';
import { Annotations, Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import { AttributeType, BillingMode, Table } from 'aws-cdk-lib/aws-dynamodb';
import { SecurityGroup, Subnet, Vpc } from 'aws-cdk-lib/aws-ec2';
import { Match, Rule, RuleTargetInput, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import {
  BlockPublicAccess,
  Bucket,
  BucketEncryption,
  type IBucket,
  type LifecycleRule,
  ObjectOwnership,
} from 'aws-cdk-lib/aws-s3';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { InvocationType, Trigger } from 'aws-cdk-lib/triggers';
import type { Construct } from 'constructs';
import { DEFAULT_LINK_TTL_SECONDS, MAX_LINK_TTL_SECONDS, MIN_LINK_TTL_SECONDS } from '../functions/aws/link-ttl.js';
import { KNOWN_UIDS_PREFIX, TABLE_SCHEMA } from '../functions/aws/table-schema.js';
import { isAllowListEntry } from '../functions/config/hosts.js';
import { longestRetrySpanMs } from '../functions/delivery/retry-schedule.js';
import { DEFAULT_EVENT_LIMITS, MAX_BODY_BYTES, MIN_BODY_BYTES } from '../functions/events/limits.js';
import { BridgeFunction, ENV, type FunctionNetwork, type LogLevel } from './constructs/bridge-function.js';
import { MailboxConfig } from './constructs/mailbox-config.js';
import { Monitoring } from './constructs/monitoring.js';

export interface BridgeStackProps extends StackProps {
  /** SSM path prefix: mailboxes are `/<prefix>/mailboxes/<name>`. Default `pop3-bridge`. */
  readonly prefix?: string;
  /**
   * Expire `raw/` objects (the stored MIME) after this many days. Default: kept. At least the longest a
   * delivery's retries can run plus the link lifetime and a day (minRawRetentionDays: 9 with the default links).
   */
  readonly rawRetentionDays?: number;
  /** Days before superseded object versions are removed. Default 30. */
  readonly noncurrentVersionRetentionDays?: number;
  /** Days of S3 server access logs kept. Default 90. */
  readonly accessLogRetentionDays?: number;
  /** Function log retention. Default one month. */
  readonly logRetention?: RetentionDays;
  /** Powertools log level. Default INFO. */
  readonly logLevel?: LogLevel;
  /**
   * Most poll functions running at once (SQS event source maxConcurrency, 2..1000). Default 5: each
   * runs a batch of up to 10 mailboxes at once, so 5 poll about 80 mailboxes a second with 0.6 s
   * batches, where 10,000 mailboxes every 5 minutes need 33 (docs/cost-model.md). Raise it when polls
   * take longer; more containers also mean more config reads (one state GetItem per container and
   * mailbox, one KMS Decrypt per container and data key).
   */
  readonly pollConcurrency?: number;
  /**
   * X-Ray for poll: `PassThrough` (default) records no trace of its own, `Active` samples its
   * invocations as the other functions do (Lambda's fixed rate: 1 a second + 5 %). At 10,000
   * mailboxes that is ≈ 2.9 M traces a month, $0.0014 per mailbox-month, over a quarter of the
   * $0.005 budget, for idle polls that do the same thing every time (docs/cost-model.md). Turn it on
   * to trace a problem; errors, durations and logs do not depend on it. Dispatch follows the same
   * setting: its trace header travels with the poll jobs (the SDK sends Lambda's trace id with
   * SendMessageBatch and SQS keeps it as each message's AWSTraceHeader), and a PassThrough poll records
   * every invocation whose jobs carry a sampled one, which a dispatch run once a minute always is.
   */
  readonly pollTracing?: 'Active' | 'PassThrough';
  /**
   * Largest JSON body of a webhook event, in bytes (32 KiB..1 MiB; default 256 KiB): a longer text or html
   * becomes a presigned link, then other fields are cut (docs/webhooks.md, "Size limit"). Set it to what the
   * receivers accept. The deliver function gets it as MAX_EVENT_BODY_BYTES.
   */
  readonly maxEventBodyBytes?: number;
  /**
   * How long the presigned links in webhook events stay valid, in seconds (60..604800, S3's 7-day maximum;
   * default 86400). A link also stops working when the deliver function's role credentials that signed it
   * expire, which can be sooner. The deliver function gets it as LINK_TTL_SECONDS.
   */
  readonly linkTtlSeconds?: number;
  /** Most deliver functions running at once (2..1000). Default 5. */
  readonly deliverConcurrency?: number;
  /**
   * Runs deliver in subnets of an existing VPC, so that it can reach webhook receivers inside the VPC (list
   * them in `webhookAllowList`). The subnets need a route to the internet (a NAT gateway) or VPC endpoints
   * for S3, DynamoDB, SQS and KMS, and to every receiver outside the VPC. Dispatch, poll and the registry
   * stay outside any VPC. Default: no VPC.
   */
  readonly deliverVpc?: DeliverVpcProps;
  /**
   * Webhook receivers deliver may reach although they resolve to private addresses, which the SSRF guard
   * refuses otherwise: CIDRs, IP addresses, host names or `*.domain`, as `webhookAllowList` in local mode's
   * config. Only useful with `deliverVpc`: outside a VPC, deliver has no route to a private address. The
   * deliver function gets it as WEBHOOK_ALLOW_LIST. Default: none.
   */
  readonly webhookAllowList?: ReadonlyArray<string>;
  /** Reserved concurrency for dispatch. Default unset (a reservation needs spare account concurrency). */
  readonly dispatchReservedConcurrency?: number;
  /** SNS topic ARN for alarm notifications. */
  readonly alarmTopicArn?: string;
  /** E-mail address subscribed to the alarm topic (the stack creates an encrypted topic if no ARN is given). */
  readonly alarmEmail?: string;
}

/** Where deliver runs when it must reach receivers inside a VPC (BridgeStackProps.deliverVpc). */
export interface DeliverVpcProps {
  /** `vpc-…` */
  readonly vpcId: string;
  /** `subnet-…`, 1 to 16, private subnets of that VPC (Lambda gives functions in a VPC no public address). */
  readonly subnetIds: ReadonlyArray<string>;
  /**
   * `sg-…`, up to 5, for deliver's network interfaces. Default: one the stack creates in the VPC, with no
   * inbound rule and every outbound connection allowed (receivers listen on any port).
   */
  readonly securityGroupIds?: ReadonlyArray<string>;
}

export class InvalidStackPropError extends Error {
  override readonly name = 'InvalidStackPropError';
}

export const DEFAULT_PREFIX = 'pop3-bridge';
/**
 * S3 key prefixes (the layout of functions/aws/s3-raw-store.ts): raw mail, attachments,
 * upload staging (put → server-side copy to the content key → delete), and the
 * known-uid blobs of the state store (`state/known-uids/<mailbox>.gz`). Grants are per prefix.
 */
export const KEY_PREFIX = { raw: 'raw/', tmp: 'tmp/', knownUids: KNOWN_UIDS_PREFIX, att: 'att/' } as const;

const POLL_TIMEOUT = Duration.minutes(5);
/**
 * Poll jobs per invocation, all polled at once (MAX_PARALLEL_POLLS in functions/handlers/poll.ts):
 * an invocation lasts about as long as its slowest poll, and one SQS receive (10 at most) serves
 * the batch. Larger batches would need several receives and hold more jobs behind one slow server.
 */
export const POLL_BATCH_SIZE = 10;
/**
 * How long the event source gathers jobs for a fuller batch when fewer than 10 are waiting. Each poll
 * starts at most this much later: under 1 % of the default 5-minute interval and 7 % of the shortest
 * allowed (30 s), while dispatch sends a minute's jobs in one burst of SendMessageBatch calls, so 2 s
 * is enough to fill batches. Without a window a receive returns what one SQS host has, often 1–3.
 */
export const POLL_BATCH_WINDOW = Duration.seconds(2);
/**
 * Not AWS's 6× the function timeout: a job is redundant once the next dispatch has sent its successor, so a
 * long wait before a retry buys nothing. The timeout, the batching window and a minute's grace.
 */
const POLL_VISIBILITY = POLL_TIMEOUT.plus(POLL_BATCH_WINDOW).plus(Duration.minutes(1));
/**
 * Long enough for a request to the slowest endpoint a config may set (120 s, MAX_WEBHOOK_TIMEOUT_SECONDS) with
 * time to spare: the deliver function starts no request that could outlast its invocation, so with 2 minutes
 * such an endpoint would never be sent to. A longer timeout costs nothing unless it is used.
 */
const DELIVER_TIMEOUT = Duration.minutes(5);
/** AWS's guidance for SQS-triggered functions: visibility timeout at least 6× the function timeout. */
const VISIBILITY_FACTOR = 6;

const handlerEntry = (name: string): string =>
  fileURLToPath(new URL(`../functions/handlers/${name}.ts`, import.meta.url));

export class BridgeStack extends Stack {
  readonly bucket: Bucket;
  readonly table: Table;
  readonly mailboxes: MailboxConfig;
  readonly pollQueue: Queue;
  readonly deliveryQueue: Queue;
  readonly functions: {
    readonly dispatch: BridgeFunction;
    readonly poll: BridgeFunction;
    readonly deliver: BridgeFunction;
    readonly registry: BridgeFunction;
  };
  readonly monitoring: Monitoring;

  constructor(scope: Construct, id: string, props: BridgeStackProps = {}) {
    super(scope, id, props);
    const p = resolveProps(props);

    // ---- S3: raw MIME (raw/), upload staging (tmp/), known-UID blobs (state/), attachments (att/)
    const accessLogs = new Bucket(this, 'AccessLogs', {
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      // S3 server access logging can deliver only to SSE-S3 buckets.
      encryption: BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      lifecycleRules: [{ id: 'expire-access-logs', expiration: Duration.days(p.accessLogRetentionDays) }],
      removalPolicy: RemovalPolicy.RETAIN,
    });
    const lifecycleRules: LifecycleRule[] = [
      { id: 'abort-incomplete-multipart-uploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
      {
        id: 'expire-upload-staging',
        prefix: KEY_PREFIX.tmp,
        expiration: Duration.days(1),
        noncurrentVersionExpiration: Duration.days(1),
      },
      {
        id: 'expire-noncurrent-versions',
        noncurrentVersionExpiration: Duration.days(p.noncurrentVersionRetentionDays),
      },
      { id: 'remove-expired-delete-markers', expiredObjectDeleteMarker: true },
    ];
    if (p.rawRetentionDays !== undefined) {
      lifecycleRules.push({ id: 'expire-raw', prefix: KEY_PREFIX.raw, expiration: Duration.days(p.rawRetentionDays) });
    }
    this.bucket = new Bucket(this, 'Store', {
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      encryption: BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      versioned: true,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      // Bucket is an IBucket; the cast only bridges aws-cdk-lib's typings under exactOptionalPropertyTypes.
      serverAccessLogsBucket: accessLogs as IBucket,
      serverAccessLogsPrefix: 'store/',
      lifecycleRules,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    // ---- DynamoDB: UIDL records, leases, mailbox status, delivery jobs (single table).
    // Key, GSI and TTL names come from the adapter's schema, the one place that defines them.
    this.table = new Table(this, 'State', {
      partitionKey: { name: TABLE_SCHEMA.partitionKey, type: AttributeType.STRING },
      sortKey: { name: TABLE_SCHEMA.sortKey, type: AttributeType.STRING },
      billingMode: BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      timeToLiveAttribute: TABLE_SCHEMA.ttlAttribute,
      deletionProtection: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    for (const index of TABLE_SCHEMA.indexes) {
      this.table.addGlobalSecondaryIndex({
        indexName: index.name,
        partitionKey: { name: index.partitionKey, type: AttributeType.STRING },
        sortKey: { name: index.sortKey, type: AttributeType.STRING },
      });
    }
    const indexNames = TABLE_SCHEMA.indexes.map((i) => i.name);

    // ---- SQS: one poll job per mailbox; one delivery job per (message, webhook)
    const queue = (name: string, o: { visibility: Duration; retention: Duration; maxReceiveCount: number }) => {
      const dlq = new Queue(this, `${name}Dlq`, {
        encryption: QueueEncryption.SQS_MANAGED,
        enforceSSL: true,
        retentionPeriod: Duration.days(14),
      });
      const q = new Queue(this, `${name}Queue`, {
        encryption: QueueEncryption.SQS_MANAGED,
        enforceSSL: true,
        visibilityTimeout: o.visibility,
        retentionPeriod: o.retention,
        deadLetterQueue: { queue: dlq, maxReceiveCount: o.maxReceiveCount },
      });
      return { q, dlq };
    };
    // A poll job is re-sent by the next dispatch anyway: a crashed one retries after a minute's grace
    // and reaches the DLQ (and its alarm) within about 20 minutes.
    const poll = queue('Poll', {
      visibility: POLL_VISIBILITY,
      retention: Duration.days(1),
      maxReceiveCount: 3,
    });
    const delivery = queue('Delivery', {
      visibility: Duration.seconds(DELIVER_TIMEOUT.toSeconds() * VISIBILITY_FACTOR),
      // A retry schedule may span days: keep delivery jobs for the maximum.
      retention: Duration.days(14),
      // Each receive counts, including retries made by changing the visibility: room for the retry schedule.
      maxReceiveCount: 10,
    });
    this.pollQueue = poll.q;
    this.deliveryQueue = delivery.q;

    // ---- SSM + KMS: mailbox configs (SecureString, customer-managed key)
    this.mailboxes = new MailboxConfig(this, 'Mailboxes', { prefix: p.prefix });

    // ---- Functions
    const common = { logRetention: p.logRetention, logLevel: p.logLevel };
    const dispatch = new BridgeFunction(this, 'Dispatch', {
      ...common,
      entry: handlerEntry('dispatch'),
      description: 'dispatch: reads the mailbox registry every minute and sends one poll job per due mailbox',
      timeout: Duration.minutes(1),
      memorySize: 256,
      // Unsampled unless pollTracing is Active: its sampled trace header would make every poll it feeds traced.
      tracing: p.pollTracing === 'Active' ? 'ACTIVE' : 'PASS_THROUGH',
      ...(p.dispatchReservedConcurrency === undefined
        ? {}
        : { reservedConcurrentExecutions: p.dispatchReservedConcurrency }),
    });
    // The path only (it names parameters in its logs): mailboxes come from the registry in the state table.
    dispatch.bindMailboxes(this.mailboxes, 'path');
    dispatch.bindTable(this.table, 'read', indexNames);
    // The name only (DynamoStateStore is built with it): dispatch reads mailbox status, no object.
    dispatch.bindBucket(this.bucket, {});
    dispatch.bindQueueSend(this.pollQueue, ENV.pollQueueUrl);
    // Retries are scheduled in the state store; dispatch wakes deliver when some are due.
    dispatch.bindQueueSend(this.deliveryQueue, ENV.deliveryQueueUrl);
    new Rule(this, 'DispatchSchedule', {
      description: 'pop3-bridge: run dispatch every minute',
      schedule: Schedule.rate(Duration.minutes(1)),
      targets: [new LambdaFunction(dispatch.fn, { retryAttempts: 2, maxEventAge: Duration.minutes(1) })],
    });

    // The registry: one item per mailbox parameter in the state table, which dispatch reads instead of
    // listing SSM every minute (docs/cost-model.md). SSM's change events keep it current within seconds;
    // an hourly reconcile and one after each deploy catch whatever events were missed.
    const registry = new BridgeFunction(this, 'Registry', {
      ...common,
      entry: handlerEntry('registry'),
      description: 'registry: keeps the mailbox registry in the state table in step with the SSM mailbox parameters',
      // A first reconcile over 10,000 existing parameters reads each once: ≈ 5 minutes at SSM's 40 TPS.
      timeout: Duration.minutes(15),
      memorySize: 256,
    });
    registry.bindMailboxes(this.mailboxes, 'read');
    // It writes each valid config sealed under a data key of the mailbox key, for poll and deliver.
    registry.bindSealedConfigs(this.mailboxes, 'seal');
    // Registry items only (pk REGISTRY): no index is read.
    registry.bindTable(this.table, 'readWrite', []);
    registry.bindBucket(this.bucket, {});
    new Rule(this, 'MailboxParameterChanges', {
      description: 'pop3-bridge: register a mailbox parameter when it is created, changed or deleted',
      eventPattern: {
        source: ['aws.ssm'],
        detailType: ['Parameter Store Change'],
        detail: { name: Match.prefix(`${this.mailboxes.path}/`) },
      },
      targets: [new LambdaFunction(registry.fn, { retryAttempts: 8, maxEventAge: Duration.hours(2) })],
    });
    new Rule(this, 'RegistryReconcile', {
      description: 'pop3-bridge: reconcile the mailbox registry with SSM every hour',
      schedule: Schedule.rate(Duration.hours(1)),
      targets: [
        new LambdaFunction(registry.fn, {
          event: RuleTargetInput.fromObject({ kind: 'reconcile' }),
          retryAttempts: 2,
          maxEventAge: Duration.hours(1),
        }),
      ],
    });
    // After a deploy that changes the function (and the first): existing parameters are registered at once.
    // Asynchronous, so a 5-minute first reconcile does not hold the deploy, and a failure retries like any event.
    new Trigger(this, 'ReconcileAfterDeploy', {
      handler: registry.fn,
      invocationType: InvocationType.EVENT,
      executeAfter: [this.table],
    });
    // The rules invoke the unqualified function (their resource-policy permissions are on it); the trigger invokes
    // the version through its provider role's identity policy (lambda:InvokeFunction on `<function>:*`).
    Annotations.of(registry.fn).acknowledgeWarning(
      '@aws-cdk/aws-lambda:addPermissionsToVersionOrAlias',
      'EventBridge invokes the unqualified function; the deploy trigger is allowed to invoke its versions by IAM',
    );

    const pollFn = new BridgeFunction(this, 'Poll', {
      ...common,
      entry: handlerEntry('poll'),
      description:
        'poll: up to 10 mailboxes per invocation, polled at once; stores new messages in S3 and DynamoDB, enqueues deliveries',
      timeout: POLL_TIMEOUT,
      // Ten polls at once, each upload holding one 8 MiB part buffer (s3-part-upload.ts): measured peak 272–278 MiB
      // on Node 24 for ten 64 MiB messages fetched at once, 136–148 MiB for one (bench/poll-batch-rss.ts --n 64,
      // 2026-11-27; 402 MiB on Node 20 with lib-storage): memory grows with the batch, not with message size.
      memorySize: 512,
      systemLogLevel: 'WARN',
      tracing: p.pollTracing === 'Active' ? 'ACTIVE' : 'PASS_THROUGH',
    });
    // Configs come sealed from the state table (one KMS Decrypt per data key and container), not from SSM.
    pollFn.bindMailboxes(this.mailboxes, 'path');
    pollFn.bindSealedConfigs(this.mailboxes, 'open');
    pollFn.bindBucket(this.bucket, {
      read: [KEY_PREFIX.raw, KEY_PREFIX.tmp, KEY_PREFIX.knownUids],
      write: [KEY_PREFIX.raw, KEY_PREFIX.tmp, KEY_PREFIX.knownUids],
      delete: [KEY_PREFIX.tmp],
    });
    pollFn.bindTable(this.table, 'readWrite', indexNames);
    pollFn.bindQueueSend(this.deliveryQueue, ENV.deliveryQueueUrl);
    pollFn.fn.addEventSource(
      new SqsEventSource(this.pollQueue, {
        batchSize: POLL_BATCH_SIZE,
        maxBatchingWindow: POLL_BATCH_WINDOW,
        maxConcurrency: p.pollConcurrency,
        // One mailbox's failing job goes back to the queue alone, not with the other nine.
        reportBatchItemFailures: true,
      }),
    );

    const deliver = new BridgeFunction(this, 'Deliver', {
      ...common,
      entry: handlerEntry('deliver'),
      description: 'deliver: parses stored MIME, stores attachments, POSTs signed webhook events',
      timeout: DELIVER_TIMEOUT,
      memorySize: 512,
      ...(p.deliverVpc === undefined ? {} : { network: deliverNetwork(this, p.deliverVpc) }),
    });
    deliver.fn.addEnvironment(ENV.maxEventBodyBytes, String(p.maxEventBodyBytes));
    deliver.fn.addEnvironment(ENV.linkTtlSeconds, String(p.linkTtlSeconds));
    if (p.webhookAllowList.length > 0) {
      deliver.fn.addEnvironment(ENV.webhookAllowList, p.webhookAllowList.join(','));
      if (p.deliverVpc === undefined) {
        Annotations.of(deliver).addWarningV2(
          'pop3-bridge:allowListWithoutVpc',
          'webhookAllowList is set but deliverVpc is not: outside a VPC, deliver has no route to private addresses',
        );
      }
    }
    deliver.bindMailboxes(this.mailboxes, 'path');
    deliver.bindSealedConfigs(this.mailboxes, 'open');
    // Attachments are stored like raw mail: uploaded to tmp/, copied server-side to att/<sha>, tmp/ deleted.
    deliver.bindBucket(this.bucket, {
      read: [KEY_PREFIX.raw, KEY_PREFIX.att, KEY_PREFIX.tmp],
      write: [KEY_PREFIX.att, KEY_PREFIX.tmp],
      delete: [KEY_PREFIX.tmp],
    });
    deliver.bindTable(this.table, 'readWrite', indexNames);
    // No SendMessage: deliver only consumes its queue (wake-ups); retries live in the table (nextAttemptAt).
    deliver.fn.addEventSource(
      new SqsEventSource(this.deliveryQueue, {
        batchSize: 5,
        maxConcurrency: p.deliverConcurrency,
        reportBatchItemFailures: true,
      }),
    );
    this.functions = { dispatch, poll: pollFn, deliver, registry };

    // ---- Alarms and dashboard
    this.monitoring = new Monitoring(this, 'Monitoring', {
      functions: { Dispatch: dispatch, Poll: pollFn, Deliver: deliver, Registry: registry },
      queues: { Poll: this.pollQueue, Delivery: this.deliveryQueue },
      deadLetterQueues: { PollDlq: poll.dlq, DeliveryDlq: delivery.dlq },
      // A job that is retried is at most three visibility timeouts old before it reaches the DLQ (3 receives);
      // anything older waited in the queue because every poll function was busy.
      pollBacklog: { queue: this.pollQueue, maxAge: Duration.seconds(POLL_VISIBILITY.toSeconds() * 3) },
      // Ten minutes without a run of a once-a-minute schedule: not one late or throttled minute, but a stop.
      schedule: { name: 'Dispatch', fn: dispatch, maxGap: Duration.minutes(10) },
      ...(p.alarmTopicArn === undefined ? {} : { alarmTopicArn: p.alarmTopicArn }),
      ...(p.alarmEmail === undefined ? {} : { alarmEmail: p.alarmEmail }),
    });
  }
}

/** The VPC, subnets and security groups of deliverVpc, imported by id (nothing is looked up at synth). */
function deliverNetwork(scope: Construct, props: DeliverVpcProps): FunctionNetwork {
  // Only the VPC's id is read from it: the subnets are named explicitly, so its zones (the stack's) never
  // choose one.
  const vpc = Vpc.fromVpcAttributes(scope, 'DeliverVpc', {
    vpcId: props.vpcId,
    availabilityZones: Stack.of(scope).availabilityZones,
  });
  const subnets = props.subnetIds.map((id, i) => {
    const subnet = Subnet.fromSubnetId(scope, `DeliverSubnet${i}`, id);
    Annotations.of(subnet).acknowledgeWarning(
      '@aws-cdk/aws-ec2:noSubnetRouteTableId',
      'Only the subnet id is used (the function is placed in it); nothing reads its route table',
    );
    return subnet;
  });
  return {
    vpc,
    subnets,
    securityGroups: (props.securityGroupIds ?? []).map((id, i) =>
      SecurityGroup.fromSecurityGroupId(scope, `DeliverSecurityGroup${i}`, id),
    ),
  };
}

interface ResolvedProps {
  readonly prefix: string;
  readonly rawRetentionDays: number | undefined;
  readonly noncurrentVersionRetentionDays: number;
  readonly accessLogRetentionDays: number;
  readonly logRetention: RetentionDays;
  readonly logLevel: LogLevel;
  readonly pollConcurrency: number;
  readonly deliverConcurrency: number;
  readonly pollTracing: 'Active' | 'PassThrough';
  readonly maxEventBodyBytes: number;
  readonly linkTtlSeconds: number;
  readonly dispatchReservedConcurrency: number | undefined;
  readonly deliverVpc: DeliverVpcProps | undefined;
  readonly webhookAllowList: ReadonlyArray<string>;
  readonly alarmTopicArn: string | undefined;
  readonly alarmEmail: string | undefined;
}

/** EC2 resource ids: the prefix, then 8 or 17 hex digits. */
const ec2Id = (prefix: string) => new RegExp(`^${prefix}-(?:[0-9a-f]{8}|[0-9a-f]{17})$`);
/** Lambda's limit on all environment variables of a function together is 4 KB: the list gets at most half. */
const MAX_ALLOW_LIST_CHARS = 2048;

function resolveDeliverVpc(props: DeliverVpcProps | undefined): DeliverVpcProps | undefined {
  if (props === undefined) return undefined;
  const ids = (name: string, values: ReadonlyArray<string> | undefined, prefix: string, min: number, max: number) => {
    const list = values ?? [];
    if (list.length < min || list.length > max || new Set(list).size !== list.length) {
      throw new InvalidStackPropError(`deliverVpc.${name}: expected ${min} to ${max} different ${prefix}-… ids`);
    }
    const bad = list.find((id) => !ec2Id(prefix).test(id));
    if (bad !== undefined) throw new InvalidStackPropError(`deliverVpc.${name}: ${bad} is not a ${prefix}-… id`);
    return list;
  };
  if (!ec2Id('vpc').test(props.vpcId)) {
    throw new InvalidStackPropError(`deliverVpc.vpcId: ${props.vpcId} is not a vpc-… id`);
  }
  return {
    vpcId: props.vpcId,
    subnetIds: ids('subnetIds', props.subnetIds, 'subnet', 1, 16),
    securityGroupIds: ids('securityGroupIds', props.securityGroupIds, 'sg', 0, 5),
  };
}

function resolveAllowList(entries: ReadonlyArray<string> | undefined): ReadonlyArray<string> {
  const list = entries ?? [];
  const bad = list.find((entry) => !isAllowListEntry(entry));
  if (bad !== undefined) {
    throw new InvalidStackPropError(
      `webhookAllowList: ${JSON.stringify(bad)} is not a CIDR, an IP address, a host name or *.domain`,
    );
  }
  if (list.join(',').length > MAX_ALLOW_LIST_CHARS) {
    throw new InvalidStackPropError(`webhookAllowList: more than ${MAX_ALLOW_LIST_CHARS} characters in all`);
  }
  return list;
}

const DAY_MS = 86_400_000;
/** Time on top of the retry schedule: each retry waits up to a minute to be claimed, a round may hand a job back. */
const RAW_RETENTION_SLACK_MS = DAY_MS;

/**
 * The shortest `raw/` expiry that keeps a delivery working to its end: every attempt rebuilds the event from the
 * raw object, so it must outlive the last retry (up to a week after the first attempt: longestRetrySpanMs), and
 * the links in that attempt's event are presigned for the link lifetime more. An expiry inside that window fails
 * the retry, and the message is lost if the poll has DELEted it, or breaks a link a receiver was just given.
 * S3 expires an object no sooner than the rule's days after it was written (it rounds up to midnight UTC).
 */
export function minRawRetentionDays(linkTtlSeconds: number): number {
  return Math.ceil((longestRetrySpanMs() + linkTtlSeconds * 1000 + RAW_RETENTION_SLACK_MS) / DAY_MS);
}

/** SSM parameter names may not start with `aws` or `ssm`; KMS alias names allow no dots. */
const PREFIX_PATTERN = /^(?!aws|ssm)[A-Za-z0-9_-]{1,64}(?:\/[A-Za-z0-9_-]{1,64}){0,4}$/i;

function resolveProps(props: BridgeStackProps): ResolvedProps {
  const int = (name: string, value: number | undefined, min: number, max: number): number | undefined => {
    if (value === undefined) return undefined;
    if (!Number.isInteger(value) || value < min || value > max) {
      throw new InvalidStackPropError(`${name}: expected an integer ${min}..${max}`);
    }
    return value;
  };
  const prefix = props.prefix ?? DEFAULT_PREFIX;
  if (!PREFIX_PATTERN.test(prefix)) {
    throw new InvalidStackPropError(
      'prefix: expected path segments of letters, digits, _ and - separated by /, not starting with aws or ssm',
    );
  }
  if (props.alarmEmail !== undefined && !/^[^@\s]+@[^@\s]+$/.test(props.alarmEmail)) {
    throw new InvalidStackPropError('alarmEmail: expected an e-mail address');
  }
  if (
    props.alarmTopicArn !== undefined &&
    !/^arn:[a-z-]+:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]+$/.test(props.alarmTopicArn)
  ) {
    throw new InvalidStackPropError('alarmTopicArn: expected an SNS topic ARN');
  }
  if (props.pollTracing !== undefined && props.pollTracing !== 'Active' && props.pollTracing !== 'PassThrough') {
    throw new InvalidStackPropError('pollTracing: expected Active or PassThrough');
  }
  if (props.logRetention !== undefined && !Object.values(RetentionDays).includes(props.logRetention)) {
    throw new InvalidStackPropError('logRetention: expected a CloudWatch Logs retention period');
  }
  const linkTtlSeconds =
    int('linkTtlSeconds', props.linkTtlSeconds, MIN_LINK_TTL_SECONDS, MAX_LINK_TTL_SECONDS) ?? DEFAULT_LINK_TTL_SECONDS;
  const rawRetentionDays = int('rawRetentionDays', props.rawRetentionDays, 1, 36500);
  const shortestRaw = minRawRetentionDays(linkTtlSeconds);
  if (rawRetentionDays !== undefined && rawRetentionDays < shortestRaw) {
    throw new InvalidStackPropError(
      `rawRetentionDays: at least ${shortestRaw} with linkTtlSeconds ${linkTtlSeconds}: a delivery's retries run up to ` +
        `${longestRetrySpanMs() / DAY_MS} days and rebuild the event from the raw message, whose links then last ` +
        `linkTtlSeconds more`,
    );
  }
  return {
    prefix,
    rawRetentionDays,
    noncurrentVersionRetentionDays:
      int('noncurrentVersionRetentionDays', props.noncurrentVersionRetentionDays, 1, 3650) ?? 30,
    accessLogRetentionDays: int('accessLogRetentionDays', props.accessLogRetentionDays, 1, 3650) ?? 90,
    logRetention: props.logRetention ?? RetentionDays.ONE_MONTH,
    logLevel: props.logLevel ?? 'INFO',
    pollConcurrency: int('pollConcurrency', props.pollConcurrency, 2, 1000) ?? 5,
    deliverConcurrency: int('deliverConcurrency', props.deliverConcurrency, 2, 1000) ?? 5,
    pollTracing: props.pollTracing ?? 'PassThrough',
    maxEventBodyBytes:
      int('maxEventBodyBytes', props.maxEventBodyBytes, MIN_BODY_BYTES, MAX_BODY_BYTES) ??
      DEFAULT_EVENT_LIMITS.maxBodyBytes,
    linkTtlSeconds,
    dispatchReservedConcurrency: int('dispatchReservedConcurrency', props.dispatchReservedConcurrency, 1, 1000),
    deliverVpc: resolveDeliverVpc(props.deliverVpc),
    webhookAllowList: resolveAllowList(props.webhookAllowList),
    alarmTopicArn: props.alarmTopicArn,
    alarmEmail: props.alarmEmail,
  };
}
