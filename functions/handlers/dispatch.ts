/**
 * dispatch — every minute (EventBridge): reads the mailboxes under the SSM
 * path, and sends one poll job per mailbox that is due (its interval has
 * passed and it is not backing off), plus one delivery wake-up when deliveries
 * are due (retries are scheduled in the state store; this is what wakes them).
 */
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { SendMessageBatchCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { createAwsRuntime, handlerEnv, requireQueue } from '../aws/runtime.js';
import type { MailboxConfig } from '../config/schema.js';
import type { MailboxState } from '../core/ports.js';

const runtime = createAwsRuntime(handlerEnv(process.env));
const pollQueueUrl = requireQueue(runtime.env.pollQueueUrl, 'POLL_QUEUE_URL');
const deliveryQueueUrl = requireQueue(runtime.env.deliveryQueueUrl, 'DELIVERY_QUEUE_URL');
const metrics = new Metrics({ namespace: 'Pop3Bridge', serviceName: 'pop3-bridge' });

/** dispatch runs once a minute: a mailbox due within the next 30 s goes now rather than a minute late. */
const SLACK_MS = 30_000;

export function isDue(mailbox: MailboxConfig, state: MailboxState | undefined, now: number): boolean {
  if (!mailbox.enabled) return false;
  if ((state?.nextPollAfter ?? 0) > now) return false;
  return (state?.lastPollAt ?? 0) + mailbox.pollIntervalSeconds * 1000 - SLACK_MS <= now;
}

export const handler = async (): Promise<{ dispatched: number; deliveriesDue: boolean }> => {
  const now = Date.now();
  const mailboxes = await runtime.mailboxes();
  const states = new Map((await runtime.state.listMailboxStates()).map((s) => [s.mailbox, s]));
  const due = mailboxes.filter((m) => isDue(m, states.get(m.name), now));
  for (let i = 0; i < due.length; i += 10) {
    const batch = due.slice(i, i + 10);
    const result = await runtime.sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: pollQueueUrl,
        Entries: batch.map((m, j) => ({ Id: String(j), MessageBody: JSON.stringify({ mailbox: m.name }) })),
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
