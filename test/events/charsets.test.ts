/**
 * Whole messages in each charset mail is written in, through the event
 * builder (parse-mime → mailparser → libmime → the iconv-lite adapter): the
 * subject (an RFC 2047 encoded-word) and the text body (base64) come out as
 * iconv-lite 0.7.3 decoded them before the adapter replaced it, and no
 * charset is reported as unknown. A charset only iconv-lite knew (cp437)
 * still gives an event: the text read as UTF-8 and an EVENT_ERR_CHARSET entry.
 */
import encodingJapanese from 'encoding-japanese-2.5.0';
import iconv from 'iconv-lite-0.7.3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildEvent } from '../../functions/events/build-event.js';
import { READ_CHUNK_BYTES } from '../../functions/local/folder-raw-store.js';
import { type EventHarness, eventHarness, RecordingLinkSigner } from './support.js';

/** [charset as the message names it, text written in it]. */
const CORPUS: ReadonlyArray<readonly [string, string]> = [
  ['iso-8859-1', 'Café déjà vu, naïve façade'],
  ['iso-8859-2', 'Zażółć gęślą jaźń'],
  ['iso-8859-5', 'Съешь же ещё этих мягких булок'],
  ['iso-8859-15', 'Prix : 15 €, œuvre, Ÿ'],
  ['iso-8859-16', 'Știință și tehnică'],
  ['windows-1250', 'Příliš žluťoučký kůň'],
  ['windows-1251', 'Привет, мир — тест'],
  ['windows-1252', 'Smart “quotes” – and €'],
  ['windows-1253', 'Καλημέρα κόσμε'],
  ['windows-1254', 'Günaydın dünya, ışık'],
  ['windows-1255', 'שלום עולם'],
  ['windows-1256', 'مرحبا بالعالم'],
  ['windows-1257', 'Labas rytas, ąčęėįšųūž'],
  // Vietnamese in windows-1258 is written with combining tone marks (ế = ê + U+0301).
  ['windows-1258', 'Xin chào th\u00ea\u0301 gi\u01a1\u0301i'],
  ['koi8-r', 'Привет, мир'],
  ['koi8-u', 'Привіт, світ, ґанок'],
  // KOI8-R and windows-1251 by the names iconv-lite also knows them by: Windows code page 20866, MS-CYRL.
  ['cp20866', 'Съешь же ещё этих мягких булок'],
  ['ms-cyrl', 'Съешь же ещё этих мягких булок'],
  ['ks_c_5601-1987', '한국어 메일, 똠방각하'],
  ['euc-kr', '한국어 메일 테스트'],
  ['shift_jis', '日本語のメール ｶﾀｶﾅ'],
  ['euc-jp', '日本語のメールです'],
  ['iso-2022-jp', '日本語のメール、こんにちは'],
  ['gb2312', '中文邮件测试'],
  ['gbk', '中文郵件 測試'],
  ['gb18030', '中文 € 😀 测试'],
  ['big5', '繁體中文郵件 㗎嘅'],
  ['utf-16le', 'Grüße 日本 😀'],
  ['utf-16be', 'Grüße 日本 😀'],
];

/** The bytes a mail client writes; iconv-lite has no ISO-2022-JP encoder, encoding-japanese (libmime's) does. */
function encode(text: string, charset: string): Buffer {
  if (charset === 'iso-2022-jp') {
    return Buffer.from(encodingJapanese.convert(encodingJapanese.stringToCode(text), { to: 'JIS', from: 'UNICODE' }));
  }
  return iconv.encode(text, charset);
}

/** What decoding gave before the adapters: iconv-lite 0.7.3, or encoding-japanese 2.5.0 for ISO-2022-JP. */
function decodedBefore(bytes: Buffer, charset: string): string {
  if (charset === 'iso-2022-jp') {
    return encodingJapanese.convert(bytes, { to: 'UNICODE', from: 'JIS', type: 'string' });
  }
  return iconv.decode(bytes, charset);
}

function message(charset: string, body: Buffer, subject: Buffer): Buffer {
  const lines = [
    'From: sender@example.test',
    'To: inbox@example.test',
    `Subject: =?${charset}?B?${subject.toString('base64')}?=`,
    'Message-ID: <charset@example.test>',
    'MIME-Version: 1.0',
    `Content-Type: text/plain; charset="${charset}"`,
    'Content-Transfer-Encoding: base64',
    '',
    ...(body.toString('base64').match(/.{1,76}/g) ?? []),
    '',
  ];
  return Buffer.from(lines.join('\r\n'), 'latin1');
}

let h: EventHarness;
beforeAll(async () => {
  h = await eventHarness();
});
afterAll(async () => {
  await h.cleanup();
});

describe('a message in each mail charset', () => {
  it.each(CORPUS)('%s: subject and text as iconv-lite decoded them, no charset error', async (charset, text) => {
    const body = encode(`${text}\r\nline two: ${text}`, charset);
    const subject = encode(text, charset);
    // The corpus text is encodable in its charset: what iconv-lite decodes is the text itself.
    expect(decodedBefore(subject, charset)).toBe(text);

    const event = await buildEvent(await h.storeRaw(message(charset, body, subject)), h.deps);
    expect(event.data.subject).toBe(decodedBefore(subject, charset));
    expect(event.data.text?.trimEnd()).toBe(decodedBefore(body, charset).replace(/\r\n/g, '\n'));
    expect(event.data.parseErrors).toEqual([]);
  });

  // A body line longer than a 64 KiB read reaches the charset decoder one read at a time. Here the second read ends
  // inside a malformed sequence and the third, the message's last byte, does not complete it: Node's TextDecoder
  // threw on that one-byte write, and the parse stopped there (EVENT_ERR_MIME) with the rest of the text lost.
  it.each([
    ['gb18030', [0x81, 0x30]],
    ['euc-jp', [0x8f, 0xa1]],
  ])(
    '%s: a malformed sequence cut by a read, then one more byte: the text iconv-lite gave, no error',
    async (charset, tail) => {
      const head = Buffer.from(
        `From: sender@example.test\r\nContent-Type: text/plain; charset="${charset}"\r\nContent-Transfer-Encoding: 8bit\r\n\r\n`,
      );
      const line = Buffer.alloc(2 * READ_CHUNK_BYTES - head.length, 'a');
      line.set(tail, line.length - tail.length);
      const raw = Buffer.concat([head, line, Buffer.from('A')]);
      const event = await buildEvent(await h.storeRaw(raw), h.deps);
      expect(event.data.parseErrors).toEqual([]);
      // Over the event's inline text size: the text is stored and linked.
      let text = event.data.text;
      if (text === null && event.data.textUrl !== null) {
        const chunks: Buffer[] = [];
        for await (const chunk of await h.store.get(RecordingLinkSigner.keyOf(event.data.textUrl))) chunks.push(chunk);
        text = Buffer.concat(chunks).toString('utf8');
      }
      const expected = iconv.decode(Buffer.concat([line, Buffer.from('A')]), charset);
      // Lengths and the end, not the whole text: a failure would print 128 KiB.
      expect([text?.length, text?.slice(-8)]).toEqual([expected.length, expected.slice(-8)]);
      expect(text === expected).toBe(true);
    },
  );

  it.each(['utf-7', 'UNICODE-1-1-UTF-7', 'base64'])(
    'a %s body (mailparser refuses it: UTF-7 can carry markup) is read as UTF-8 and reported',
    async (charset) => {
      const raw = message(charset, Buffer.from('+ADw-script+AD4-'), Buffer.from('x'))
        .toString('latin1')
        .replace(/^Subject: .*$/m, 'Subject: plain');
      const event = await buildEvent(await h.storeRaw(Buffer.from(raw, 'latin1')), h.deps);
      // mailparser decodes a refused charset without its Iconv option (parse-mime's recorder): an encoded-word in
      // that charset was reported (a header's charset), the body's own charset was not.
      expect(event.data.subject).toBe('plain');
      expect(event.data.text?.trimEnd()).toBe('+ADw-script+AD4-');
      expect(event.data.parseErrors).toEqual([
        {
          code: 'EVENT_ERR_CHARSET',
          message: `a body part's charset ${JSON.stringify(charset)} is unknown: read as UTF-8`,
        },
      ]);
    },
  );

  it('cp437 (iconv-lite had it, TextDecoder has not): the event is built, text read as UTF-8, EVENT_ERR_CHARSET', async () => {
    const body = iconv.encode('Box ╔═╗ and ü', 'cp437');
    const event = await buildEvent(await h.storeRaw(message('cp437', body, Buffer.from('plain'))), h.deps);
    expect(event.data.text?.trimEnd()).toBe(body.toString('utf8'));
    const charsetErrors = event.data.parseErrors.filter((e) => e.code === 'EVENT_ERR_CHARSET');
    expect(charsetErrors.map((e) => e.message)).toEqual([
      'a body part\'s charset "cp437" is unknown: read as UTF-8',
      'a header\'s charset "cp437" is unknown: read as UTF-8',
    ]);
  });
});
