/**
 * Alarms (dead-letter depth, function errors, failing mailboxes, a poll backlog, dispatch stopping) to an optional
 * SNS topic, and one dashboard of the per-mailbox metrics the handlers emit with
 * Powertools Metrics (EMF) in the `Pop3Bridge` namespace.
 */
import { Duration, Stack } from 'aws-cdk-lib';
import {
  Alarm,
  AlarmStatusWidget,
  ComparisonOperator,
  Dashboard,
  GraphWidget,
  type IMetric,
  Metric,
  SearchExpression,
  SingleValueWidget,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { PolicyStatement, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import { type ITopic, Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { type BridgeFunction, METRICS_NAMESPACE, SERVICE_NAME } from './bridge-function.js';

/** Metric names the handlers emit; each per-mailbox metric has exactly the dimensions `service` and `Mailbox`. */
export const METRIC = {
  messagesFetched: 'MessagesFetched',
  bytesFetched: 'BytesFetched',
  deliveryLatencyMs: 'DeliveryLatencyMs',
  deliveryFailures: 'DeliveryFailures',
  /** Emitted by dispatch on every run (0 when none) with only the `service` dimension. */
  failingMailboxes: 'FailingMailboxes',
} as const;

export const MAILBOX_DIMENSION = 'Mailbox';

export interface MonitoringProps {
  readonly functions: Readonly<Record<string, BridgeFunction>>;
  readonly queues: Readonly<Record<string, IQueue>>;
  readonly deadLetterQueues: Readonly<Record<string, IQueue>>;
  /**
   * The poll queue and the age its oldest job may reach while polls keep up (alarm `PollBacklog`): with a
   * concurrency set too low for the mailboxes and their servers, jobs wait longer each minute.
   */
  readonly pollBacklog?: { readonly queue: IQueue; readonly maxAge: Duration };
  /**
   * The scheduled function everything else follows (dispatch) and how long it may go without an invocation
   * (alarm `DispatchStopped`): a disabled rule, a lost invoke permission or throttling stop every poll silently.
   */
  readonly schedule?: { readonly name: string; readonly fn: BridgeFunction; readonly maxGap: Duration };
  /** Existing topic for alarm notifications. */
  readonly alarmTopicArn?: string;
  /** Subscribes this address (to the given topic, or to a topic the stack creates). */
  readonly alarmEmail?: string;
}

export class Monitoring extends Construct {
  readonly alarms: Alarm[] = [];
  readonly topic: ITopic | undefined;
  readonly dashboard: Dashboard;

  constructor(scope: Construct, id: string, props: MonitoringProps) {
    super(scope, id);
    this.topic = this.alarmTopic(props);

    for (const [name, dlq] of Object.entries(props.deadLetterQueues)) {
      this.alarm(`${name}DeadLetters`, {
        metric: dlq.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1), statistic: 'Maximum' }),
        threshold: 0,
        comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
        description: `pop3-bridge: messages in the ${name} dead-letter queue (jobs that failed every retry). Inspect, fix, then redrive.`,
      });
    }
    for (const [name, fn] of Object.entries(props.functions)) {
      this.alarm(`${name}Errors`, {
        metric: fn.fn.metricErrors({ period: Duration.minutes(5), statistic: 'Sum' }),
        threshold: 0,
        comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
        description: `pop3-bridge: the ${name} function failed (threw or timed out) in the last 5 minutes.`,
      });
    }
    if (props.schedule !== undefined) {
      const { name, fn, maxGap } = props.schedule;
      // Lambda publishes no Invocations data for a period without one: missing data is the signal here.
      this.alarm(`${name}Stopped`, {
        metric: fn.fn.metricInvocations({ period: Duration.minutes(5), statistic: 'Sum' }),
        threshold: 1,
        comparisonOperator: ComparisonOperator.LESS_THAN_THRESHOLD,
        evaluationPeriods: Math.max(1, Math.round(maxGap.toMinutes() / 5)),
        treatMissingData: TreatMissingData.BREACHING,
        description: `pop3-bridge: the ${name} function has not run for ${maxGap.toMinutes()} minutes, so no mailbox is polled. Check its EventBridge rule, its throttles and the account's concurrency.`,
      });
    }
    const failing = failingMailboxesMetric();
    this.alarm('FailingMailboxes', {
      metric: failing,
      threshold: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      description:
        'pop3-bridge: at least one mailbox is marked failing ([AUTH] or [SYS/PERM]); it is polled only at the slow retry rate until its config is fixed.',
    });

    if (props.pollBacklog !== undefined) {
      this.alarm('PollBacklog', {
        metric: props.pollBacklog.queue.metricApproximateAgeOfOldestMessage({
          period: Duration.minutes(5),
          statistic: 'Maximum',
        }),
        threshold: props.pollBacklog.maxAge.toSeconds(),
        comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
        description:
          'pop3-bridge: poll jobs wait longer than any retry explains: polls are falling behind. Raise pollConcurrency (docs/cost-model.md).',
      });
    }

    const perMailbox = (metric: string, statistic: string, label: string): IMetric =>
      new SearchExpression({
        expression: `SEARCH('{${METRICS_NAMESPACE},${MAILBOX_DIMENSION},service} MetricName="${metric}"', '${statistic}', 300)`,
        label,
        period: Duration.minutes(5),
      });
    const fns = Object.entries(props.functions);
    this.dashboard = new Dashboard(this, 'Dashboard', {
      dashboardName: `${Stack.of(this).stackName}-pop3-bridge`,
      defaultInterval: Duration.hours(24),
    });
    this.dashboard.addWidgets(
      new GraphWidget({
        title: 'Messages fetched per mailbox',
        left: [perMailbox(METRIC.messagesFetched, 'Sum', '')],
        width: 12,
      }),
      new GraphWidget({
        title: 'Bytes fetched per mailbox',
        left: [perMailbox(METRIC.bytesFetched, 'Sum', '')],
        width: 12,
      }),
    );
    this.dashboard.addWidgets(
      new GraphWidget({
        title: 'Delivery latency per mailbox (p95, ms)',
        left: [perMailbox(METRIC.deliveryLatencyMs, 'p95', '')],
        width: 12,
      }),
      new GraphWidget({
        title: 'Delivery failures per mailbox',
        left: [perMailbox(METRIC.deliveryFailures, 'Sum', '')],
        width: 12,
      }),
    );
    this.dashboard.addWidgets(
      new SingleValueWidget({ title: 'Failing mailboxes', metrics: [failing], width: 6 }),
      new GraphWidget({
        title: 'Queue depth (visible messages)',
        left: [...Object.entries(props.queues), ...Object.entries(props.deadLetterQueues)].map(([name, q]) =>
          q.metricApproximateNumberOfMessagesVisible({
            label: name,
            statistic: 'Maximum',
            period: Duration.minutes(1),
          }),
        ),
        width: 9,
      }),
      new GraphWidget({
        title: 'Function errors and throttles',
        left: fns.map(([name, f]) => f.fn.metricErrors({ label: `${name} errors`, period: Duration.minutes(5) })),
        right: fns.map(([name, f]) =>
          f.fn.metricThrottles({ label: `${name} throttles`, period: Duration.minutes(5) }),
        ),
        width: 9,
      }),
    );
    this.dashboard.addWidgets(
      new GraphWidget({
        title: 'Function duration (p95, ms)',
        left: fns.map(([name, f]) =>
          f.fn.metricDuration({ label: name, statistic: 'p95', period: Duration.minutes(5) }),
        ),
        width: 12,
      }),
      new AlarmStatusWidget({ title: 'Alarms', alarms: this.alarms, width: 12 }),
    );
  }

  private alarm(
    id: string,
    o: {
      metric: IMetric;
      threshold: number;
      comparisonOperator: ComparisonOperator;
      description: string;
      evaluationPeriods?: number;
      treatMissingData?: TreatMissingData;
    },
  ): void {
    const alarm = new Alarm(this, id, {
      metric: o.metric,
      threshold: o.threshold,
      comparisonOperator: o.comparisonOperator,
      evaluationPeriods: o.evaluationPeriods ?? 1,
      treatMissingData: o.treatMissingData ?? TreatMissingData.NOT_BREACHING,
      alarmDescription: o.description,
    });
    if (this.topic !== undefined) {
      alarm.addAlarmAction(new SnsAction(this.topic));
      alarm.addOkAction(new SnsAction(this.topic));
    }
    this.alarms.push(alarm);
  }

  private alarmTopic(props: MonitoringProps): ITopic | undefined {
    let topic: ITopic | undefined;
    if (props.alarmTopicArn !== undefined) {
      topic = Topic.fromTopicArn(this, 'AlarmTopic', props.alarmTopicArn);
    } else if (props.alarmEmail !== undefined) {
      // CloudWatch can publish to an encrypted topic only if the key lets it: the AWS-managed
      // aws/sns key does not, so the topic gets its own key.
      const key = new Key(this, 'AlarmTopicKey', {
        description: 'pop3-bridge: encrypts the alarm notification topic',
        enableKeyRotation: true,
      });
      key.addToResourcePolicy(
        new PolicyStatement({
          sid: 'CloudWatchAlarmsPublish',
          principals: [new ServicePrincipal('cloudwatch.amazonaws.com')],
          actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
          resources: ['*'],
          conditions: { StringEquals: { 'aws:SourceAccount': Stack.of(this).account } },
        }),
      );
      topic = new Topic(this, 'AlarmTopic', {
        displayName: 'pop3-bridge alarms',
        masterKey: key,
        enforceSSL: true,
      });
    }
    if (topic !== undefined && props.alarmEmail !== undefined) {
      topic.addSubscription(new EmailSubscription(props.alarmEmail));
    }
    return topic;
  }
}

export function failingMailboxesMetric(): Metric {
  return new Metric({
    namespace: METRICS_NAMESPACE,
    metricName: METRIC.failingMailboxes,
    dimensionsMap: { service: SERVICE_NAME },
    statistic: 'Maximum',
    period: Duration.minutes(5),
  });
}
