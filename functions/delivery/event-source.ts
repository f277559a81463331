/**
 * Turns a delivery job into the event body the delivery engine sends: the
 * stored raw MIME parsed into an `email.received` event, links signed by the
 * mode's LinkSigner. The event's `timestamp` is when the bridge stored the
 * message, so every attempt and replay of one event has the same body apart
 * from freshly signed links.
 */
import { BridgeError } from '../core/errors.js';
import type { DeliveryJob, RawStore, StateStore } from '../core/ports.js';
import { buildEvent } from '../events/build-event.js';
import type { LinkSigner } from '../events/link-signer.js';
import type { EmailReceivedEvent } from '../events/schema.js';
import type { BuiltEvent } from './delivery-engine.js';

export async function eventForJob(
  job: DeliveryJob,
  deps: { store: RawStore; state: StateStore; links: LinkSigner },
): Promise<EmailReceivedEvent> {
  const record = (await deps.state.getMessages(job.mailbox, [job.uid])).get(job.uid);
  if (!record) {
    throw new BridgeError('STORE_ERR_NOT_FOUND', 'no record for the message of this delivery', {
      context: { mailbox: job.mailbox, uid: job.uid },
    });
  }
  return buildEvent(
    { mailbox: job.mailbox, uid: job.uid, rawKey: record.rawKey, rawSha256: record.sha256, rawSize: record.size },
    { store: deps.store, links: deps.links, now: () => record.fetchedAt },
  );
}

export function eventSource(deps: {
  store: RawStore;
  state: StateStore;
  links: LinkSigner;
}): (job: DeliveryJob) => Promise<BuiltEvent> {
  return async (job) => {
    const event = await eventForJob(job, deps);
    const { from, to, cc, subject } = event.data;
    return { body: JSON.stringify(event), filterSubject: { from, to, cc, subject } };
  };
}
