import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  extractReplyText,
  MARKER_PATTERNS,
  mayStartMarker,
  probe,
  replyTextByLines,
  unquotedReplyText,
} from '../../functions/events/reply-text.js';
import { referenceExtractReplyText } from './reply-text-reference.js';

const t = (...lines: string[]): string => lines.join('\n');

describe('extractReplyText', () => {
  it.each([
    ['no quote at all', t('Hello', '', 'Bye'), t('Hello', '', 'Bye')],
    [
      'top-posting with a Gmail attribution',
      t('Sure.', '', 'On Tue, Nov 14, 2023 at 10:00 PM Alice <a@example.test> wrote:', '> Lunch?'),
      'Sure.',
    ],
    [
      'attribution wrapped over two lines',
      t('Sure.', '', 'On Tue, Nov 14, 2023 at 10:00 PM Alice Example <', 'alice@example.test> wrote:', '', '> Lunch?'),
      'Sure.',
    ],
    ['Apple Mail attribution', t('Ok', '', 'On 14 Nov 2023, at 22:13, Bob <b@example.test> wrote:', '', '> x'), 'Ok'],
    ['German attribution', t('Gut.', 'Am 14.11.2023 um 22:13 schrieb Bob <b@example.test>:', '> x'), 'Gut.'],
    ['French attribution', t('Oui.', 'Le 14 nov. 2023 à 22:13, Bob <b@example.test> a écrit :', '> x'), 'Oui.'],
    [
      'interleaved answers survive, quotes go',
      t('On 14/11/2023 Alice wrote:', '> Lunch at 12?', 'Yes.', '> Where?', 'The usual place.'),
      t('Yes.', 'The usual place.'),
    ],
    ['nested quotes and indented quotes', t('Fine', '>> old', '  > older'), 'Fine'],
    [
      'Outlook -----Original Message----- cuts everything below',
      t('Thanks!', '', '-----Original Message-----', 'From: Alice', 'Sent: Tuesday', 'the original'),
      'Thanks!',
    ],
    ['spaced variant', t('Thanks', '----- Original Message -----', 'x'), 'Thanks'],
    [
      'Outlook header block with the underscore rule',
      t(
        'Will do.',
        '',
        '________________________________',
        'From: Alice <a@example.test>',
        'Sent: Tuesday, November 14, 2023 10:00 PM',
        'To: Bob',
        'Subject: RE: plan',
        '',
        'the original',
      ),
      'Will do.',
    ],
    ['Outlook bold header block (HTML converted)', t('Yes', '*From:* Alice', '*Sent:* Tuesday', 'orig'), 'Yes'],
    ['From: followed by Date: (Outlook for Mac)', t('Yes', 'From: Alice', 'Date: Tuesday', 'orig'), 'Yes'],
    ['a lone From: line is kept', t('From: the team, with love', 'see you'), t('From: the team, with love', 'see you')],
    ['forwarded message marker', t('FYI', '---------- Forwarded message ---------', 'From: x'), 'FYI'],
    [
      'attribution without a digit is ordinary text',
      t('On reflection my boss wrote:', 'the plan is fine'),
      t('On reflection my boss wrote:', 'the plan is fine'),
    ],
    [
      'attribution followed by unquoted original: cut there',
      t('Sounds good', 'On Tue, 14 Nov 2023 Alice wrote:', '', 'Lunch at 12?'),
      'Sounds good',
    ],
    ['only a quote', t('> all quoted', '> still'), ''],
    [
      'signature kept, blank edges trimmed, trailing spaces removed',
      t('', 'Hi   ', '-- ', 'Bob', '', ''),
      t('Hi', '--', 'Bob'),
    ],
    ['CRLF line endings', 'Hi\r\n> q\r\nBye', t('Hi', 'Bye')],
  ])('%s', (_name, input, expected) => {
    expect(extractReplyText(input)).toBe(expected);
  });

  it('runs in linear time on hostile input (long lines of keywords, no line breaks)', () => {
    const inputs = [
      `On ${'1 '.repeat(500_000)}`,
      Array.from({ length: 100_000 }, () => `Am 1 ${'schrieb '.repeat(10)}`).join('\n'),
      Array.from({ length: 100_000 }, () => 'From: x').join('\n'),
      `${' '.repeat(1_000_000)}x`,
    ];
    for (const input of inputs) {
      const started = performance.now();
      extractReplyText(input);
      expect(performance.now() - started).toBeLessThan(1_000);
    }
  });
});

describe('the first-character gate of extractReplyText', () => {
  // Lines whose trimmed start cannot begin a separator, an Outlook header or an attribution skip those
  // patterns; this proves that no such line could have matched one (so the gate changes no result).
  const markerWords = ['-----Original Message-----', 'Begin forwarded message:', '*From: x', 'From: a', 'Von: b'];
  const starts = [...markerWords, 'De : c', 'On 1 Jan', 'Am 1.1.', 'Le 1', 'El 1', 'Op 1', 'ſrom: x', 'İn', 'K'];
  const cased = fc
    .tuple(fc.constantFrom(...starts), fc.boolean())
    .map(([word, upper]) => (upper ? word.toUpperCase() : word.toLowerCase()));
  const line = fc
    .tuple(
      fc.constantFrom('', ' ', '\t', '\u00a0', '\ufeff', '\u2003'),
      fc.oneof(cased, fc.string({ unit: 'grapheme' })),
    )
    .map(([pad, rest]) => pad + rest);

  it('plain lines are gated, marker lines are not', () => {
    expect(['Hello', 'Thanks', '  > x', '', '12:00'].map((s) => mayStartMarker(probe(s)))).toEqual([
      false,
      false,
      false,
      false,
      false,
    ]);
    expect(['From: a', ' von: b', '-----', 'on Tue', 'Begin'].map((s) => mayStartMarker(probe(s)))).toEqual([
      true,
      true,
      true,
      true,
      true,
    ]);
  });

  it('no pattern matches a line the gate lets through as plain text', () => {
    fc.assert(
      fc.property(line, (text) => {
        const head = probe(text);
        if (!mayStartMarker(head)) for (const pattern of MARKER_PATTERNS) expect(pattern.test(head)).toBe(false);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('extractReplyText against its reference model', () => {
  // The product tests characters where the reference (reply-text-reference.ts) runs regular expressions and
  // String#trim on every line; lines are built from the pieces where the two could part: every marker form,
  // quotes at any indent, each kind of whitespace String#trim knows (and U+180E, which it no longer does),
  // padding past the 400-character probe, CR, and letters that only look like ASCII ones.
  const spaces = fc.constantFrom(' ', '\t', '\u00a0', '\u2028', '\u3000', '\ufeff', '\u180e', '\v', '\r', '');
  const words = fc.constantFrom(
    '-----Original Message-----',
    '---------- Forwarded message ---------',
    'Begin forwarded message:',
    'From: Alice <a@example.test>',
    '*From:* Alice',
    'Von: Bob',
    'De : Carol',
    'Sent: Tuesday',
    'Date: 1 Jan',
    'Gesendet: Dienstag',
    'On Tue, 14 Nov 2023 Alice wrote:',
    'On Tue, 14 Nov 2023 Alice',
    'wrote:',
    'Am 14.11.2023 schrieb Bob:',
    'Le 14 nov. 2023, Bob a écrit :',
    'El 14 nov 2023, Bob escribió:',
    'Op 14 nov 2023 schreef Bob:',
    '________________________________',
    '> quoted',
    '>> deeper',
    'on',
    'op',
    'de',
    'fr',
    'vo',
    'be',
    '--',
    '*',
    '-',
    'ſrom: x',
    'İn 1',
    'K',
    'Hello',
    'Thanks',
    '12:00',
  );
  const line = fc
    .tuple(
      fc.array(spaces, { maxLength: 3 }).map((pad) => pad.join('')),
      fc.oneof(
        words,
        words.map((w) => w.toUpperCase()),
        fc.string({ unit: 'grapheme', maxLength: 12 }),
      ),
      fc.array(spaces, { maxLength: 2 }).map((pad) => pad.join('')),
      fc.boolean(),
    )
    .map(([pad, body, tail, far]) => (far ? ' '.repeat(398) : '') + pad + body + tail);
  const text = fc
    .tuple(fc.array(line, { maxLength: 25 }), fc.constantFrom('\n', '\r\n'))
    .map(([lines, eol]) => lines.join(eol));

  it('gives exactly what the reference gives', () => {
    fc.assert(
      fc.property(text, (input) => {
        expect(extractReplyText(input)).toBe(referenceExtractReplyText(input));
      }),
      { numRuns: 5000 },
    );
  });

  it('takes the one-pass path for text that quotes nothing, and it gives what the line-by-line pass gives', () => {
    // Mostly lines the one-pass path accepts (no trailing whitespace, LF only), with every marker form among
    // them, so that both its answers and its refusals are exercised.
    const plainLine = fc
      .tuple(
        fc.constantFrom('', '', ' ', '\t'),
        fc.oneof(
          { weight: 3, arbitrary: fc.constantFrom('Hello there', 'Thanks, Ada', '12:00 works', 'on time', '') },
          { weight: 1, arbitrary: words },
          { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 12 }) },
        ),
        fc.boolean(),
      )
      .map(([pad, body, far]) => (far ? ' '.repeat(398) : '') + pad + body);
    let onePass = 0;
    fc.assert(
      fc.property(fc.array(plainLine, { maxLength: 25 }), (lines) => {
        const input = lines.join('\n');
        const fast = unquotedReplyText(input);
        if (fast !== undefined) {
          onePass += 1;
          expect(fast).toBe(replyTextByLines(input));
        }
        expect(extractReplyText(input)).toBe(referenceExtractReplyText(input));
      }),
      { numRuns: 5000 },
    );
    expect(onePass).toBeGreaterThan(1000);
  });

  it('gives exactly what the reference gives for any string', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (input) => {
        expect(extractReplyText(input)).toBe(referenceExtractReplyText(input));
      }),
      { numRuns: 5000 },
    );
  });
});
