/**
 * The deliver function's wiring on top of the shared AWS runtime: endpoints
 * read from each job's mailbox config (the sealed copy in the state table,
 * mailbox-configs.ts: no SSM), events built from S3 with presigned
 * links, the SSRF allow-list. Kept apart from runtime.ts so only the deliver
 * bundle carries the MIME parser.
 */
import type { Logger } from '../core/logger.js';
import { type DeliveryDeps, endpointOf } from '../delivery/delivery-engine.js';
import { eventSource } from '../delivery/event-source.js';
import { AllowList } from '../delivery/ssrf-guard.js';
import { createMailboxConfigs } from './mailbox-configs.js';
import type { AwsRuntime } from './runtime.js';
import { S3RawStore } from './s3-raw-store.js';

export interface AwsDeliveryRuntime {
  deliveryDeps(logger: Logger): DeliveryDeps;
}

/** Call once per container (module scope): store, link signer and allow-list are reused across invocations. */
export function createAwsDeliveryRuntime(runtime: AwsRuntime): AwsDeliveryRuntime {
  const store = new S3RawStore(runtime.clients.s3, { bucket: runtime.env.bucketName });
  const allow = new AllowList(runtime.env.webhookAllowList);
  const configs = createMailboxConfigs(runtime);
  const eventFor = eventSource({
    store,
    state: runtime.state,
    links: store.linkSigner(runtime.env.linkTtlSeconds),
    ...(runtime.env.maxEventBodyBytes !== undefined && { maxBodyBytes: runtime.env.maxEventBodyBytes }),
  });
  return {
    deliveryDeps(logger) {
      return {
        state: runtime.state,
        endpointFor: async (mailboxName, id) => {
          const webhook = (await configs.mailbox(mailboxName))?.webhooks.find((hook) => hook.id === id);
          return webhook && endpointOf(webhook);
        },
        eventFor,
        allow,
        logger,
      };
    },
  };
}
