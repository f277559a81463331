/**
 * Every size cap and deadline of the event builder, in one place.
 *
 * The body cap is the one receivers see; the parser caps bound the work a
 * hostile message can cause (docs/webhooks.md, "Limits"). Strings taken from
 * headers have fixed caps below so that a fully reduced event is always far
 * under the smallest allowed body cap.
 */
export interface EventLimits {
  /** Largest JSON body (UTF-8 bytes of `JSON.stringify(event)`); larger parts move to links. */
  readonly maxBodyBytes: number;
  /** Time budget of one parse, attachment storing included; the parser and the source are destroyed then. */
  readonly parseTimeoutMs: number;
  /** Raw bytes fed to the parser at most; a larger message is parsed up to here and reported. */
  readonly maxParseBytes: number;
  /** Largest header block of one MIME part (mailparser `maxHeadSize`). */
  readonly maxHeadBytes: number;
  /** Most MIME parts in one message (mailparser `maxChildNodes`). */
  readonly maxMimeParts: number;
  /**
   * HTML converted to text for `text`: the longest part (mailparser `maxHtmlLengthToParse`) and all of a
   * message's parts together (`maxHtmlLengthToConvert`, patches/mailparser+3.14.2.patch). The conversion runs
   * synchronously at the end of the parse, where the parse's time limit cannot stop it: this is its bound.
   */
  readonly maxHtmlToTextChars: number;
  /** Attachments stored and listed at most; the rest are drained unread. */
  readonly maxAttachments: number;
  /** Entries of the `headers` list at most. */
  readonly maxHeaders: number;
  /** Characters of one `headers` value at most. */
  readonly maxHeaderValueChars: number;
  /** Entries of one address list (`to`, `cc`, …) at most. */
  readonly maxAddresses: number;
  /** Entries of `references` at most (the most recent are kept). */
  readonly maxReferences: number;
}

export const DEFAULT_EVENT_LIMITS: EventLimits = Object.freeze({
  maxBodyBytes: 256 * 1024,
  parseTimeoutMs: 10_000,
  maxParseBytes: 256 * 1024 * 1024,
  maxHeadBytes: 512 * 1024,
  maxMimeParts: 1000,
  maxHtmlToTextChars: 1024 * 1024,
  maxAttachments: 100,
  maxHeaders: 100,
  maxHeaderValueChars: 1000,
  maxAddresses: 100,
  maxReferences: 50,
});

/** Below this the fixed-size part of an event (ids, subject, links, parse errors) might not fit. */
export const MIN_BODY_BYTES = 32 * 1024;
/**
 * The largest body cap a config may set (`events.maxBodyBytes`, the stack's `maxEventBodyBytes`). Each event
 * being delivered is held whole (its body as a string, and as UTF-8 bytes while it is signed and sent), several
 * at once: 1 MiB keeps them to a few MiB of the memory budget.
 */
export const MAX_BODY_BYTES = 1024 * 1024;

/** Fixed caps (characters) of single values taken from headers. */
export const FIELD_CAPS = Object.freeze({
  subject: 1000,
  /** RFC 5322 §2.1.1: a line is at most 998 characters, so a longer id is not one a client could have sent. */
  messageId: 998,
  addressPart: 500,
  filename: 500,
  contentType: 200,
});

/** Parse errors listed at most, and the length of each message. */
export const PARSE_ERROR_CAPS = Object.freeze({ count: 10, messageChars: 200 });

/**
 * Merges `overrides` into the defaults. A value that is not a positive integer
 * (or a body cap under {@link MIN_BODY_BYTES}) is a programming error: it
 * throws a RangeError at start-up, never while building an event.
 */
export function resolveEventLimits(overrides: Partial<EventLimits> | undefined): EventLimits {
  const limits = { ...DEFAULT_EVENT_LIMITS, ...overrides };
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isSafeInteger(value) || value <= 0)
      throw new RangeError(`event limit ${name} must be a positive integer`);
  }
  if (limits.maxBodyBytes < MIN_BODY_BYTES)
    throw new RangeError(`event limit maxBodyBytes must be ≥ ${MIN_BODY_BYTES}`);
  return Object.freeze(limits);
}

/**
 * Deepest element nesting converted to text (mailparser `maxHtmlNestingDepth`, patched; its own default is 1000).
 * html-to-text prefixes every line of a blockquote with one `> ` per level, so its time and output grow with the
 * depth: 990 nested blockquotes around 60 KB of words took 3.9 s and made a 24 MB text. Real mail nests far less
 * (a long reply chain, a few dozen levels).
 */
export const HTML_TO_TEXT_MAX_NESTING = 128;
