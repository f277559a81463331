/**
 * The deliver function's wiring on top of the shared AWS runtime: endpoints
 * read from each job's mailbox parameter, events built from S3 with presigned
 * links. Kept apart from runtime.ts so only the deliver bundle carries the
 * MIME parser.
 */
import type { Logger } from '../core/logger.js';
import { type DeliveryDeps, endpointOf } from '../delivery/delivery-engine.js';
import { eventSource } from '../delivery/event-source.js';
import type { AwsRuntime } from './runtime.js';

export function awsDeliveryDeps(runtime: AwsRuntime, logger: Logger): DeliveryDeps {
  return {
    state: runtime.state,
    endpointFor: async (mailboxName, id) => {
      const webhook = (await runtime.mailbox(mailboxName))?.webhooks.find((hook) => hook.id === id);
      return webhook && endpointOf(webhook);
    },
    eventFor: eventSource({
      store: runtime.store,
      state: runtime.state,
      links: runtime.store.linkSigner(runtime.env.linkTtlSeconds),
    }),
    allow: runtime.allow,
    logger,
  };
}
