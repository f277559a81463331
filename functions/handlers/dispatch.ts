/**
 * dispatch — every minute (EventBridge): reads the mailboxes under the SSM
 * path, and sends one poll job per mailbox that is due (this minute holds its
 * slot, or it was never polled, and it is not backing off:
 * core/poll/schedule.ts), plus one delivery wake-up when deliveries are due
 * (retries are scheduled in the state store; this is what wakes them).
 *
 * A poll job is `{ mailbox, version }`: the name and the SSM parameter version
 * dispatch read, never the config (it holds passwords and webhook secrets, and
 * SQS messages are readable by whoever may receive from the queue). Poll keeps
 * configs by that version, so it goes back to SSM only after an edit.
 */
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { SendMessageBatchCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { createAwsRuntime, handlerEnv, type MailboxListing, requireQueue } from '../aws/runtime.js';
import { dispatchMinute, isPollDue } from '../core/poll/schedule.js';

const runtime = createAwsRuntime(handlerEnv(process.env));
const pollQueueUrl = requireQueue(runtime.env.pollQueueUrl, 'POLL_QUEUE_URL');
const deliveryQueueUrl = requireQueue(runtime.env.deliveryQueueUrl, 'DELIVERY_QUEUE_URL');
const metrics = new Metrics({ namespace: 'Pop3Bridge', serviceName: 'pop3-bridge' });

/** The poll job for `name`; without a version (a config whose name is not its parameter's) poll reads it as before. */
function pollJob(name: string, listing: MailboxListing): { mailbox: string; version?: number } {
  const version = listing.versionOf(name);
  return version === undefined ? { mailbox: name } : { mailbox: name, version };
}

/** The scheduled event; only its `time` (the minute this run stands for) is read. */
export interface DispatchEvent {
  readonly time?: string;
}

export const handler = async (event?: DispatchEvent): Promise<{ dispatched: number; deliveriesDue: boolean }> => {
  const now = Date.now();
  const minute = dispatchMinute(event?.time, now);
  const listing = await runtime.listMailboxes();
  const { mailboxes } = listing;
  const states = new Map((await runtime.state.listMailboxStates()).map((s) => [s.mailbox, s]));
  const due = mailboxes.filter((m) => isPollDue(m, states.get(m.name), now, minute));
  for (let i = 0; i < due.length; i += 10) {
    const batch = due.slice(i, i + 10);
    const result = await runtime.sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: pollQueueUrl,
        Entries: batch.map((m, j) => ({ Id: String(j), MessageBody: JSON.stringify(pollJob(m.name, listing)) })),
      }),
    );
    for (const failed of result.Failed ?? []) {
      runtime.logger.error('could not queue a poll job', {
        mailbox: batch[Number(failed.Id)]?.name,
        code: failed.Code,
      });
    }
  }
  const deliveriesDue = (await runtime.state.listDueDeliveries(now, 1)).length > 0;
  if (deliveriesDue) {
    await runtime.sqs.send(
      new SendMessageCommand({ QueueUrl: deliveryQueueUrl, MessageBody: JSON.stringify({ kind: 'deliver-due' }) }),
    );
  }
  metrics.addMetric('FailingMailboxes', MetricUnit.Count, [...states.values()].filter((s) => s.failing).length);
  metrics.publishStoredMetrics();
  runtime.logger.info('dispatched', { mailboxes: mailboxes.length, due: due.length, deliveriesDue });
  return { dispatched: due.length, deliveriesDue };
};
