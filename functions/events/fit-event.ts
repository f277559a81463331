/**
 * Keeps an event's JSON body (UTF-8 bytes of `JSON.stringify(event)`) at or
 * under `maxBodyBytes`. Steps, each taken only while the body is still too
 * large, in this order:
 *
 * 1. the larger of `html` and `text`, then the other, is stored as an
 *    'attachment' object (UTF-8) and replaced by a link (`htmlUrl`/`textUrl`;
 *    the field becomes null and `truncated.html`/`truncated.text` true);
 *    when storing fails, the field is null, its link too, and the parse errors
 *    say EVENT_ERR_BODY_STORE;
 * 2. `replyText` becomes null;
 * 3. `headers` is halved, repeatedly;
 * 4. `attachments` is halved (the first ones kept);
 * 5. the longest address list is halved, repeatedly;
 * 6. `references` is halved (the most recent kept);
 * 7. `parseErrors` is cut to its first three.
 *
 * Every step sets its `truncated` flag. With the fixed caps of single fields
 * (limits.ts) the result of all steps fits in MIN_BODY_BYTES.
 */
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import type { RawStore } from '../core/ports.js';
import { PARSE_ERROR_CAPS } from './limits.js';
import type { LinkSigner } from './link-signer.js';
import type { EmailAddress, EmailReceivedData, EmailReceivedEvent } from './schema.js';

export interface FitDeps {
  readonly store: RawStore;
  readonly links: LinkSigner;
  readonly maxBodyBytes: number;
  /** Store key of the event's raw message: the source of the bodies this stores (LinkMeta.source). */
  readonly rawKey?: string;
}

export function bodyBytes(event: EmailReceivedEvent): number {
  return Buffer.byteLength(JSON.stringify(event), 'utf8');
}

type AddressField = 'from' | 'to' | 'cc' | 'bcc' | 'replyTo';
const ADDRESS_FIELDS: ReadonlyArray<AddressField> = ['from', 'to', 'cc', 'bcc', 'replyTo'];

const BODIES = {
  text: { url: 'textUrl', filename: 'body.txt', contentType: 'text/plain; charset=utf-8' },
  html: { url: 'htmlUrl', filename: 'body.html', contentType: 'text/html; charset=utf-8' },
} as const;

export async function fitEvent(event: EmailReceivedEvent, deps: FitDeps): Promise<EmailReceivedEvent> {
  return (await fitEventBody(event, deps)).event;
}

/** An event and its JSON body (`JSON.stringify(event)`), serialised once. */
export interface EventWithBody {
  readonly event: EmailReceivedEvent;
  readonly body: string;
  /** UTF-8 bytes of `body`. */
  readonly bytes: number;
}

/**
 * `fitEvent` that also hands back the body it measured last: serialising a
 * large event is a noticeable share of delivery CPU, and the delivery engine
 * sends exactly this string.
 */
export async function fitEventBody(event: EmailReceivedEvent, deps: FitDeps): Promise<EventWithBody> {
  const reduced = await reduceEvent(event, deps);
  return reduced.last ?? serialise(event);
}

export function serialise(event: EmailReceivedEvent): EventWithBody {
  const body = stringifyEvent(event);
  return { event, body, bytes: Buffer.byteLength(body, 'utf8') };
}

/**
 * Below this many characters the text is simply escaped twice: the splice's extra pass over the rest of the
 * event (≈ 0.01 ms) and its prefix check cost about what escaping 4,096 characters again would (≈ 0.014 ms).
 */
export const SPLICE_MIN_CHARS = 4096;
/**
 * Stand in for the text and the reply text in the skeleton. The random part keeps them out of any message in
 * practice, and `stringifyEvent` does not rely on that: it splices only when each is found exactly once (the
 * place it put it). Exported for the test that plants them in a message.
 */
const SPLICE_NONCE = randomUUID();
export const SPLICE_MARKERS = {
  text: `\u0000pop3-bridge:text:${SPLICE_NONCE}\u0000`,
  replyText: `\u0000pop3-bridge:replyText:${SPLICE_NONCE}\u0000`,
} as const;
const TEXT_MARKER_JSON = JSON.stringify(SPLICE_MARKERS.text);
const REPLY_MARKER_JSON = JSON.stringify(SPLICE_MARKERS.replyText);

/**
 * Exactly `JSON.stringify(event)`, escaping the text once. Escaping is most of the cost of serialising an
 * event, and `replyText` is usually the text itself or the text up to a cut (a message that quotes nothing;
 * mailparser's text ends with a line break that replyText trims), which JSON.stringify would escape again.
 * The rest is serialised with markers in those two places, and the text's JSON (and the reply text's, a
 * prefix of it) spliced in; when a marker is not found exactly once (only a message that contains it could
 * add one), the event is serialised the plain way.
 */
export function stringifyEvent(event: EmailReceivedEvent): string {
  const { text, replyText } = event.data;
  if (text === null || replyText === null || text.length < SPLICE_MIN_CHARS) return JSON.stringify(event);
  const cut = replyText.length;
  // Is the reply text a prefix of the text? As one bulk compare: `slice` makes a view without copying and `===`
  // compares the characters in bulk (≈ 0.5 µs for 24,400 of them), where V8's startsWith walks them one by one
  // (≈ 35–50 µs). Over 500 events built from the e2e benchmark's mailbox this function took 169 µs per event
  // with startsWith and 113 µs with this (2026-11-29). The result is the same: fit-event.test.ts compares it with
  // JSON.stringify for texts of any code units and reply texts equal, copied, cut anywhere or unrelated.
  if (text.slice(0, cut) !== replyText || splitsSurrogatePair(text, cut)) return JSON.stringify(event);
  // Spreading keeps every key where it was, so the skeleton has the same shape and order as the event.
  const skeleton = JSON.stringify({
    ...event,
    data: { ...event.data, text: SPLICE_MARKERS.text, replyText: SPLICE_MARKERS.replyText },
  });
  const textAt = onlyIndexOf(skeleton, TEXT_MARKER_JSON);
  const replyAt = onlyIndexOf(skeleton, REPLY_MARKER_JSON);
  if (textAt === -1 || replyAt === -1) return JSON.stringify(event);
  const textJson = JSON.stringify(text);
  // JSON escapes each code unit on its own (a surrogate pair, kept whole above, is the one pair of units
  // escaped together), so the prefix's JSON is the text's without the escaped rest.
  const restJson = cut === text.length ? '""' : JSON.stringify(text.slice(cut));
  const replyJson = `${textJson.slice(0, textJson.length - (restJson.length - 1))}"`;
  const [first, firstJson, firstEnd, second, secondJson, secondEnd] =
    textAt < replyAt
      ? [textAt, textJson, textAt + TEXT_MARKER_JSON.length, replyAt, replyJson, replyAt + REPLY_MARKER_JSON.length]
      : [replyAt, replyJson, replyAt + REPLY_MARKER_JSON.length, textAt, textJson, textAt + TEXT_MARKER_JSON.length];
  return (
    skeleton.slice(0, first) + firstJson + skeleton.slice(firstEnd, second) + secondJson + skeleton.slice(secondEnd)
  );
}

/** Where `part` is in `whole` when it is there exactly once (overlaps counted), else -1. */
function onlyIndexOf(whole: string, part: string): number {
  const at = whole.indexOf(part);
  return at !== -1 && whole.indexOf(part, at + 1) === -1 ? at : -1;
}

/** Whether `at` falls between the two halves of a surrogate pair. */
function splitsSurrogatePair(text: string, at: number): boolean {
  if (at === 0 || at >= text.length) return false;
  const before = text.charCodeAt(at - 1);
  const after = text.charCodeAt(at);
  return before >= 0xd800 && before <= 0xdbff && after >= 0xdc00 && after <= 0xdfff;
}

/** The reduction steps; `last` is the serialisation of the final state, when the last check made it. */
async function reduceEvent(event: EmailReceivedEvent, deps: FitDeps): Promise<{ last: EventWithBody | undefined }> {
  const data: EmailReceivedData = event.data;
  const state: { last: EventWithBody | undefined } = { last: undefined };
  const fits = (): boolean => {
    // A sure "no" without serialising: a large body is measured once, after it has been replaced by a link.
    if (bodyCharsLowerBound(data) > deps.maxBodyBytes) {
      state.last = undefined;
      return false;
    }
    state.last = serialise(event);
    return state.last.bytes <= deps.maxBodyBytes;
  };
  // Any change to the event after a check invalidates the body measured by it.
  const changed = (): void => {
    state.last = undefined;
  };
  if (fits()) return state;

  const bodies = (['html', 'text'] as const)
    .filter((field) => data[field] !== null)
    .sort((a, b) => (data[b]?.length ?? 0) - (data[a]?.length ?? 0));
  for (const field of bodies) {
    const content = data[field];
    if (content === null) continue;
    const { url, filename, contentType } = BODIES[field];
    data[field] = null;
    data.truncated[field] = true;
    let key: string | undefined;
    try {
      key = (await deps.store.put(Readable.from([Buffer.from(content, 'utf8')]), 'attachment')).key;
    } catch (error) {
      if (data.parseErrors.length < PARSE_ERROR_CAPS.count) {
        const reason = (error as { code?: unknown } | null)?.code ?? 'store error';
        data.parseErrors.push({
          code: 'EVENT_ERR_BODY_STORE',
          message: `the ${field} body is too large for the event and could not be stored: ${String(reason)}`,
        });
      }
    }
    // A signer failure propagates: it is not a property of the message.
    if (key !== undefined) {
      data[url] = await deps.links.linkFor(key, {
        filename,
        contentType,
        ...(deps.rawKey !== undefined && { source: deps.rawKey }),
      });
    }
    if (fits()) return state;
  }

  if (data.replyText !== null) {
    data.replyText = null;
    data.truncated.replyText = true;
    if (fits()) return state;
  }

  while (data.headers.length > 0 && !fits()) {
    data.headers = data.headers.slice(0, Math.floor(data.headers.length / 2));
    data.truncated.headers = true;
  }
  while (data.attachments.length > 0 && !fits()) {
    data.attachments = data.attachments.slice(0, Math.floor(data.attachments.length / 2));
    data.truncated.attachments = true;
  }
  while (!fits()) {
    const longest = longestAddressList(data);
    if (longest === undefined) break;
    data[longest] = data[longest].slice(0, Math.floor(data[longest].length / 2));
    data.truncated.addresses = true;
  }
  while (data.references.length > 0 && !fits()) {
    data.references = data.references.slice(Math.ceil(data.references.length / 2));
    data.truncated.references = true;
  }
  if (!fits()) {
    data.parseErrors = data.parseErrors.slice(0, 3);
    changed();
  }
  return state;
}

/**
 * A lower bound of the body's UTF-8 bytes: the code units of text, html and replyText. Each code unit takes at
 * least one byte in JSON's UTF-8 (ASCII 1, or 2 when escaped; up to U+07FF 2; the rest of the BMP 3; a
 * surrogate pair 4 for two units; a lone surrogate, escaped, 6), and the rest of the event only adds bytes.
 */
export function bodyCharsLowerBound(data: EmailReceivedData): number {
  return (data.text?.length ?? 0) + (data.html?.length ?? 0) + (data.replyText?.length ?? 0);
}

function longestAddressList(data: EmailReceivedData): AddressField | undefined {
  let best: AddressField | undefined;
  let bestSize = 0;
  for (const field of ADDRESS_FIELDS) {
    const list: EmailAddress[] = data[field];
    if (list.length === 0) continue;
    const size = JSON.stringify(list).length;
    if (size > bestSize) {
      best = field;
      bestSize = size;
    }
  }
  return best;
}
