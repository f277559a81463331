/**
 * deliver — woken through the delivery queue (by poll after storing mail, and
 * by dispatch while retries are due): sends due deliveries, claimed from the
 * state store so parallel invocations never send one job twice, until none is
 * due or the invocation's time runs short. The retry schedule lives in the
 * state store (nextAttemptAt), so the queue's messages are only wake-ups.
 */
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { createAwsDeliveryRuntime } from '../aws/delivery-runtime.js';
import { createAwsRuntime, handlerEnv } from '../aws/runtime.js';
import { deliverDue } from '../delivery/delivery-engine.js';
import { TimedOutEndpoints } from '../delivery/timed-out-endpoints.js';
import type { LambdaContext, SqsBatchResponse, SqsEvent } from './lambda-types.js';

const runtime = createAwsRuntime(handlerEnv(process.env));
const delivery = createAwsDeliveryRuntime(runtime);
const metrics = new Metrics({ namespace: 'Pop3Bridge', serviceName: 'pop3-bridge' });

/**
 * Stop claiming new work when less than this is left: one delivery may take its 15 s timeout. The engine itself
 * starts no request that could outlast the invocation (`deadline`): it hands such a job back for the next one.
 */
const SAFETY_MS = 30_000;

export const handler = async (_event: SqsEvent, context: LambdaContext): Promise<SqsBatchResponse> => {
  try {
    const deps = delivery.deliveryDeps(runtime.logger);
    const withMetrics = {
      ...deps,
      onOutcome: (job: { mailbox: string; createdAt: number }, outcome: string) => {
        const metric = metrics.singleMetric();
        metric.addDimension('Mailbox', job.mailbox);
        if (outcome === 'delivered')
          metric.addMetric('DeliveryLatencyMs', MetricUnit.Milliseconds, Date.now() - job.createdAt);
        else if (outcome === 'retrying' || outcome === 'dead')
          metric.addMetric('DeliveryFailures', MetricUnit.Count, 1);
      },
    };
    // An endpoint that timed out is left alone for the rest of the invocation (timed-out-endpoints.ts says why):
    // a receiver that never answers would otherwise keep the function running until its time is short. Its jobs
    // stay due, and dispatch wakes the function again while retries are due.
    const timedOut = new TimedOutEndpoints();
    for (let round = 0; round < 100 && context.getRemainingTimeInMillis() > SAFETY_MS; round += 1) {
      const result = await deliverDue(withMetrics, {
        limit: 25,
        deadline: Date.now() + context.getRemainingTimeInMillis(),
        ...timedOut.roundOptions(),
      });
      if (result.attempted === 0) break;
    }
  } catch (error) {
    runtime.logger.error('delivery round failed; SQS will wake us again', { error });
    // Thrown, not every record returned as a batch item failure: SQS retries the batch either way, but only a
    // thrown error counts in AWS/Lambda Errors, which the DeliverErrors alarm watches. Returned, a deliver that
    // could not reach its table or bucket failed with no alarm until the delivery DLQ's, hours later.
    throw error;
  }
  return { batchItemFailures: [] };
};
