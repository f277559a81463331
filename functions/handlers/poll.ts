/**
 * poll — a batch of SQS records (up to 10, the event source's batch size), each
 * a job naming one mailbox and its SSM parameter version, polled CONCURRENTLY:
 * an idle poll mostly waits on the POP3 server, so ten of them take about as
 * long as the slowest one, and one Lambda invocation, one SQS receive and one
 * set of platform log lines serve ten polls (docs/cost-model.md).
 *
 * Each mailbox is polled with the core engine under its own deadline, taken
 * from the Lambda's remaining time when its poll starts; the POP3 client's own
 * timeouts (connect, greeting, command, idle: functions/pop3/limits.ts) bound a
 * server that hangs, so one mailbox can delay the invocation's end but never
 * stops the others from storing and recording their mail.
 *
 * The config is the sealed copy the registry function wrote to the state
 * table, kept per container by parameter version (mailbox-configs.ts), so an
 * idle poll reads no config at all: no SSM, no KMS, no extra DynamoDB read. A record fails (ReportBatchItemFailures: SQS retries
 * that record only) when the state store itself fails, or the job cannot be
 * read; a mailbox's own errors (bad password, unreachable server, a hostile
 * reply) are recorded in its state and backed off by the engine, and the
 * record succeeds.
 *
 * deliver is woken once per invocation, as soon as the first mailbox stored
 * mail: not once per mailbox, and not only after the slowest poll ended.
 */
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { createMailboxConfigs } from '../aws/mailbox-configs.js';
import { createAwsPollRuntime } from '../aws/poll-runtime.js';
import { createAwsRuntime, handlerEnv, requireQueue } from '../aws/runtime.js';
import type { Logger } from '../core/logger.js';
import { type PollResult, pollMailbox } from '../core/poll/poll-mailbox.js';
import { pollTargetOf } from '../core/poll/target.js';
import type { LambdaContext, SqsBatchResponse, SqsEvent } from './lambda-types.js';

const runtime = createAwsRuntime(handlerEnv(process.env));
const polling = createAwsPollRuntime(runtime);
const configs = createMailboxConfigs(runtime);
const deliveryQueueUrl = requireQueue(runtime.env.deliveryQueueUrl, 'DELIVERY_QUEUE_URL');
const metrics = new Metrics({ namespace: 'Pop3Bridge', serviceName: 'pop3-bridge' });

/** Time kept back at the end of an invocation: finish the current message, QUIT, write the state. */
const SAFETY_MS = 20_000;
/**
 * Most mailboxes polled at once in one invocation: the event source's batch size (infra/bridge-stack.ts).
 * A larger event (a manual invoke) is worked through this many at a time.
 */
export const MAX_PARALLEL_POLLS = 10;

type SqsRecord = SqsEvent['Records'][number];

/** One mailbox's jobs in this batch: usually one record; two when a retried job meets the next dispatch's. */
interface MailboxJobs {
  readonly name: string | undefined;
  /** The newest parameter version among the records (undefined: a job from before versions). */
  readonly version: number | undefined;
  readonly records: SqsRecord[];
}

export const handler = async (event: SqsEvent, context: LambdaContext): Promise<SqsBatchResponse> => {
  const batchItemFailures: SqsBatchResponse['batchItemFailures'] = [];
  const { groups, unreadable } = groupByMailbox(event.Records);
  for (const record of unreadable) {
    runtime.logger.error('poll job is not a JSON object; SQS will retry it, then dead-letter it', {
      messageId: record.messageId,
    });
    batchItemFailures.push({ itemIdentifier: record.messageId });
  }
  const wakeDeliver = once(async () => {
    try {
      await runtime.sqs.send(
        new SendMessageCommand({ QueueUrl: deliveryQueueUrl, MessageBody: JSON.stringify({ kind: 'deliver-due' }) }),
      );
    } catch (error) {
      // Not a reason to fail any record: the mail is stored and its delivery jobs are recorded, and
      // dispatch wakes deliver within a minute whenever deliveries are due (dispatch.ts).
      runtime.logger.error('could not wake deliver; the next dispatch will', { error });
    }
  });

  await forEachConcurrently(groups, MAX_PARALLEL_POLLS, async (jobs) => {
    try {
      const result = await pollJob(jobs, context);
      if (result !== undefined && result.fetched > 0) {
        publishFetched(result);
        await wakeDeliver();
      }
    } catch (error) {
      runtime.logger.error('poll job failed; SQS will retry it', { mailbox: jobs.name, error });
      for (const record of jobs.records) batchItemFailures.push({ itemIdentifier: record.messageId });
    }
  });
  return { batchItemFailures };
};

/** Polls one mailbox; undefined when the job names no enabled mailbox (the job is dropped, not retried). */
async function pollJob(jobs: MailboxJobs, context: LambdaContext): Promise<PollResult | undefined> {
  const { name, version } = jobs;
  // A job without a version was queued by a dispatch from before versions (in flight during a deploy).
  const mailbox =
    name === undefined
      ? undefined
      : version !== undefined
        ? await configs.mailboxAt(name, version)
        : await configs.mailbox(name);
  if (!mailbox?.enabled) {
    runtime.logger.warn('poll job for an unknown or disabled mailbox: dropped', { mailbox: name });
    return undefined;
  }
  const log = quietWhenIdle(runtime.logger.child({ mailbox: mailbox.name }));
  const deadline = Date.now() + Math.max(0, context.getRemainingTimeInMillis() - SAFETY_MS);
  return pollMailbox(pollTargetOf(mailbox), polling.pollDeps(mailbox, log), { deadline });
}

/**
 * Per-mailbox metrics only when mail came: every Mailbox dimension value is its own custom
 * metric, billed per hour it receives data (docs/cost-model.md). Two zeros every 5 minutes
 * from 10,000 idle mailboxes would cost more than everything else.
 */
function publishFetched(result: PollResult): void {
  const fetched = metrics.singleMetric();
  fetched.addDimension('Mailbox', result.mailbox);
  fetched.addMetric('MessagesFetched', MetricUnit.Count, result.fetched);
  const bytes = metrics.singleMetric();
  bytes.addDimension('Mailbox', result.mailbox);
  bytes.addMetric('BytesFetched', MetricUnit.Bytes, result.bytes);
}

/**
 * Records by mailbox, so two jobs for one mailbox in a batch make one poll: run side by side they
 * would log in twice at once, and servers that lock the maildrop answer the second with [IN-USE]
 * (RFC 2449 §8.1.2), which the engine records as a failure. The poll's outcome is every record's.
 */
function groupByMailbox(records: SqsEvent['Records']): { groups: MailboxJobs[]; unreadable: SqsRecord[] } {
  const byName = new Map<string | undefined, { version: number | undefined; records: SqsRecord[] }>();
  const unreadable: SqsRecord[] = [];
  for (const record of records) {
    let job: unknown;
    try {
      job = JSON.parse(record.body);
    } catch {
      unreadable.push(record);
      continue;
    }
    if (typeof job !== 'object' || job === null) {
      unreadable.push(record);
      continue;
    }
    const { mailbox, version } = job as { mailbox?: unknown; version?: unknown };
    const name = typeof mailbox === 'string' ? mailbox : undefined;
    const v = Number.isSafeInteger(version) ? (version as number) : undefined;
    const group = byName.get(name);
    if (group === undefined) {
      byName.set(name, { version: v, records: [record] });
    } else {
      group.records.push(record);
      if (v !== undefined && (group.version === undefined || v > group.version)) group.version = v;
    }
  }
  const groups = [...byName].map(([name, g]) => ({ name, version: g.version, records: g.records }));
  return { groups, unreadable };
}

/**
 * The engine reports an idle poll ("poll finished", path idle) at INFO, which suits the CLI. In
 * AWS mode that line is most of poll's log volume (10,000 mailboxes × 288 polls a day, billed
 * per byte ingested: docs/cost-model.md), so the handler lowers it to DEBUG. Every other line,
 * a poll that fetched, failed or was skipped among them, keeps its level.
 */
function quietWhenIdle(log: Logger): Logger {
  return {
    debug: log.debug,
    info: (message, fields) => (fields?.path === 'idle' ? log.debug(message, fields) : log.info(message, fields)),
    warn: log.warn,
    error: log.error,
    child: (fields) => quietWhenIdle(log.child(fields)),
  };
}

/** Runs `work` over `items`, at most `limit` at a time; never rejects (each `work` handles its own errors). */
async function forEachConcurrently<T>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next] as T;
      next += 1;
      await work(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** `fn` run at most once; later calls share the first call's promise. */
function once(fn: () => Promise<void>): () => Promise<void> {
  let started: Promise<void> | undefined;
  return () => {
    started ??= fn();
    return started;
  };
}
