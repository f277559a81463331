import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  bodyCharsLowerBound,
  SPLICE_MARKERS,
  SPLICE_MIN_CHARS,
  stringifyEvent,
} from '../../functions/events/fit-event.js';
import type { EmailReceivedData, EmailReceivedEvent } from '../../functions/events/schema.js';

describe('bodyCharsLowerBound', () => {
  // fitEvent skips serialising an event whose bodies alone exceed the limit; that is only right if no string
  // takes fewer UTF-8 bytes in JSON than it has code units (lone surrogates and control characters included).
  it('never exceeds the UTF-8 bytes of the JSON of text, html and replyText', () => {
    // Any UTF-16 code unit (lone surrogates, controls, quotes) or any code point (surrogate pairs).
    const codeUnit = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c));
    const body = fc.option(fc.oneof(fc.string({ unit: codeUnit }), fc.string({ unit: 'binary' })), { nil: null });
    fc.assert(
      fc.property(body, body, body, (text, html, replyText) => {
        const data = { text, html, replyText } as EmailReceivedData;
        const json = JSON.stringify({ text, html, replyText });
        expect(bodyCharsLowerBound(data)).toBeLessThanOrEqual(Buffer.byteLength(json, 'utf8'));
      }),
      { numRuns: 2000 },
    );
  });
});

describe('stringifyEvent', () => {
  const codeUnit = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c));
  const anyString = fc.oneof(
    fc.string({ unit: codeUnit }),
    fc.string({ unit: 'binary' }),
    fc.constant(SPLICE_MARKERS.text),
    fc.constant(SPLICE_MARKERS.replyText),
  );
  /** A text long enough to be spliced, any code units (surrogate halves, controls, quotes, markers) at both ends. */
  const longText = fc
    .tuple(anyString, anyString, fc.integer({ min: SPLICE_MIN_CHARS, max: 2 * SPLICE_MIN_CHARS }))
    .map(([head, tail, length]) => head + 'x'.repeat(length) + tail);

  function eventWith(
    text: string | null,
    replyText: string | null,
    subject: string,
    header: string,
  ): EmailReceivedEvent {
    return {
      type: 'email.received',
      timestamp: '2024-01-02T03:04:05.000Z',
      data: {
        mailbox: 'm',
        uid: 'u1',
        messageId: null,
        date: null,
        subject,
        from: [{ address: 'a@example.test', name: subject }],
        to: [],
        cc: [],
        bcc: [],
        replyTo: [],
        inReplyTo: null,
        references: [],
        headers: [{ name: 'X-Test', value: header }],
        text,
        textUrl: null,
        html: null,
        htmlUrl: null,
        replyText,
        autoReply: false,
        attachments: [],
        raw: { size: 1, sha256: '0'.repeat(64), url: 'http://127.0.0.1:8025/raw' },
        truncated: {
          text: false,
          html: false,
          replyText: false,
          subject: false,
          headers: false,
          addresses: false,
          references: false,
          attachments: false,
        },
        parseErrors: [],
      },
    } as EmailReceivedEvent;
  }

  it('is JSON.stringify for any event, spliced (replyText the text or a prefix of it) or not', () => {
    fc.assert(
      fc.property(
        longText,
        anyString,
        anyString,
        fc.constantFrom('same', 'copy', 'prefix', 'other', 'null'),
        fc.nat(),
        fc.boolean(),
        (text, subject, header, reply, cutFromEnd, reversed) => {
          const replyText =
            reply === 'same'
              ? text
              : reply === 'copy' // an equal string that is not the same object, as extractReplyText returns
                ? `${text.slice(0, 1)}${text.slice(1)}`
                : reply === 'prefix' // cut anywhere in the last 40 code units, a surrogate pair's middle too
                  ? text.slice(0, text.length - (cutFromEnd % 40))
                  : reply === 'other'
                    ? subject
                    : null;
          const event = eventWith(text, replyText, subject, header);
          if (reversed) {
            // replyText before text: the splice must not assume the order buildEvent gives the keys.
            const { replyText: r, ...rest } = event.data;
            event.data = { replyText: r, ...rest } as EmailReceivedData;
          }
          expect(stringifyEvent(event)).toBe(JSON.stringify(event));
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('splits a surrogate pair by the cut: the plain way, same JSON', () => {
    const text = `${'x'.repeat(SPLICE_MIN_CHARS)}\u{1F600}\n`;
    const event = eventWith(text, text.slice(0, -2), '', '');
    expect(stringifyEvent(event)).toBe(JSON.stringify(event));
    expect(JSON.stringify(event)).toContain('\\ud83d"');
  });

  it('falls back to JSON.stringify when a message carries the marker elsewhere', () => {
    const text = `${'a'.repeat(SPLICE_MIN_CHARS)}"\n\u0001`;
    for (const event of [
      eventWith(text, text, SPLICE_MARKERS.text, ''),
      eventWith(text, text, '', SPLICE_MARKERS.replyText),
      eventWith(text, text, '', `${SPLICE_MARKERS.text}${SPLICE_MARKERS.text}`),
      eventWith(`${SPLICE_MARKERS.replyText}${text}`, `${SPLICE_MARKERS.replyText}${text}`, '', ''),
    ]) {
      expect(stringifyEvent(event)).toBe(JSON.stringify(event));
    }
  });
});
