import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bodyCharsLowerBound } from '../../functions/events/fit-event.js';
import type { EmailReceivedData } from '../../functions/events/schema.js';

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
