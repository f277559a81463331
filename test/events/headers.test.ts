import { describe, expect, it } from 'vitest';
import {
  capString,
  headerList,
  isAutoReply,
  parseDateHeader,
  type RawHeader,
  unfoldHeaderLines,
} from '../../functions/events/headers.js';

const h = (name: string, value: string): RawHeader => ({ key: name.toLowerCase(), name, value });

describe('unfoldHeaderLines', () => {
  it('unfolds (keeping the whitespace), splits at the first colon, reads 8-bit bytes as UTF-8', () => {
    const utf8AsBinary = Buffer.from('Subject: Grüße\r\n', 'utf8').toString('latin1');
    expect(
      unfoldHeaderLines([
        { key: 'x-long', line: 'X-Long: one\r\n two\r\n\tthree\r\n' },
        { key: 'subject', line: utf8AsBinary },
        { key: 'x-colons', line: 'X-Colons: a: b: c' },
        { key: 'x-bad', line: 'X-Bad: \xff' },
      ]),
    ).toEqual([
      { key: 'x-long', name: 'X-Long', value: 'one two\tthree' },
      { key: 'subject', name: 'Subject', value: 'Grüße' },
      { key: 'x-colons', name: 'X-Colons', value: 'a: b: c' },
      { key: 'x-bad', name: 'X-Bad', value: '\ufffd' },
    ]);
  });
});

describe('capString', () => {
  it('never splits a surrogate pair', () => {
    expect(capString('ab👋', 3)).toEqual({ value: 'ab', cut: true });
    expect(capString('ab👋', 4)).toEqual({ value: 'ab👋', cut: false });
  });
});

describe('headerList', () => {
  it('caps the count and each value, and says so', () => {
    const headers = Array.from({ length: 5 }, (_, i) => h(`X-${i}`, 'v'.repeat(i * 10)));
    expect(headerList(headers, 10, 100)).toEqual({
      list: headers.map(({ name, value }) => ({ name, value })),
      truncated: false,
    });
    const capped = headerList(headers, 3, 15);
    expect(capped.list.map((x) => x.value.length)).toEqual([0, 10, 15]);
    expect(capped.truncated).toBe(true);
  });
});

describe('parseDateHeader', () => {
  it.each([
    ['Tue, 14 Nov 2023 22:13:20 +0000', '2023-11-14T22:13:20.000Z'],
    ['14 Nov 2023 23:13:20 +0100 (CET)', '2023-11-14T22:13:20.000Z'],
    ['Tue, 14 Nov 2023 17:13:20 EST', '2023-11-14T22:13:20.000Z'],
    ['yesterday', 'invalid'],
    ['Tue, 14 Nov 99999 22:13:20 +0000', 'invalid'],
    // Not dates, though V8's fallback parser reads them (as 2001-01-01 and 2001-02-01)
    ['1', 'invalid'],
    ['Version 2', 'invalid'],
    ['Nov 2023', 'invalid'],
    // Forms seen in the wild
    ['14-Nov-2023 22:13:20 GMT', '2023-11-14T22:13:20.000Z'],
    ['Tue, 14 Nov 23 22:13 +0000', '2023-11-14T22:13:00.000Z'],
    ['2023-11-14T23:13:20+01:00', '2023-11-14T22:13:20.000Z'],
    ['Tue Nov 14 22:13:20 2023', '2023-11-14T22:13:20.000Z'],
    ['Tue, Nov 14 2023 22:13:20 -0000', '2023-11-14T22:13:20.000Z'],
    // No zone: -0000 (RFC 5322 §3.3), whatever the host's zone
    ['Tue, 14 Nov 2023 22:13:20', '2023-11-14T22:13:20.000Z'],
    ['Tue, 14 Nov 2023 22:13:20 (no zone given)', '2023-11-14T22:13:20.000Z'],
    ['2023-11-14 22:13:20', '2023-11-14T22:13:20.000Z'],
  ])('%s → %s', (value, expected) => {
    expect(parseDateHeader([h('Date', value)])).toBe(expected);
  });

  it('reads a date without a zone the same on a host in another zone', () => {
    const before = process.env.TZ;
    process.env.TZ = 'America/New_York';
    try {
      expect(parseDateHeader([h('Date', 'Tue, 14 Nov 2023 22:13:20')])).toBe('2023-11-14T22:13:20.000Z');
      expect(parseDateHeader([h('Date', 'Tue, 14 Nov 2023 22:13:20 +0100')])).toBe('2023-11-14T21:13:20.000Z');
    } finally {
      if (before === undefined) delete process.env.TZ;
      else process.env.TZ = before;
    }
  });

  it('is null without a Date header', () => {
    expect(parseDateHeader([h('Subject', 'x')])).toBeNull();
  });
});

describe('isAutoReply', () => {
  it.each([
    // RFC 3834 §5
    [[h('Auto-Submitted', 'auto-replied')], true],
    [[h('Auto-Submitted', 'auto-generated')], true],
    [[h('Auto-Submitted', 'auto-notified; owner-email="a@example.test"')], true],
    [[h('Auto-Submitted', 'No')], false],
    [[h('Auto-Submitted', 'no; comment')], false],
    // RFC 3834 §5 allows comments around the keyword
    [[h('Auto-Submitted', 'no (sent by a person)')], false],
    [[h('Auto-Submitted', '(comment) no')], false],
    [[h('Auto-Submitted', '(a (nested) comment) auto-replied')], true],
    // Pre-RFC 3834 responders
    [[h('X-Autoreply', 'yes')], true],
    [[h('X-Autorespond', 'Vacation')], true],
    [[h('X-Autoreply', 'no')], false],
    [[h('Precedence', 'auto_reply')], true],
    // Bulk and list mail are not auto-replies; suppression requests are not either
    [[h('Precedence', 'bulk')], false],
    [[h('Precedence', 'junk')], false],
    [[h('Precedence', 'list')], false],
    [[h('X-Auto-Response-Suppress', 'All')], false],
    // Bounces: the null reverse-path
    [[h('Return-Path', '<>')], true],
    [[h('Return-Path', '<a@example.test>')], false],
    [[], false],
  ])('%j → %s', (headers, expected) => {
    expect(isAutoReply(headers, 'text/plain')).toBe(expected);
  });

  it('a multipart/report (bounce, read receipt) is automatic', () => {
    expect(isAutoReply([], 'multipart/report')).toBe(true);
  });
});
