/**
 * poll — one SQS message per mailbox (batch size 1, bounded concurrency):
 * polls it with the core engine, with a deadline taken from the Lambda's
 * remaining time, then wakes the deliver function if anything was stored.
 * The job names the mailbox and its SSM parameter version; the config is kept
 * per container by that version (runtime.ts), so an idle poll reads no SSM.
 * A record fails (and SQS retries it) only when the state store itself fails;
 * a mailbox's own errors are recorded in its state and back-off by the engine.
 */
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { createAwsPollRuntime } from '../aws/poll-runtime.js';
import { createAwsRuntime, handlerEnv, requireQueue } from '../aws/runtime.js';
import { pollMailbox } from '../core/poll/poll-mailbox.js';
import { pollTargetOf } from '../core/poll/target.js';
import type { LambdaContext, SqsBatchResponse, SqsEvent } from './lambda-types.js';

const runtime = createAwsRuntime(handlerEnv(process.env));
const polling = createAwsPollRuntime(runtime);
const deliveryQueueUrl = requireQueue(runtime.env.deliveryQueueUrl, 'DELIVERY_QUEUE_URL');
const metrics = new Metrics({ namespace: 'Pop3Bridge', serviceName: 'pop3-bridge' });

/** Time kept back at the end of an invocation: finish the current message, QUIT, write the state. */
const SAFETY_MS = 20_000;

export const handler = async (event: SqsEvent, context: LambdaContext): Promise<SqsBatchResponse> => {
  const batchItemFailures: SqsBatchResponse['batchItemFailures'] = [];
  for (const record of event.Records) {
    try {
      const { mailbox: name, version } = JSON.parse(record.body) as { mailbox?: string; version?: unknown };
      // A job without a version was queued by a dispatch from before versions (in flight during a deploy).
      const mailbox =
        name === undefined
          ? undefined
          : Number.isSafeInteger(version)
            ? await runtime.mailboxAt(name, version as number)
            : await runtime.mailbox(name);
      if (!mailbox?.enabled) {
        runtime.logger.warn('poll job for an unknown or disabled mailbox: dropped', { mailbox: name });
        continue;
      }
      const log = runtime.logger.child({ mailbox: mailbox.name });
      const deadline = Date.now() + Math.max(0, context.getRemainingTimeInMillis() - SAFETY_MS);
      const result = await pollMailbox(pollTargetOf(mailbox), polling.pollDeps(mailbox, log), { deadline });
      if (result.fetched > 0) {
        // Per-mailbox metrics only when mail came: every Mailbox dimension value is its own
        // custom metric, billed per hour it receives data (docs/cost-model.md). Two zeros
        // every 5 minutes from 10,000 idle mailboxes would cost more than everything else.
        const single = metrics.singleMetric();
        single.addDimension('Mailbox', mailbox.name);
        single.addMetric('MessagesFetched', MetricUnit.Count, result.fetched);
        const bytes = metrics.singleMetric();
        bytes.addDimension('Mailbox', mailbox.name);
        bytes.addMetric('BytesFetched', MetricUnit.Bytes, result.bytes);
        await runtime.sqs.send(
          new SendMessageCommand({ QueueUrl: deliveryQueueUrl, MessageBody: JSON.stringify({ kind: 'deliver-due' }) }),
        );
      }
    } catch (error) {
      runtime.logger.error('poll job failed; SQS will retry it', { error });
      batchItemFailures.push({ itemIdentifier: record.messageId });
    }
  }
  return { batchItemFailures };
};
