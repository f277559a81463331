import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BridgeError, isBridgeError } from '../../functions/core/errors.js';
import type { ObjectKind, RawStore, StoredObject } from '../../functions/core/ports.js';
import { filterSubjectOf } from '../../functions/delivery/event-source.js';
import { matchesFilters } from '../../functions/delivery/filters.js';
import { buildEvent, buildEventBody } from '../../functions/events/build-event.js';
import { bodyBytes } from '../../functions/events/fit-event.js';
import { DEFAULT_EVENT_LIMITS, MIN_BODY_BYTES } from '../../functions/events/limits.js';
import type { EmailReceivedEvent } from '../../functions/events/schema.js';
import { sha256Hex } from '../support/bytes.js';
import { ENCODED_WORDS, fixture, fixtures } from '../support/fixtures.js';
import {
  crlf,
  type EventHarness,
  eventHarness,
  eventValidators,
  FIXED_NOW,
  RecordingLinkSigner,
  schemaErrors,
} from './support.js';

const { published, strict } = eventValidators();

function expectValid(event: EmailReceivedEvent): void {
  expect(published(event), schemaErrors(published)).toBe(true);
  expect(strict(event), schemaErrors(strict)).toBe(true);
}

async function stored(h: EventHarness, url: string | null): Promise<Buffer> {
  if (url === null) throw new Error('no url');
  const stream = await h.store.get(RecordingLinkSigner.keyOf(url));
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** The decoded bytes of the first base64 body after `marker`, read without mailparser. */
function base64After(raw: Buffer, marker: string): Buffer {
  const text = raw.toString('latin1');
  const start = text.indexOf('\r\n\r\n', text.indexOf(marker)) + 4;
  const end = text.indexOf('\r\n--', start);
  return Buffer.from(text.slice(start, end).replace(/\r\n/g, ''), 'base64');
}

let h: EventHarness;
beforeEach(async () => {
  h = await eventHarness();
});
afterEach(async () => {
  await h.cleanup();
});

describe('buildEvent on the fixtures', () => {
  it('every fixture gives a schema-valid event that fits the default body cap', async () => {
    for (const f of fixtures()) {
      const event = await buildEvent(await h.storeRaw(f.bytes), h.deps);
      expectValid(event);
      expect(event.data.parseErrors, f.name).toEqual([]);
      expect(bodyBytes(event)).toBeLessThanOrEqual(DEFAULT_EVENT_LIMITS.maxBodyBytes);
    }
  });

  it('fills the envelope: type, timestamp from now(), mailbox, uid, raw size/sha256/url', async () => {
    const f = fixture('plain-text');
    const input = await h.storeRaw(f.bytes, 'UIDL-1');
    const event = await buildEvent(input, h.deps);
    expect(event.type).toBe('email.received');
    expect(event.timestamp).toBe(new Date(FIXED_NOW).toISOString());
    expect(event.data.mailbox).toBe('inbox');
    expect(event.data.uid).toBe('UIDL-1');
    expect(event.data.raw.size).toBe(f.bytes.length);
    expect(event.data.raw.sha256).toBe(sha256Hex(f.bytes));
    expect(await stored(h, event.data.raw.url)).toEqual(f.bytes);
    expect(h.links.calls.at(-1)).toEqual({
      key: input.rawKey,
      meta: { filename: 'message.eml', contentType: 'message/rfc822' },
    });
  });

  it('reads addresses, ids, date, subject and the header list of a plain message', async () => {
    const { data } = await buildEvent(await h.storeRaw(fixture('plain-text').bytes), h.deps);
    expect(data.from).toEqual([{ address: 'sender@example.test', name: 'Fixture Sender' }]);
    expect(data.to).toEqual([{ address: 'inbox@example.test', name: 'Bridge Inbox' }]);
    expect(data.cc).toEqual([]);
    expect(data.bcc).toEqual([]);
    expect(data.replyTo).toEqual([]);
    expect(data.messageId).toBe('<plain-text@fixtures.pop3-bridge.test>');
    expect(data.date).toBe('2023-11-14T22:13:20.000Z');
    expect(data.subject).toBe('Fixture plain-text');
    expect(data.inReplyTo).toBeNull();
    expect(data.references).toEqual([]);
    expect(data.headers[0]).toEqual({ name: 'Return-Path', value: '<sender@example.test>' });
    expect(data.headers.map((x) => x.name)).toContain('Message-ID');
    expect(data.text).toContain('This is a plain text message with nothing unusual in it.');
    expect(data.html).toBeNull();
    expect(data.autoReply).toBe(false);
    expect(data.attachments).toEqual([]);
  });

  it('decodes encoded-words in UTF-8, ISO-8859-1, KOI8-R, windows-1251 (names and subject)', async () => {
    const { data } = await buildEvent(await h.storeRaw(fixture('encoded-words').bytes), h.deps);
    expect(data.subject).toBe(ENCODED_WORDS.subjectUtf8B);
    expect(data.from).toEqual([{ address: 'zoe@example.test', name: ENCODED_WORDS.fromUtf8Q }]);
    expect(data.to).toEqual([{ address: 'francois@example.test', name: ENCODED_WORDS.toLatin1 }]);
    expect(data.cc).toEqual([{ address: 'ivan@example.test', name: ENCODED_WORDS.ccKoi8r }]);
    expect(data.replyTo).toEqual([{ address: 'r@example.test', name: ENCODED_WORDS.replyToWindows1251 }]);
    // The headers list is raw-ish: the ISO-2022-JP encoded-word stays encoded there.
    expect(data.headers.find((x) => x.name === 'X-Greeting')?.value).toMatch(/^=\?ISO-2022-JP\?B\?/);
    expect(data.parseErrors).toEqual([]);
  });

  it('decodes 8-bit bodies in UTF-8 and KOI8-R to the same text', async () => {
    const utf8 = await buildEvent(await h.storeRaw(fixture('8bit-cyrillic-utf8').bytes), h.deps);
    const koi8 = await buildEvent(await h.storeRaw(fixture('8bit-cyrillic-koi8r').bytes), h.deps);
    expect(utf8.data.text).toContain('Съешь же ещё этих мягких французских булок');
    expect(koi8.data.text).toBe(utf8.data.text);
  });

  it('gives both text and HTML of multipart/alternative, quoted-printable decoded', async () => {
    const { data } = await buildEvent(await h.storeRaw(fixture('html-alternative').bytes), h.deps);
    expect(data.text).toBe('Hello in plain text, with a café and a soft line break that joins this word.');
    expect(data.html).toContain('<p>Hello in <b>HTML</b>, with a café.</p>');
    expect(data.html).toContain('<a href="https://example.test/">a link</a>');
    expect(data.textUrl).toBeNull();
    expect(data.htmlUrl).toBeNull();
  });

  it('lists an attachment whose Content-Type is empty as application/octet-stream (it used to end the process)', async () => {
    // mailparser gives contentType `false` for these; toLowerCase() on it threw in a promise nobody awaited yet:
    // an unhandled rejection, which ends the event worker (or, for a message built on the main thread, the bridge).
    const rejections: unknown[] = [];
    const onRejection = (reason: unknown) => rejections.push(reason);
    process.on('unhandledRejection', onRejection);
    try {
      for (const header of ['Content-Type: ', 'Content-Type: ; name="a.bin"', 'Content-Type: (a comment)']) {
        const raw = crlf([
          'From: a@example.test',
          'Subject: empty content type',
          'Content-Type: multipart/mixed; boundary="b"',
          '',
          '--b',
          'Content-Type: text/plain',
          '',
          'hi',
          '--b',
          header,
          'Content-Disposition: attachment; filename="a.bin"',
          '',
          'payload',
          '--b--',
        ]);
        const event = await buildEvent(await h.storeRaw(raw), h.deps);
        expectValid(event);
        expect(event.data.attachments, header).toHaveLength(1);
        expect(event.data.attachments[0]).toMatchObject({ filename: 'a.bin', contentType: 'application/octet-stream' });
        expect((await stored(h, event.data.attachments[0]!.url)).toString()).toBe('payload');
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
      expect(rejections).toEqual([]);
    } finally {
      process.off('unhandledRejection', onRejection);
    }
  });

  it('reads message ids without the comments RFC 5322 allows around them', async () => {
    // mailparser only adds a missing `<` or `>` to the whole value: `<abc@x> (relay)>`, and splits References at
    // spaces, which made a comment an id of its own. Receivers thread by these.
    const raw = crlf([
      'From: a@example.test',
      'Subject: ids',
      'Message-ID: <abc@mail.example.com> (added by relay)',
      'In-Reply-To: (Alice) <m1@example.org>',
      'References: <r1@example.org> (first\r\n in thread) <r2@example.org>',
      '',
      'hi',
    ]);
    const event = await buildEvent(await h.storeRaw(raw), h.deps);
    expectValid(event);
    expect(event.data.messageId).toBe('<abc@mail.example.com>');
    expect(event.data.inReplyTo).toBe('<m1@example.org>');
    expect(event.data.references).toEqual(['<r1@example.org>', '<r2@example.org>']);
  });

  it("filters match the message's own recipients, not the event's capped list", async () => {
    // The event lists at most 100 addresses per header (and may halve them to fit its body); a `to` filter for
    // the 111th recipient recorded the message as filtered for that endpoint, for good.
    const to = Array.from({ length: 120 }, (_, i) => `staff${i}@example.com`);
    to[110] = 'support@example.org';
    const raw = crlf(['From: ceo@example.com', `To: ${to.join(', ')}`, 'Subject: all hands', '', 'hi']);
    const built = await buildEventBody(await h.storeRaw(raw), h.deps);
    expect(built.event.data.to.map((a) => a.address)).not.toContain('support@example.org');
    expect(built.event.data.truncated.addresses).toBe(true);
    expect(matchesFilters({ to: ['support@example.org'] }, filterSubjectOf(built))).toBe(true);
    expect(matchesFilters({ to: ['nobody@example.org'] }, filterSubjectOf(built))).toBe(false);
  });

  it('converts HTML-only mail to text (so replyText works too)', async () => {
    const raw = crlf([
      'From: a@example.test',
      'Subject: html only',
      'Content-Type: text/html; charset=utf-8',
      '',
      '<p>Sounds good!</p><blockquote><p>Shall we meet?</p></blockquote>',
    ]);
    const { data } = await buildEvent(await h.storeRaw(raw), h.deps);
    expect(data.html).toContain('<p>Sounds good!</p>');
    expect(data.text).toContain('Sounds good!');
    expect(data.text).toContain('> Shall we meet?');
    expect(data.replyText).toBe('Sounds good!');
  });

  it('stores an attachment whose sha256 is that of the decoded content, with a signed link', async () => {
    const f = fixture('attachment-pdf');
    const decoded = base64After(f.bytes, 'Content-Type: application/pdf');
    const input = await h.storeRaw(f.bytes);
    const { data } = await buildEvent(input, h.deps);
    expect(data.text).toBe('The invoice is attached.');
    expect(data.attachments).toHaveLength(1);
    const [attachment] = data.attachments;
    expect(attachment).toMatchObject({
      filename: 'invoice-2023-11.pdf',
      contentType: 'application/pdf',
      size: decoded.length,
      sha256: sha256Hex(decoded),
      contentId: null,
      disposition: 'attachment',
    });
    expect(await stored(h, attachment!.url)).toEqual(decoded);
    expect(h.links.calls.find((c) => c.key.startsWith('att/'))?.meta).toEqual({
      filename: 'invoice-2023-11.pdf',
      contentType: 'application/pdf',
      source: input.rawKey,
    });
  });

  it('streams a 3 MB attachment into the store intact', async () => {
    const f = fixture('attachment-3mb');
    const decoded = base64After(f.bytes, 'Content-Type: application/octet-stream');
    const { data } = await buildEvent(await h.storeRaw(f.bytes), h.deps);
    expect(data.attachments[0]?.sha256).toBe(sha256Hex(decoded));
    expect(data.attachments[0]?.size).toBe(decoded.length);
  });

  it('stores the same attachment in two messages once (content-addressed)', async () => {
    const f = fixture('attachment-pdf');
    const other = Buffer.from(
      f.bytes.toString('latin1').replace('Subject: Fixture attachment-pdf', 'Subject: again'),
      'latin1',
    );
    const first = await buildEvent(await h.storeRaw(f.bytes), h.deps);
    const second = await buildEvent(await h.storeRaw(other), h.deps);
    expect(first.data.raw.sha256).not.toBe(second.data.raw.sha256);
    expect(second.data.attachments[0]?.sha256).toBe(first.data.attachments[0]?.sha256);
    expect(second.data.attachments[0]?.url).toBe(first.data.attachments[0]?.url);
    expect(await h.listObjects('att')).toHaveLength(1);
    expect(await h.listObjects('raw')).toHaveLength(2);
  });

  it('keeps an attached message/rfc822 whole, as one attachment', async () => {
    const { data } = await buildEvent(await h.storeRaw(fixture('nested-rfc822').bytes), h.deps);
    expect(data.text).toBe('A forwarded message is attached.');
    expect(data.attachments).toHaveLength(1);
    expect(data.attachments[0]).toMatchObject({ filename: 'forwarded.eml', contentType: 'message/rfc822' });
    const inner = (await stored(h, data.attachments[0]!.url)).toString('latin1');
    expect(inner).toMatch(/^From: Original Sender <original@example\.test>\r\n/);
    expect(inner).toContain('filename="data.csv"');
  });

  it('parses an inline message/rfc822: its text joins the body, its attachments are listed', async () => {
    const raw = Buffer.from(
      fixture('nested-rfc822')
        .bytes.toString('latin1')
        .replace('Content-Disposition: attachment; filename="forwarded.eml"', 'Content-Disposition: inline'),
      'latin1',
    );
    const { data } = await buildEvent(await h.storeRaw(raw), h.deps);
    expect(data.text).toContain('A forwarded message is attached.');
    expect(data.text).toContain('The original body.');
    expect(data.attachments.map((a) => [a.filename, a.contentType])).toEqual([['data.csv', 'text/csv']]);
    expect((await stored(h, data.attachments[0]!.url)).toString()).toBe('id,name\r\n1,alpha\r\n2,beta\r\n');
  });

  it('lists inline images with their Content-ID (without brackets) and disposition', async () => {
    const png = Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex');
    const raw = crlf([
      'From: a@example.test',
      'Subject: related',
      'Content-Type: multipart/related; boundary="rel"',
      '',
      '--rel',
      'Content-Type: text/html',
      '',
      '<img src="cid:logo@example.test">',
      '--rel',
      'Content-Type: image/png',
      'Content-Disposition: inline',
      'Content-ID: <logo@example.test>',
      'Content-Transfer-Encoding: base64',
      '',
      png.toString('base64'),
      '--rel--',
    ]);
    const { data } = await buildEvent(await h.storeRaw(raw), h.deps);
    expect(data.attachments).toEqual([
      expect.objectContaining({
        filename: null,
        contentType: 'image/png',
        contentId: 'logo@example.test',
        disposition: 'inline',
        sha256: sha256Hex(png),
      }),
    ]);
    expect(data.html).toContain('cid:logo@example.test');
  });

  it('reads In-Reply-To and References, and the reply text of a threaded reply', async () => {
    const raw = crlf([
      'From: Bob <bob@example.test>',
      'To: alice@example.test',
      'Subject: Re: lunch',
      'In-Reply-To: <m2@example.test>',
      'References: <m1@example.test>',
      ' <m2@example.test>',
      'Content-Type: text/plain; charset=utf-8',
      '',
      'Yes, 12:30 works.',
      '',
      'On Tue, 14 Nov 2023 at 10:00, Alice <alice@example.test> wrote:',
      '> Lunch tomorrow?',
      '>> earlier',
    ]);
    const { data } = await buildEvent(await h.storeRaw(raw), h.deps);
    expect(data.inReplyTo).toBe('<m2@example.test>');
    expect(data.references).toEqual(['<m1@example.test>', '<m2@example.test>']);
    expect(data.replyText).toBe('Yes, 12:30 works.');
    expect(data.text).toContain('> Lunch tomorrow?');
  });

  it.each([
    ['Auto-Submitted: auto-replied', true],
    ['Auto-Submitted: no', false],
    ['X-Autoreply: yes', true],
    ['Precedence: bulk', false],
    ['X-Auto-Response-Suppress: All', false],
  ])('autoReply end to end: %s → %s', async (header, expected) => {
    const raw = crlf(['From: a@example.test', header, 'Subject: Out of office', '', 'I am away.']);
    const { data } = await buildEvent(await h.storeRaw(raw), h.deps);
    expect(data.autoReply).toBe(expected);
  });

  it('an unparseable Date gives date null and EVENT_ERR_DATE (mailparser would say "now")', async () => {
    const raw = crlf(['From: a@example.test', 'Date: the day after tomorrow', '', 'x']);
    const { data } = await buildEvent(await h.storeRaw(raw), h.deps);
    expect(data.date).toBeNull();
    expect(data.parseErrors.map((e) => e.code)).toEqual(['EVENT_ERR_DATE']);
  });
});

describe('buildEvent: the body cap', () => {
  function bigTextMessage(textChars: number, htmlChars: number): Buffer {
    const b = 'alt';
    return crlf([
      'From: a@example.test',
      'Subject: big',
      `Content-Type: multipart/alternative; boundary="${b}"`,
      '',
      `--${b}`,
      'Content-Type: text/plain; charset=utf-8',
      '',
      ...Array.from({ length: Math.ceil(textChars / 50) }, (_, i) => `line ${i} ${'t'.repeat(40)}`),
      `--${b}`,
      'Content-Type: text/html; charset=utf-8',
      '',
      ...Array.from({ length: Math.ceil(htmlChars / 50) }, (_, i) => `<p>${i} ${'h'.repeat(40)}</p>`),
      `--${b}--`,
    ]);
  }

  it('moves a large HTML body to htmlUrl and keeps the text inline when that is enough', async () => {
    const { data, ...rest } = await buildEvent(await h.storeRaw(bigTextMessage(10_000, 400_000)), h.deps);
    const event = { data, ...rest };
    expectValid(event);
    expect(data.html).toBeNull();
    expect(data.truncated.html).toBe(true);
    expect(data.htmlUrl).not.toBeNull();
    expect((await stored(h, data.htmlUrl)).toString('utf8')).toMatch(/^<p>0 h+<\/p>/);
    expect(data.text).not.toBeNull();
    expect(data.truncated.text).toBe(false);
    expect(data.textUrl).toBeNull();
    expect(bodyBytes(event)).toBeLessThanOrEqual(DEFAULT_EVENT_LIMITS.maxBodyBytes);
  });

  it('moves both bodies when both are large; the stored text is the full text', async () => {
    const raw = bigTextMessage(300_000, 300_000);
    const event = await buildEvent(await h.storeRaw(raw), h.deps);
    expectValid(event);
    const { data } = event;
    expect([data.text, data.html]).toEqual([null, null]);
    expect(data.truncated).toMatchObject({ text: true, html: true });
    const text = (await stored(h, data.textUrl)).toString('utf8');
    expect(text.startsWith('line 0 ')).toBe(true);
    expect(text.length).toBeGreaterThan(300_000);
    expect(h.links.calls.find((c) => c.meta.filename === 'body.txt')?.meta.contentType).toBe(
      'text/plain; charset=utf-8',
    );
    expect(bodyBytes(event)).toBeLessThanOrEqual(DEFAULT_EVENT_LIMITS.maxBodyBytes);
  });

  it('honours a smaller configured cap with every fixture', async () => {
    for (const f of fixtures()) {
      const event = await buildEvent(await h.storeRaw(f.bytes), {
        ...h.deps,
        limits: { maxBodyBytes: MIN_BODY_BYTES },
      });
      expectValid(event);
      expect(bodyBytes(event), f.name).toBeLessThanOrEqual(MIN_BODY_BYTES);
    }
  });

  it('rejects a cap under the minimum at once (a configuration error, not bad input)', async () => {
    const input = await h.storeRaw(fixture('plain-text').bytes);
    await expect(buildEvent(input, { ...h.deps, limits: { maxBodyBytes: 1000 } })).rejects.toThrow(RangeError);
  });
});

/** A RawStore that delegates to the harness's store, with hooks to make it misbehave. */
class FaultyStore implements RawStore {
  constructor(
    private readonly inner: RawStore,
    private readonly faults: {
      put?: (input: Readable, kind: ObjectKind) => Promise<StoredObject> | undefined;
      get?: (key: string, real: Readable) => Readable;
    },
  ) {}

  put(input: Readable, kind: ObjectKind): Promise<StoredObject> {
    return this.faults.put?.(input, kind) ?? this.inner.put(input, kind);
  }

  async get(key: string): Promise<Readable> {
    const real = await this.inner.get(key);
    return this.faults.get ? this.faults.get(key, real) : real;
  }

  has(key: string): Promise<boolean> {
    return this.inner.has(key);
  }
}

function withAttachmentThenText(): Buffer {
  const payload = Buffer.alloc(200_000, 0x42);
  return crlf([
    'From: a@example.test',
    'Subject: attachment first',
    'Content-Type: multipart/mixed; boundary="af"',
    '',
    '--af',
    'Content-Type: application/octet-stream; name="blob.bin"',
    'Content-Transfer-Encoding: base64',
    '',
    ...(payload.toString('base64').match(/.{1,76}/g) ?? []),
    '--af',
    'Content-Type: text/plain',
    '',
    'text after the attachment',
    '--af--',
  ]);
}

describe('buildEvent: failures', () => {
  it('an attachment the store cannot take: listed without sha256/url, EVENT_ERR_ATTACHMENT_STORE, parse goes on', async () => {
    const store = new FaultyStore(h.store, {
      put: (input, kind) => {
        if (kind !== 'attachment') return undefined;
        // Read a little, then fail like a full disk would.
        return new Promise((_resolve, reject) => {
          input.once('data', () => {
            input.destroy();
            reject(new BridgeError('STORE_ERR_IO', 'disk full'));
          });
        });
      },
    });
    const event = await buildEvent(await h.storeRaw(withAttachmentThenText()), { ...h.deps, store });
    expectValid(event);
    const { data } = event;
    expect(data.attachments).toEqual([
      {
        filename: 'blob.bin',
        contentType: 'application/octet-stream',
        size: 200_000,
        sha256: null,
        contentId: null,
        disposition: 'attachment',
        url: null,
      },
    ]);
    expect(data.parseErrors.map((e) => e.code)).toEqual(['EVENT_ERR_ATTACHMENT_STORE']);
    expect(data.parseErrors[0]?.message).toContain('STORE_ERR_IO');
    expect(data.text).toBe('text after the attachment');
  });

  it('a body that cannot be stored as a link: null, truncated, EVENT_ERR_BODY_STORE', async () => {
    const raw = crlf(['From: a@example.test', 'Content-Type: text/plain', '', 'x'.repeat(400_000)]);
    const store = new FaultyStore(h.store, {
      put: (_input, kind) =>
        kind === 'attachment' ? Promise.reject(new BridgeError('STORE_ERR_IO', 'no')) : undefined,
    });
    const event = await buildEvent(await h.storeRaw(raw), { ...h.deps, store });
    expectValid(event);
    expect(event.data).toMatchObject({ text: null, textUrl: null, truncated: { text: true } });
    expect(event.data.parseErrors.map((e) => e.code)).toEqual(['EVENT_ERR_BODY_STORE']);
  });

  it('a parse that outlives its time budget: source destroyed, partial event with EVENT_ERR_TIMEOUT, no temp files', async () => {
    const raw = withAttachmentThenText();
    let source: PassThrough | undefined;
    const store = new FaultyStore(h.store, {
      // Hand over the first 60%, then stall like a hung network read: the parse is mid-attachment.
      get: (_key, real) => {
        real.destroy();
        source = new PassThrough();
        source.write(raw.subarray(0, Math.floor(raw.length * 0.6)));
        return source;
      },
    });
    const started = performance.now();
    const event = await buildEvent(await h.storeRaw(raw), { ...h.deps, store, limits: { parseTimeoutMs: 300 } });
    expect(performance.now() - started).toBeLessThan(2_000);
    expectValid(event);
    expect(source?.destroyed).toBe(true);
    expect(event.data.subject).toBe('attachment first');
    expect(event.data.parseErrors.map((e) => e.code)).toEqual(['EVENT_ERR_TIMEOUT']);
    // The attachment in flight was incomplete: not listed, and its temp file is gone.
    expect(event.data.attachments).toEqual([]);
    expect(await h.listObjects('att')).toEqual([]);
    const tempFiles = await readdir(join(h.dir, 'tmp'), { recursive: true, withFileTypes: true }).catch(() => []);
    expect(tempFiles.filter((e) => e.isFile())).toEqual([]);
  });

  it('after a timeout the text of the parts already parsed is kept', async () => {
    const raw = crlf([
      'From: a@example.test',
      'Subject: slow',
      'Content-Type: multipart/mixed; boundary="s"',
      '',
      '--s',
      'Content-Type: text/plain',
      '',
      'first part arrived',
      '--s',
      'Content-Type: text/plain',
      '',
      'second part never ends',
      // mailparser hands input to its splitter in 64 KiB chunks (mailsplit's ChunkedPassthrough): a stalled
      // source's last partial chunk is never parsed, so the stall must come after the first 64 KiB.
      ...Array.from({ length: 1_500 }, () => 'filler '.repeat(10)),
    ]);
    const store = new FaultyStore(h.store, {
      get: (_key, real) => {
        real.destroy();
        const source = new PassThrough();
        source.write(raw);
        return source;
      },
    });
    const event = await buildEvent(await h.storeRaw(raw), { ...h.deps, store, limits: { parseTimeoutMs: 200 } });
    expect(event.data.text).toContain('first part arrived');
    expect(event.data.parseErrors.map((e) => e.code)).toEqual(['EVENT_ERR_TIMEOUT']);
  });

  it('a message over maxParseBytes is parsed up to the cap and reported', async () => {
    const f = fixture('attachment-3mb');
    const event = await buildEvent(await h.storeRaw(f.bytes), { ...h.deps, limits: { maxParseBytes: 1024 * 1024 } });
    expectValid(event);
    expect(event.data.subject).toBe('Fixture big-3145728-3');
    expect(event.data.attachments).toEqual([]);
    expect(event.data.parseErrors.map((e) => e.code)).toEqual(['EVENT_ERR_LIMIT']);
    expect(event.data.raw.size).toBe(f.bytes.length);
  });

  it('a raw object that does not match its record is reported (EVENT_ERR_RAW_MISMATCH)', async () => {
    const input = await h.storeRaw(fixture('plain-text').bytes);
    const event = await buildEvent({ ...input, rawSha256: '0'.repeat(64) }, h.deps);
    expect(event.data.parseErrors.map((e) => e.code)).toEqual(['EVENT_ERR_RAW_MISMATCH']);
    expect(event.data.raw.sha256).toBe('0'.repeat(64));
  });

  it('a missing raw object rejects with STORE_ERR_NOT_FOUND', async () => {
    const input = await h.storeRaw(fixture('plain-text').bytes);
    const error = await buildEvent({ ...input, rawKey: `raw/00/${'0'.repeat(64)}.eml` }, h.deps).catch((e) => e);
    expect(isBridgeError(error, 'STORE_ERR_NOT_FOUND')).toBe(true);
  });

  it('a raw object that fails mid-read rejects with STORE_ERR_IO (retryable), cause kept', async () => {
    const cause = Object.assign(new Error('EIO: i/o error, read'), { code: 'EIO' });
    const store = new FaultyStore(h.store, {
      get: (_key, real) => {
        real.destroy();
        const source = new PassThrough();
        source.write('From: a@example.test\r\nSubject: x\r\n\r\nsome');
        setTimeout(() => source.destroy(cause), 20);
        return source;
      },
    });
    const error = await buildEvent(await h.storeRaw(fixture('plain-text').bytes), { ...h.deps, store }).catch(
      (e: unknown) => e,
    );
    expect(isBridgeError(error, 'STORE_ERR_IO')).toBe(true);
    expect((error as BridgeError).retryable).toBe(true);
    expect((error as BridgeError).cause).toBe(cause);
  });

  it('the raw stream keeps none of the parse once the event is built (ended or stopped at its cap)', async () => {
    // A listener left on a stream that outlives the parse closes over the parser's text and headers; in V8's
    // old generation that kept them through every scavenge (docs/performance.md, 2026-11-29, 14:30–16:10).
    const sources: Readable[] = [];
    const store = new FaultyStore(h.store, {
      get: (_key, real) => {
        sources.push(real);
        return real;
      },
    });
    const input = await h.storeRaw(fixture('attachment-pdf').bytes);
    await buildEvent(input, { ...h.deps, store });
    const stopped = await buildEvent(input, { ...h.deps, store, limits: { maxParseBytes: 1024 } });
    expect(stopped.data.parseErrors.map((e) => e.code)).toContain('EVENT_ERR_LIMIT');
    expect(sources).toHaveLength(2);
    const errorListeners = new Set(sources.flatMap((s) => s.listeners('error')));
    // Exactly one error listener per stream, a shared no-op (late errors of a destroyed stream must not be
    // uncaught): the same function for both parses, nothing that belongs to one of them.
    expect(errorListeners.size).toBe(1);
    for (const source of sources) {
      expect(source.listenerCount('error')).toBe(1);
      expect(source.listenerCount('data') + source.listenerCount('readable') + source.listenerCount('end')).toBe(0);
    }
  });

  it('a LinkSigner failure propagates untouched', async () => {
    const failure = new Error('no credentials to presign with');
    const links = { linkFor: () => Promise.reject(failure) };
    await expect(buildEvent(await h.storeRaw(fixture('plain-text').bytes), { ...h.deps, links })).rejects.toBe(failure);
  });
});
