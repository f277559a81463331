/**
 * Streams one stored raw message through mailparser's `MailParser` (never
 * `simpleParser`, which buffers attachments) and stores each attachment in the
 * raw store as it goes by. Bad input never throws: what could be parsed is
 * returned with a list of issues. Only a failing read of the raw object itself
 * rejects, with a STORE_ERR_IO BridgeError.
 *
 * Work is bounded three ways: mailparser's own caps (header block, number of
 * parts, HTML converted to text), a byte cap on the raw input, and one time
 * budget for the whole parse. When the input cap or the time budget is hit,
 * the source, the parser and the attachment being stored are destroyed; the
 * attachment that was in flight is left out (it would be incomplete).
 *
 * Memory: attachments stream to the store (one 64 KiB chunk in flight);
 * text and HTML parts are held in memory by mailparser, which has no
 * streaming text API — about three times their size, bounded by
 * `maxParseBytes`.
 */
import { createHash, type Hash } from 'node:crypto';
import { PassThrough, type Readable, Transform, type TransformCallback } from 'node:stream';
import { finished } from 'node:stream/promises';
import libmime from 'libmime';
import {
  type AttachmentStream,
  type HeaderLines,
  type Headers,
  type IconvConstructor,
  MailParser,
  type MessageText,
} from 'mailparser';
import { BridgeError, type ErrorCode, isBridgeError } from '../core/errors.js';
import type { RawStore } from '../core/ports.js';
import { capString } from './headers.js';
import { type EventLimits, FIELD_CAPS, HTML_TO_TEXT_MAX_NESTING, PARSE_ERROR_CAPS } from './limits.js';

export type EventErrorCode = Extract<ErrorCode, `EVENT_ERR_${string}`>;

export interface ParseIssue {
  readonly code: EventErrorCode;
  readonly message: string;
}

export interface ParsedAttachment {
  readonly filename: string | null;
  readonly contentType: string;
  readonly size: number;
  /** Null when storing failed. */
  readonly sha256: string | null;
  readonly key: string | null;
  readonly contentId: string | null;
  readonly disposition: 'attachment' | 'inline';
}

export interface ParsedMime {
  /** Raw top-level header lines; empty when the header block could not be parsed. */
  readonly headerLines: HeaderLines;
  /** mailparser's parsed top-level headers; empty when the header block could not be parsed. */
  readonly headers: Headers;
  readonly text: string | null;
  readonly html: string | null;
  readonly attachments: ReadonlyArray<ParsedAttachment>;
  /** Attachments seen past `maxAttachments`, drained without storing. */
  readonly attachmentsOmitted: number;
  readonly issues: ReadonlyArray<ParseIssue>;
  /** Bytes read from the raw object, and their SHA-256 when it was read to its end. */
  readonly raw: { readonly bytes: number; readonly sha256: string | null };
}

/** Collects issues, at most `PARSE_ERROR_CAPS.count`, each message cut to a fixed length. */
export class IssueList {
  readonly items: ParseIssue[] = [];

  add(code: EventErrorCode, message: string): void {
    if (this.items.length >= PARSE_ERROR_CAPS.count) return;
    this.items.push({ code, message: capString(message, PARSE_ERROR_CAPS.messageChars).value });
  }
}

/** Thrown (as a destroy reason) by the meter when the raw input passes `maxParseBytes`. */
class InputLimitError extends Error {
  override readonly name = 'InputLimitError';
}

/** Counts and hashes the raw bytes on their way to the parser; breaks off past the cap. */
class RawMeter extends Transform {
  readonly #hash: Hash = createHash('sha256');
  readonly #max: number;
  bytes = 0;
  sha256: string | null = null;

  constructor(max: number) {
    super();
    this.#max = max;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.#max) {
      callback(new InputLimitError(`the message is larger than ${this.#max} bytes`));
      return;
    }
    this.#hash.update(chunk);
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    this.sha256 = this.#hash.digest('hex');
    callback();
  }
}

/**
 * The attachment's media type, lower case. mailparser gives `false` for a part whose Content-Type header is
 * empty (`Content-Type:`, `Content-Type: ; name=x`): RFC 2045 §5.2 makes that the default, which for a part
 * that is an attachment is application/octet-stream. (Calling toLowerCase on `false` threw, outside any
 * handler, and ended the process building the event.)
 */
function contentTypeOf(attachment: AttachmentStream): string {
  const type: unknown = attachment.contentType;
  return typeof type === 'string' && type.trim() !== '' ? type.toLowerCase() : 'application/octet-stream';
}

const charsetSupport = new Map<string, boolean>();

/**
 * Whether libmime decodes `charset`, rather than falling back to UTF-8. libmime's
 * iconv-lite is packages/iconv-lite-textdecoder (an npm override): the WHATWG
 * charsets plus a few iconv-lite tables; DOS code pages, UTF-7 and UTF-32 are not.
 */
export function isCharsetSupported(charset: string): boolean {
  const name = charset.toLowerCase().slice(0, 64);
  let supported = charsetSupport.get(name);
  if (supported === undefined) {
    supported = libmime.createDecodeStream(name).supported;
    if (charsetSupport.size < 1000) charsetSupport.set(name, supported);
  }
  return supported;
}

/**
 * mailparser's `Iconv` option is its only hook into body charset decoding.
 * This "Iconv" decodes exactly as mailparser does without the option (libmime's
 * decode stream, the same fallback to UTF-8 for an unknown charset) and records
 * the charsets that fell back, which mailparser itself does not report.
 * A plain function, called with `new`: returning an object from it makes that
 * object the result.
 */
function charsetRecorder(onUnsupported: (charset: string) => void): IconvConstructor {
  function RecordingDecoder(fromCharset: string): Transform {
    const stream = libmime.createDecodeStream(fromCharset);
    if (!stream.supported) onUnsupported(fromCharset);
    return stream;
  }
  return RecordingDecoder as unknown as IconvConstructor;
}

/**
 * mailparser decodes a body in a charset it refuses (UTF-7, which can carry markup past a filter; base64 and
 * hex, transfer encodings) with libmime's stream directly, not through the Iconv option, so charsetRecorder
 * never sees it and the event did not say the text was read as UTF-8. mailparser's `decoder.decodeStream`
 * (internal, like getTextContent below) is where every body part's charset goes: wrapped, it reports those
 * too. Guarded: a mailparser without it only loses that report (test/events/charsets.test.ts fails then).
 */
function recordRefusedCharsets(parser: MailParser, onUnsupported: (charset: string) => void): void {
  const decoder = (parser as unknown as { decoder?: { decodeStream?: unknown } }).decoder;
  const decodeStream = decoder?.decodeStream;
  if (decoder === undefined || typeof decodeStream !== 'function') return;
  decoder.decodeStream = (charset: string): unknown => {
    const stream: unknown = decodeStream.call(decoder, charset);
    if ((stream as { supported?: unknown } | null)?.supported === false) onUnsupported(charset);
    return stream;
  };
}

const ENCODED_WORD_CHARSET = /=\?([^?*\s]{1,64})(?:\*[^?\s]{0,64})?\?[bq]\?/gi;

/** Charsets named by RFC 2047 encoded-words in the header lines that libmime cannot decode. */
function unsupportedHeaderCharsets(lines: HeaderLines): string[] {
  const names = new Set<string>();
  for (const { line } of lines) {
    for (const match of line.matchAll(ENCODED_WORD_CHARSET)) {
      if (names.size >= 16) break;
      names.add((match[1] ?? '').toLowerCase());
    }
  }
  return [...names].filter((name) => !isCharsetSupported(name));
}

/** mailsplit tags its size-limit errors with EMAXLEN (too many parts, header block too large). */
function isLimitError(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === 'EMAXLEN';
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * After an error or a stop, mailparser has no public way to hand out the text
 * of the parts it finished: `getTextContent()` (marked internal) builds the
 * same text object it would have emitted at the end. Guarded, so that a
 * mailparser without it only loses the salvage; the test "after a timeout the
 * text of the parts already parsed is kept" fails if it goes away.
 */
function salvageText(parser: MailParser): MessageText | undefined {
  const getTextContent = (parser as unknown as { getTextContent?: () => MessageText }).getTextContent;
  if (typeof getTextContent !== 'function') return undefined;
  try {
    return getTextContent.call(parser);
  } catch {
    return undefined;
  }
}

/**
 * Listeners added to the parse's streams, removed together once the parse is over. Each one closes over
 * parseMime's scope (the parser's text, headers and attachment list), so a stream that outlives the parse
 * would keep all of that alive with it: a destroyed stream that V8 has already moved to its old generation is
 * freed only by the next full GC, and until then everything it references survives every scavenge (and is
 * copied by each). With the e2e benchmark's messages parsed 4 at once in one thread, scavenges took 5–7 ms
 * each with the listeners left in place and about 1 ms with them removed; how often a stream lives on like
 * that depends on timing, and the e2e benchmark's event worker did not show it (docs/performance.md,
 * 2026-11-29, 14:30–16:10).
 */
class StreamListeners {
  readonly #added: Array<{ emitter: NodeJS.EventEmitter; event: string; listener: (...args: never[]) => void }> = [];

  on(emitter: NodeJS.EventEmitter, event: string, listener: (...args: never[]) => void): void {
    emitter.on(event, listener as (...args: unknown[]) => void);
    this.#added.push({ emitter, event, listener });
  }

  removeAll(): void {
    for (const { emitter, event, listener } of this.#added.splice(0)) {
      emitter.removeListener(event, listener as (...args: unknown[]) => void);
    }
  }
}

type Stop =
  | { readonly kind: 'end' }
  | { readonly kind: 'parser-error'; readonly error: unknown }
  | { readonly kind: 'source-error'; readonly error: unknown }
  | { readonly kind: 'input-limit'; readonly message: string }
  | { readonly kind: 'timeout' };

const noop = (): void => {};

/** Options patches/mailparser+3.14.2.patch adds (its types do not know them). */
interface PatchedMailParserOptions {
  readonly maxHtmlLengthToConvert: number;
  readonly maxHtmlNestingDepth: number;
}

export async function parseMime(source: Readable, store: RawStore, limits: EventLimits): Promise<ParsedMime> {
  const issues = new IssueList();
  const unsupportedCharsets = new Set<string>();
  const parser = new MailParser({
    // Text for HTML-only mail, so `text` and `replyText` are useful; bounded per part, for all parts together
    // and in nesting depth (limits.ts says why: the parse's time limit cannot stop the conversion).
    skipHtmlToText: false,
    maxHtmlLengthToParse: limits.maxHtmlToTextChars,
    ...({
      maxHtmlLengthToConvert: limits.maxHtmlToTextChars,
      maxHtmlNestingDepth: HTML_TO_TEXT_MAX_NESTING,
    } satisfies PatchedMailParserOptions),
    // textAsHtml is not in the event, and its linkify step is a known ReDoS.
    skipTextToHtml: true,
    skipTextLinks: true,
    skipImageLinks: true,
    // The store hashes attachments (SHA-256); md5 would be wasted work (and fails under FIPS).
    checksumAlgo: false,
    maxHeadSize: limits.maxHeadBytes,
    maxChildNodes: limits.maxMimeParts,
    Iconv: charsetRecorder((charset) => unsupportedCharsets.add(charset)),
  });
  recordRefusedCharsets(parser, (charset) => unsupportedCharsets.add(charset));
  const meter = new RawMeter(limits.maxParseBytes);

  let headerLines: HeaderLines = [];
  let headers: Headers = new Map();
  let textResult: MessageText | undefined;
  const attachments: ParsedAttachment[] = [];
  let attachmentsSeen = 0;
  let attachmentsOmitted = 0;
  const pending: Promise<void>[] = [];
  /** Set once the parse is over for a reason other than its end: in-flight work is discarded. */
  let aborted = false;
  /** Streams of the attachment being stored, destroyed on abort. */
  const inFlight = new Set<Readable | PassThrough>();

  const handleAttachment = async (attachment: AttachmentStream): Promise<void> => {
    const content = attachment.content;
    content.on('error', noop); // surfaces through finished() and the store's put
    const release = (): void => {
      attachment.release?.();
    };
    attachmentsSeen += 1;
    if (aborted || attachmentsSeen > limits.maxAttachments) {
      if (!aborted) attachmentsOmitted += 1;
      content.resume();
      await finished(content).catch(noop);
      release();
      return;
    }
    // The store destroys its input when a put fails; a separate feed keeps
    // mailparser's content stream alive, so it can be drained (and its size
    // counted) after a failure instead of stalling the parser.
    const feed = new PassThrough();
    feed.on('error', noop);
    inFlight.add(content).add(feed);
    content.pipe(feed);
    let stored: { key: string; sha256: string; size: number } | undefined;
    let failure: unknown;
    try {
      stored = await store.put(feed, 'attachment');
    } catch (error) {
      failure = error;
      content.unpipe(feed);
      feed.destroy();
      content.resume();
    }
    const complete = await finished(content).then(
      () => true,
      () => false,
    );
    inFlight.delete(content);
    inFlight.delete(feed);
    release();
    if (aborted || !complete) return;
    const filename =
      attachment.filename === undefined ? null : capString(attachment.filename, FIELD_CAPS.filename).value;
    attachments.push({
      filename,
      contentType: capString(contentTypeOf(attachment), FIELD_CAPS.contentType).value,
      size: attachment.size ?? stored?.size ?? 0,
      sha256: stored?.sha256 ?? null,
      key: stored?.key ?? null,
      contentId: attachment.cid === undefined ? null : capString(attachment.cid, FIELD_CAPS.messageId).value,
      disposition: attachment.contentDisposition === 'inline' ? 'inline' : 'attachment',
    });
    if (failure !== undefined) {
      issues.add(
        'EVENT_ERR_ATTACHMENT_STORE',
        `attachment ${JSON.stringify(filename ?? attachment.partId ?? '?')} could not be stored: ${
          isBridgeError(failure) ? failure.code : describe(failure)
        }`,
      );
    }
  };

  let timer: NodeJS.Timeout | undefined;
  const listening = new StreamListeners();
  const stop = await new Promise<Stop>((resolve) => {
    listening.on(parser, 'headers', (parsed: Headers) => {
      headers = parsed;
    });
    listening.on(parser, 'headerLines', (lines: HeaderLines) => {
      headerLines = lines;
    });
    listening.on(parser, 'data', (item: AttachmentStream | MessageText) => {
      // A throw in handleAttachment would reject a promise nobody awaits until the parse ends: an unhandled
      // rejection, which ends the process. It is a parse issue of this message instead.
      if (item.type === 'attachment') {
        pending.push(
          handleAttachment(item).catch((error: unknown) => {
            issues.add('EVENT_ERR_MIME', `an attachment could not be read: ${describe(error)}`);
            // The parser waits for the release (and a drained stream) before it goes on: never leave it waiting.
            item.content.resume();
            item.release?.();
          }),
        );
      } else textResult = item;
    });
    listening.on(parser, 'end', () => resolve({ kind: 'end' }));
    listening.on(parser, 'error', (error: unknown) => resolve({ kind: 'parser-error', error }));
    listening.on(source, 'error', (error: unknown) => resolve({ kind: 'source-error', error }));
    listening.on(meter, 'error', (error: unknown) =>
      resolve(
        error instanceof InputLimitError
          ? { kind: 'input-limit', message: error.message }
          : { kind: 'source-error', error },
      ),
    );
    timer = setTimeout(() => resolve({ kind: 'timeout' }), limits.parseTimeoutMs);
    source.pipe(meter).pipe(parser);
  });
  clearTimeout(timer);
  listening.removeAll();
  // Late errors of destroyed streams must not become uncaught exceptions.
  for (const stream of [source, meter, parser]) stream.on('error', noop);

  if (stop.kind !== 'end') {
    aborted = true;
    source.unpipe(meter);
    meter.unpipe(parser);
    source.destroy();
    meter.destroy();
    parser.destroy();
    for (const stream of inFlight) stream.destroy();
  }
  // Puts settle quickly once their input is destroyed; the temp files they leave are removed by the store.
  await Promise.allSettled(pending);

  if (stop.kind === 'source-error') {
    const error = stop.error;
    if (isBridgeError(error)) throw error;
    throw new BridgeError('STORE_ERR_IO', 'could not read the raw message', { cause: error });
  }
  if (stop.kind !== 'end') textResult = salvageText(parser);
  switch (stop.kind) {
    case 'parser-error':
      issues.add(
        isLimitError(stop.error) ? 'EVENT_ERR_LIMIT' : 'EVENT_ERR_MIME',
        `parsing stopped: ${describe(stop.error)}`,
      );
      break;
    case 'input-limit':
      issues.add('EVENT_ERR_LIMIT', `parsing stopped: ${stop.message}`);
      break;
    case 'timeout':
      issues.add('EVENT_ERR_TIMEOUT', `parsing stopped after ${limits.parseTimeoutMs} ms`);
      break;
  }
  for (const charset of unsupportedCharsets) {
    issues.add('EVENT_ERR_CHARSET', `a body part's charset ${JSON.stringify(charset)} is unknown: read as UTF-8`);
  }
  for (const charset of unsupportedHeaderCharsets(headerLines)) {
    issues.add('EVENT_ERR_CHARSET', `a header's charset ${JSON.stringify(charset)} is unknown: read as UTF-8`);
  }
  if (textResult?.textConversionError !== undefined) {
    issues.add('EVENT_ERR_HTML_TO_TEXT', `no text from the HTML: ${describe(textResult.textConversionError)}`);
  }
  if (attachmentsOmitted > 0) {
    issues.add(
      'EVENT_ERR_ATTACHMENT_LIMIT',
      `${attachmentsOmitted} attachment(s) past the first ${limits.maxAttachments} were not stored`,
    );
  }

  return {
    headerLines,
    headers,
    text: typeof textResult?.text === 'string' ? textResult.text : null,
    html: typeof textResult?.html === 'string' ? textResult.html : null,
    attachments,
    attachmentsOmitted,
    issues: issues.items,
    raw: { bytes: meter.bytes, sha256: stop.kind === 'end' ? meter.sha256 : null },
  };
}
