/**
 * dispatch — every minute (EventBridge): reads the mailbox registry (one
 * eventually consistent Query of the state table, kept in step with SSM by the
 * registry function: mailbox-registry.ts), and sends one poll job per mailbox
 * that is due (this minute holds its slot, or it was never polled, and it is
 * not backing off: core/poll/schedule.ts), plus one delivery wake-up when
 * deliveries are due (retries are scheduled in the state store; this is what
 * wakes them). It reads nothing from SSM or KMS.
 *
 * A poll job is `{ mailbox, version }`: the name and the SSM parameter version
 * the registry holds, never the config (it holds passwords and webhook
 * secrets, and SQS messages are readable by whoever may receive from the
 * queue). Poll keeps configs by that version, so it reads one again only after
 * an edit.
 */
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { SendMessageBatchCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { listRegistry, type RegistryEntry } from '../aws/mailbox-registry.js';
import { createAwsRuntime, handlerEnv, requireQueue } from '../aws/runtime.js';
import { dispatchMinute, isPollDue } from '../core/poll/schedule.js';

const runtime = createAwsRuntime(handlerEnv(process.env));
const pollQueueUrl = requireQueue(runtime.env.pollQueueUrl, 'POLL_QUEUE_URL');
const deliveryQueueUrl = requireQueue(runtime.env.deliveryQueueUrl, 'DELIVERY_QUEUE_URL');
const metrics = new Metrics({ namespace: 'Pop3Bridge', serviceName: 'pop3-bridge' });

/** The scheduled event; only its `time` (the minute this run stands for) is read. */
export interface DispatchEvent {
  readonly time?: string;
}

export const handler = async (event?: DispatchEvent): Promise<{ dispatched: number; deliveriesDue: boolean }> => {
  const now = Date.now();
  const minute = dispatchMinute(event?.time, now);
  const registry = await listRegistry({ doc: runtime.clients.doc, table: runtime.env.tableName }, (pages) =>
    runtime.logger.warn('registry query stopped at the page limit: the rest are not dispatched', { pages }),
  );
  const mailboxes: RegistryEntry[] = [];
  let invalid = 0;
  for (const entry of registry) {
    if (entry.invalid === undefined) {
      mailboxes.push(entry);
      continue;
    }
    invalid += 1;
    // Every run, as before the registry: an operator sees the field until the parameter is fixed.
    runtime.logger.error('mailbox config problem: mailbox skipped', {
      mailbox: entry.name,
      parameter: `${runtime.env.mailboxPath}${entry.name}`,
      version: entry.version,
      path: entry.invalid.path,
      problem: entry.invalid.message,
    });
  }
  const states = new Map((await runtime.state.listMailboxStates()).map((s) => [s.mailbox, s]));
  const due = mailboxes.filter((m) => isPollDue(m, states.get(m.name), now, minute));
  for (let i = 0; i < due.length; i += 10) {
    const batch = due.slice(i, i + 10);
    const result = await runtime.sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: pollQueueUrl,
        Entries: batch.map((m, j) => ({
          Id: String(j),
          MessageBody: JSON.stringify({ mailbox: m.name, version: m.version }),
        })),
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
  metrics.addMetric('InvalidMailboxes', MetricUnit.Count, invalid);
  metrics.publishStoredMetrics();
  runtime.logger.info('dispatched', { mailboxes: mailboxes.length, invalid, due: due.length, deliveriesDue });
  return { dispatched: due.length, deliveriesDue };
};
