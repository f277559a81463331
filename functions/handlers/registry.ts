/**
 * registry — keeps the mailbox registry in the state table (read by dispatch
 * every minute) in step with the mailbox parameters in SSM, so that dispatch
 * never lists SSM (docs/cost-model.md). Invoked by:
 *
 * - SSM's "Parameter Store Change" event (EventBridge, source `aws.ssm`) for a
 *   parameter under the mailbox path: that one mailbox is read again and
 *   registered, updated or removed, within seconds of `put-parameter`;
 * - `{"kind":"reconcile"}`, hourly and once after each deploy (and by hand:
 *   `aws lambda invoke`): every parameter's version is compared with the
 *   registry, and what differs is read again.
 *
 * Either way the registry writes what SSM holds at that moment (registry-sync.ts),
 * so events that arrive late, twice or not at all do no harm. A valid config
 * is also written sealed (AES-256-GCM under a KMS data key: sealed-config.ts)
 * for poll and deliver, which read no SSM.
 */
import { dataKeySource, kmsClient } from '../aws/config-keys.js';
import { mailboxParameters } from '../aws/mailbox-parameters.js';
import { type ReconcileResult, type RefreshOutcome, registrySync } from '../aws/registry-sync.js';
import { createAwsRuntime, handlerEnv, requireEnv } from '../aws/runtime.js';

const runtime = createAwsRuntime(handlerEnv(process.env));
const parameters = mailboxParameters(runtime.env.aws, runtime.env.mailboxPath);
const sync = registrySync({
  parameters,
  registry: { doc: runtime.clients.doc, table: runtime.env.tableName },
  logger: runtime.logger,
  dataKeys: dataKeySource(kmsClient(runtime.env.aws), requireEnv(runtime.env.configKeyArn, 'CONFIG_KEY_ARN')),
});

/** The parts of SSM's EventBridge event that are read (detail: name, operation, type). */
export interface ParameterChangeEvent {
  readonly source: 'aws.ssm';
  readonly 'detail-type': 'Parameter Store Change';
  readonly detail: { readonly name?: string; readonly operation?: string };
}

/** A change event, `{"kind":"reconcile"}`, or the deploy trigger's empty payload: told apart by their keys. */
export interface RegistryEvent {
  readonly source?: unknown;
  readonly kind?: unknown;
  readonly detail?: ParameterChangeEvent['detail'];
}

export type RegistryResult =
  | { readonly kind: 'refresh'; readonly mailbox: string; readonly outcome: RefreshOutcome }
  | ({ readonly kind: 'reconcile' } & ReconcileResult)
  | { readonly kind: 'ignored' };

export const handler = async (event: RegistryEvent = {}): Promise<RegistryResult> => {
  if (event.source === 'aws.ssm') {
    const detail = event.detail ?? {};
    const name = typeof detail.name === 'string' ? parameters.nameOf(detail.name) : undefined;
    if (name === undefined) {
      runtime.logger.warn('parameter change outside the mailbox path or with an unusable name: ignored', {
        parameter: detail.name,
        operation: detail.operation,
      });
      return { kind: 'ignored' };
    }
    const outcome = await sync.refresh(name);
    return { kind: 'refresh', mailbox: name, outcome };
  }
  // The hourly schedule and manual invocations send {"kind":"reconcile"}; the deploy trigger sends no payload.
  if (event.kind === 'reconcile' || Object.keys(event).length === 0) {
    const result = await sync.reconcile();
    runtime.logger.info('registry reconciled', { ...result });
    return { kind: 'reconcile', ...result };
  }
  runtime.logger.warn('registry event not understood: ignored', { keys: Object.keys(event).slice(0, 10) });
  return { kind: 'ignored' };
};
