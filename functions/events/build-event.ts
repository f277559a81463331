/**
 * `buildEvent`: the `email.received` event of one stored raw message.
 *
 * Reads the raw object back from the store and parses it as a stream
 * (parse-mime.ts), storing attachments content-addressed on the way; then
 * assembles the event from the parsed headers and bodies, links every stored
 * object through the LinkSigner, and keeps the JSON body under
 * `maxBodyBytes` (fit-event.ts). Shape and field meanings: docs/webhooks.md.
 *
 * Never throws for bad input: malformed MIME, unknown charsets, a parse that
 * times out or an attachment that cannot be stored give an event with what
 * could be parsed and `parseErrors`. It rejects only when the raw object
 * cannot be read (STORE_ERR_NOT_FOUND / STORE_ERR_IO, as BridgeErrors) or the
 * LinkSigner fails (its own error, rethrown untouched: a signer that cannot
 * sign is a configuration or credentials fault, not a property of the message).
 */
import type { Readable } from 'node:stream';
import type { Headers, HeaderValue } from 'mailparser';
import { BridgeError, isBridgeError } from '../core/errors.js';
import type { RawStore } from '../core/ports.js';
import { type EventWithBody, fitEventBody } from './fit-event.js';
import { capString, headerList, isAutoReply, parseDateHeader, unfoldHeaderLines, withoutComments } from './headers.js';
import { inlineAttachments } from './inline-attachments.js';
import { type EventLimits, FIELD_CAPS, resolveEventLimits } from './limits.js';
import type { LinkSigner } from './link-signer.js';
import { IssueList, parseMime } from './parse-mime.js';
import { extractReplyText } from './reply-text.js';
import type { EmailAddress, EmailReceivedEvent, EventAttachment, EventTruncation } from './schema.js';

export interface BuildEventInput {
  readonly mailbox: string;
  readonly uid: string;
  readonly rawKey: string;
  readonly rawSha256: string;
  readonly rawSize: number;
}

export interface BuildEventDeps {
  readonly store: RawStore;
  readonly links: LinkSigner;
  readonly limits?: Partial<EventLimits>;
  readonly now?: () => number;
  /**
   * Attachments of at most this many decoded bytes also carry their content
   * as base64 (`content`), room in the body permitting; 0 or absent: none.
   * Local mode only (config `links.inlineMaxBytes`): AWS mode's links work anywhere.
   */
  readonly inlineMaxBytes?: number;
}

export async function buildEvent(input: BuildEventInput, deps: BuildEventDeps): Promise<EmailReceivedEvent> {
  return (await buildEventBody(input, deps)).event;
}

/** `buildEvent`, with the JSON body it measured: the delivery engine sends that string as is. */
export async function buildEventBody(input: BuildEventInput, deps: BuildEventDeps): Promise<BuiltEventBody> {
  const limits = resolveEventLimits(deps.limits);
  const now = deps.now ?? Date.now;

  let source: Readable;
  try {
    source = await deps.store.get(input.rawKey);
  } catch (error) {
    if (isBridgeError(error)) throw error;
    throw new BridgeError('STORE_ERR_IO', 'could not open the raw message', {
      cause: error,
      context: { key: input.rawKey },
    });
  }
  const parsed = await parseMime(source, deps.store, limits);

  const issues = new IssueList();
  for (const issue of parsed.issues) issues.add(issue.code, issue.message);
  if (parsed.raw.sha256 !== null && (parsed.raw.sha256 !== input.rawSha256 || parsed.raw.bytes !== input.rawSize)) {
    issues.add(
      'EVENT_ERR_RAW_MISMATCH',
      `the raw object has ${parsed.raw.bytes} bytes with SHA-256 ${parsed.raw.sha256}, the record says ${input.rawSize} and ${input.rawSha256}`,
    );
  }

  const truncated: EventTruncation = {
    text: false,
    html: false,
    replyText: false,
    subject: false,
    headers: false,
    addresses: false,
    references: false,
    attachments: parsed.attachmentsOmitted > 0,
  };

  const rawHeaders = unfoldHeaderLines(parsed.headerLines);
  const headers = headerList(rawHeaders, limits.maxHeaders, limits.maxHeaderValueChars);
  truncated.headers = headers.truncated;

  const date = parseDateHeader(rawHeaders);
  if (date === 'invalid') issues.add('EVENT_ERR_DATE', 'the Date header could not be parsed');

  const subject = stringHeader(parsed.headers, 'subject');
  const cappedSubject = subject === null ? null : capString(subject, FIELD_CAPS.subject);
  if (cappedSubject?.cut === true) truncated.subject = true;

  const idHeader = (name: string): string | null => {
    const value = messageIdsIn(rawHeaders, name)[0] ?? stringHeader(parsed.headers, name);
    if (value !== null && value.length > FIELD_CAPS.messageId) {
      truncated.headers = true;
      return null;
    }
    return value;
  };

  const addresses = (name: string): EmailAddress[] => {
    const result = addressList(parsed.headers.get(name), limits.maxAddresses);
    if (result.truncated) truncated.addresses = true;
    return result.list;
  };

  const idsInReferences = messageIdsIn(rawHeaders, 'references');
  const references = idsInReferences.length > 0 ? idsInReferences : referenceList(parsed.headers.get('references'));
  if (references.length > limits.maxReferences || references.some((r) => r.length > FIELD_CAPS.messageId)) {
    truncated.references = true;
  }

  const attachments: EventAttachment[] = [];
  for (const attachment of parsed.attachments) {
    const meta = {
      contentType: attachment.contentType,
      ...(attachment.filename !== null && { filename: attachment.filename }),
      source: input.rawKey,
    };
    attachments.push({
      filename: attachment.filename,
      contentType: attachment.contentType,
      size: attachment.size,
      sha256: attachment.sha256,
      contentId: attachment.contentId,
      disposition: attachment.disposition,
      url: attachment.key === null ? null : await deps.links.linkFor(attachment.key, meta),
    });
  }

  const contentType = parsed.headers.get('content-type');
  const rootType =
    typeof contentType === 'object' &&
    contentType !== null &&
    'value' in contentType &&
    typeof contentType.value === 'string'
      ? contentType.value.toLowerCase()
      : undefined;

  const event: EmailReceivedEvent = {
    type: 'email.received',
    timestamp: new Date(now()).toISOString(),
    data: {
      mailbox: input.mailbox,
      uid: input.uid,
      messageId: idHeader('message-id'),
      date: date === 'invalid' ? null : date,
      subject: cappedSubject?.value ?? null,
      from: addresses('from'),
      to: addresses('to'),
      cc: addresses('cc'),
      bcc: addresses('bcc'),
      replyTo: addresses('reply-to'),
      inReplyTo: idHeader('in-reply-to'),
      references: references.filter((r) => r.length <= FIELD_CAPS.messageId).slice(-limits.maxReferences),
      headers: headers.list,
      text: parsed.text,
      textUrl: null,
      html: parsed.html,
      htmlUrl: null,
      replyText: parsed.text === null ? null : extractReplyText(parsed.text),
      autoReply: isAutoReply(rawHeaders, rootType),
      attachments,
      raw: {
        size: input.rawSize,
        sha256: input.rawSha256,
        url: await deps.links.linkFor(input.rawKey, { filename: 'message.eml', contentType: 'message/rfc822' }),
      },
      truncated,
      parseErrors: [],
    },
  };
  event.data.parseErrors = issues.items.map((i) => ({ code: i.code, message: i.message }));
  const fitted = await fitEventBody(event, {
    store: deps.store,
    links: deps.links,
    maxBodyBytes: limits.maxBodyBytes,
    rawKey: input.rawKey,
  });
  const keys = parsed.attachments.map((a) => a.key);
  const inlined = await inlineAttachments(fitted, keys, {
    store: deps.store,
    maxBodyBytes: limits.maxBodyBytes,
    inlineMaxBytes: deps.inlineMaxBytes ?? 0,
  });
  const everyAddress = (name: string) => addressList(parsed.headers.get(name), FILTER_ADDRESSES_MAX).list;
  return {
    ...inlined,
    matchable: { from: everyAddress('from'), to: everyAddress('to'), cc: everyAddress('cc'), subject },
  };
}

/**
 * Addresses per header that endpoint filters match against: the message's own lists, up to this many each, not
 * the event's, which are capped (`maxAddresses`, 100) and may be halved to fit the body. A `to` filter for the
 * 110th recipient used to record the message as filtered for that endpoint, for good.
 */
const FILTER_ADDRESSES_MAX = 10_000;

/** What endpoint filters look at (functions/delivery/filters.ts), from the message rather than the event. */
export interface MatchableFields {
  readonly from: ReadonlyArray<EmailAddress>;
  readonly to: ReadonlyArray<EmailAddress>;
  readonly cc: ReadonlyArray<EmailAddress>;
  /** The whole subject, not the event's capped one. */
  readonly subject: string | null;
}

/** An event, its JSON body, and what filters match against. */
export interface BuiltEventBody extends EventWithBody {
  readonly matchable: MatchableFields;
}

function stringHeader(headers: Headers, name: string): string | null {
  const value = headers.get(name);
  const first = Array.isArray(value) ? value[0] : value;
  return typeof first === 'string' ? first : null;
}

/**
 * The msg-ids (RFC 5322 §3.6.4) of the first `name` header, each `<…>` with comments and folding whitespace
 * removed: `<a@b> (added by relay)`. mailparser only adds a missing `<` or `>` to the whole value, which gave
 * `<a@b> (added by relay)>`, so a receiver threading by id missed the message; and it split References at
 * spaces, so a comment became an id of its own. Empty when the header has no `<…>` at all (then mailparser's
 * value, which adds the brackets a broken sender left out, is used).
 */
function messageIdsIn(headers: ReadonlyArray<{ key: string; value: string }>, name: string): string[] {
  const raw = headers.find((h) => h.key === name)?.value;
  if (raw === undefined) return [];
  const ids: string[] = [];
  for (const match of withoutComments(raw).matchAll(/<([^<>]*)>/g)) {
    const id = (match[1] ?? '').replace(/\s+/g, '');
    if (id !== '') ids.push(`<${id}>`);
  }
  return ids;
}

function referenceList(value: HeaderValue | undefined): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === 'string');
  return [];
}

interface ParsedAddress {
  readonly name?: string;
  readonly address?: string;
  readonly group?: ReadonlyArray<ParsedAddress>;
}

/** The addresses of one header (or of each of its occurrences), groups flattened, capped in count and length. */
export function addressList(value: HeaderValue | undefined, max: number): { list: EmailAddress[]; truncated: boolean } {
  const objects: unknown[] = value === undefined ? [] : Array.isArray(value) ? value : [value];
  const stack: ParsedAddress[] = [];
  for (let i = objects.length - 1; i >= 0; i -= 1) {
    const object = objects[i];
    if (typeof object === 'object' && object !== null && 'value' in object && Array.isArray(object.value)) {
      for (let j = object.value.length - 1; j >= 0; j -= 1) stack.push(object.value[j] as ParsedAddress);
    }
  }
  const list: EmailAddress[] = [];
  let truncated = false;
  while (stack.length > 0) {
    const entry = stack.pop()!;
    if (entry.group !== undefined) {
      for (let j = entry.group.length - 1; j >= 0; j -= 1) stack.push(entry.group[j]!);
      continue;
    }
    const address = capString(entry.address ?? '', FIELD_CAPS.addressPart);
    const name = capString(entry.name ?? '', FIELD_CAPS.addressPart);
    if (address.value === '' && name.value === '') continue;
    if (list.length >= max) {
      truncated = true;
      break;
    }
    if (address.cut || name.cut) truncated = true;
    list.push({ address: address.value, name: name.value });
  }
  return { list, truncated };
}
