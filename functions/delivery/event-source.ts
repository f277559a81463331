/**
 * Turns a delivery job into the event body the delivery engine sends: the
 * stored raw MIME parsed into an `email.received` event, links signed by the
 * mode's LinkSigner. The event's `timestamp` is when the bridge stored the
 * message, so every attempt and replay of one event has the same body apart
 * from freshly signed links. The body is the very string the builder measured
 * against the size cap: serialised once, not again here.
 */
import { BridgeError } from '../core/errors.js';
import type { DeliveryJob, RawStore, StateStore } from '../core/ports.js';
import { buildEventBody } from '../events/build-event.js';
import type { EventWithBody } from '../events/fit-event.js';
import type { LinkSigner } from '../events/link-signer.js';
import type { EmailReceivedEvent } from '../events/schema.js';
import type { BuiltEvent } from './delivery-engine.js';

export interface EventSourceDeps {
  readonly store: RawStore;
  readonly state: StateStore;
  readonly links: LinkSigner;
  /** Local mode's `links.inlineMaxBytes` (attachments inlined as base64); 0 or absent: none. */
  readonly inlineMaxBytes?: number;
}

export async function eventForJob(job: DeliveryJob, deps: EventSourceDeps): Promise<EmailReceivedEvent> {
  return (await eventBodyForJob(job, deps)).event;
}

export async function eventBodyForJob(job: DeliveryJob, deps: EventSourceDeps): Promise<EventWithBody> {
  const record = (await deps.state.getMessages(job.mailbox, [job.uid])).get(job.uid);
  if (!record) {
    throw new BridgeError('STORE_ERR_NOT_FOUND', 'no record for the message of this delivery', {
      context: { mailbox: job.mailbox, uid: job.uid },
    });
  }
  return buildEventBody(
    { mailbox: job.mailbox, uid: job.uid, rawKey: record.rawKey, rawSha256: record.sha256, rawSize: record.size },
    {
      store: deps.store,
      links: deps.links,
      now: () => record.fetchedAt,
      ...(deps.inlineMaxBytes !== undefined && { inlineMaxBytes: deps.inlineMaxBytes }),
    },
  );
}

export function eventSource(deps: EventSourceDeps): (job: DeliveryJob) => Promise<BuiltEvent> {
  return async (job) => {
    const { event, body } = await eventBodyForJob(job, deps);
    const { from, to, cc, subject } = event.data;
    return { body, filterSubject: { from, to, cc, subject } };
  };
}
