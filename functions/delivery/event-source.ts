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
import { type BuildEventInput, type BuiltEventBody, buildEventBody } from '../events/build-event.js';
import type { LinkSigner } from '../events/link-signer.js';
import type { EmailReceivedEvent } from '../events/schema.js';
import type { BuiltEvent } from './delivery-engine.js';
import type { FilterSubject } from './filters.js';

export interface EventSourceDeps {
  readonly store: RawStore;
  readonly state: StateStore;
  readonly links: LinkSigner;
  /** Local mode's `links.inlineMaxBytes` (attachments inlined as base64); 0 or absent: none. */
  readonly inlineMaxBytes?: number;
  /** The body cap (`events.maxBodyBytes`, the stack's `maxEventBodyBytes`); absent: the default 256 KiB. */
  readonly maxBodyBytes?: number;
}

export async function eventForJob(job: DeliveryJob, deps: EventSourceDeps): Promise<EmailReceivedEvent> {
  return (await eventBodyForJob(job, deps)).event;
}

/** What building a job's event needs from the state: the record's raw object, and when it was stored. */
export interface EventRequest {
  readonly input: BuildEventInput;
  /** The event's `timestamp`: when the bridge stored the message. */
  readonly storedAt: number;
}

export async function eventRequestFor(job: DeliveryJob, state: StateStore): Promise<EventRequest> {
  const record = (await state.getMessages(job.mailbox, [job.uid])).get(job.uid);
  if (!record) {
    throw new BridgeError('STORE_ERR_NOT_FOUND', 'no record for the message of this delivery', {
      context: { mailbox: job.mailbox, uid: job.uid },
    });
  }
  return {
    input: {
      mailbox: job.mailbox,
      uid: job.uid,
      rawKey: record.rawKey,
      rawSha256: record.sha256,
      rawSize: record.size,
    },
    storedAt: record.fetchedAt,
  };
}

export async function eventBodyForJob(job: DeliveryJob, deps: EventSourceDeps): Promise<BuiltEventBody> {
  const { input, storedAt } = await eventRequestFor(job, deps.state);
  return buildEventBody(input, {
    store: deps.store,
    links: deps.links,
    now: () => storedAt,
    ...(deps.inlineMaxBytes !== undefined && { inlineMaxBytes: deps.inlineMaxBytes }),
    ...(deps.maxBodyBytes !== undefined && { limits: { maxBodyBytes: deps.maxBodyBytes } }),
  });
}

const utf8 = new TextEncoder();

/**
 * The body and the fields endpoint filters look at: all the delivery engine keeps of an event.
 *
 * The body is encoded to UTF-8 here, once: signing and sending then use the bytes (each would otherwise
 * encode the string again). Local mode's event workers hand the main thread the string instead, and say why
 * (event-worker.ts).
 */
export function builtEventOf(built: BuiltEventBody): BuiltEvent & { readonly body: Uint8Array } {
  return { body: utf8.encode(built.body), filterSubject: filterSubjectOf(built) };
}

/** What endpoint filters look at: the message's own address lists and subject, not the event's capped ones. */
export function filterSubjectOf(built: BuiltEventBody): FilterSubject {
  return built.matchable;
}

export function eventSource(deps: EventSourceDeps): (job: DeliveryJob) => Promise<BuiltEvent> {
  return async (job) => builtEventOf(await eventBodyForJob(job, deps));
}
