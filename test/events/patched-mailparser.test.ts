/**
 * patches/mailparser+3.14.2.patch changes two things in `MailParser` (ESM build, which parse-mime.ts loads,
 * and CommonJS build): a text part's line ends are turned into LF by splitting on CRLF instead of a regex
 * over every line break, and `endStream` no longer calls `end()` on a decoder that has already ended (Node
 * then builds an ERR_STREAM_ALREADY_FINISHED error and drops it). These tests hold the patched parser to the
 * unpatched release (installed as `mailparser-3.14.2`, which patch-package leaves alone), with parse-mime.ts's
 * options, on generated messages: same headers, texts and attachments, event for event, in any chunking.
 */
import { createRequire } from 'node:module';
import { Duplex, Readable, type Writable } from 'node:stream';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

interface ParserModule {
  MailParser: new (options: Record<string, unknown>) => NodeJS.ReadWriteStream;
}

const require = createRequire(import.meta.url);
const builds = {
  esm: {
    patched: (await import('mailparser')) as unknown as ParserModule,
    unpatched: (await import('mailparser-3.14.2')) as unknown as ParserModule,
  },
  cjs: { patched: require('mailparser') as ParserModule, unpatched: require('mailparser-3.14.2') as ParserModule },
};

/** parse-mime.ts's options that decide what is parsed (its Iconv hook only records charsets). */
const OPTIONS = {
  skipHtmlToText: false,
  skipTextToHtml: true,
  skipTextLinks: true,
  skipImageLinks: true,
  checksumAlgo: false,
};

/** Everything the parser emits, in order, as plain data. */
async function parse(module: ParserModule, chunks: readonly Buffer[]): Promise<unknown[]> {
  const parser = new module.MailParser(OPTIONS);
  const seen: unknown[] = [];
  const attachments: Promise<void>[] = [];
  parser.on('headers', (headers: Map<string, unknown>) => seen.push(['headers', JSON.stringify([...headers])]));
  parser.on('data', (item: { type: string; content?: Readable; release?: () => void } & Record<string, unknown>) => {
    if (item.type === 'text') {
      seen.push(['text', item.text, item.html]);
      return;
    }
    const { content, release, ...meta } = item;
    const entry: unknown[] = ['attachment', JSON.stringify(meta)];
    seen.push(entry);
    attachments.push(
      (async () => {
        const parts: Buffer[] = [];
        for await (const part of content as Readable) parts.push(part as Buffer);
        entry.push(Buffer.concat(parts).toString('hex'));
        release?.();
      })(),
    );
  });
  const ended = new Promise<void>((resolve, reject) => {
    parser.on('end', resolve);
    parser.on('error', reject);
  });
  Readable.from(chunks).pipe(parser as unknown as Writable);
  parser.resume?.();
  await ended;
  await Promise.all(attachments);
  return seen;
}

const lineEnd = fc.constantFrom('\r\n', '\r\n', '\n', '\r', '\r\r\n', '\n\r');
const words = fc.constantFrom('Hello', 'Grüße', 'a=3D1', '=E2=82=AC', 'x', '', ' ', '\t', '> quoted', '--');
const textBody = fc
  .array(fc.tuple(fc.array(words, { maxLength: 6 }), lineEnd), { maxLength: 30 })
  .map((lines) => lines.map(([w, eol]) => w.join(' ') + eol).join(''));

const part = fc.oneof(
  textBody.map((body) => ({ type: 'text/plain; charset=utf-8', encoding: '8bit', body })),
  textBody.map((body) => ({ type: 'text/plain; charset=iso-8859-1', encoding: 'quoted-printable', body })),
  textBody.map((body) => ({
    type: 'text/html; charset=utf-8',
    encoding: 'base64',
    body: `${Buffer.from(`<p>${body}</p>`).toString('base64')}\r\n`,
  })),
  fc.uint8Array({ maxLength: 600 }).map((bytes) => ({
    type: 'application/octet-stream; name="a.bin"',
    encoding: 'base64',
    body: `${(
      Buffer.from(bytes)
        .toString('base64')
        .match(/.{1,76}/g) ?? []
    ).join('\r\n')}\r\n`,
  })),
);

/** A message of one part, or a multipart one, whose closing boundary may be missing. */
const message = fc
  .tuple(fc.array(part, { minLength: 1, maxLength: 4 }), fc.boolean(), fc.boolean(), lineEnd)
  .map(([parts, multipart, closed, eol]) => {
    const head = `From: Ada <ada@example.test>${eol}Subject: patched${eol}MIME-Version: 1.0${eol}`;
    if (!multipart) {
      const [only] = parts;
      return `${head}Content-Type: ${only!.type}${eol}Content-Transfer-Encoding: ${only!.encoding}${eol}${eol}${only!.body}`;
    }
    const body = parts
      .map(
        (p) =>
          `--b${eol}Content-Type: ${p.type}${eol}Content-Transfer-Encoding: ${p.encoding}${eol}${eol}${p.body}${eol}`,
      )
      .join('');
    return `${head}Content-Type: multipart/mixed; boundary="b"${eol}${eol}${body}${closed ? `--b--${eol}` : ''}`;
  });

/** The message's bytes cut at the given fractions of its length. */
function cut(bytes: Buffer, at: readonly number[]): Buffer[] {
  const points = [...new Set(at.map((f) => Math.floor(f * bytes.length)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let from = 0;
  for (const point of [...points, bytes.length]) {
    if (point > from) chunks.push(bytes.subarray(from, point));
    from = Math.max(from, point);
  }
  return chunks;
}

describe('the patched MailParser against the unpatched release', () => {
  for (const [name, build] of Object.entries(builds)) {
    it(`${name}: emits the same headers, texts and attachments for any message in any chunking`, async () => {
      await fc.assert(
        fc.asyncProperty(
          message,
          fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 5 }),
          async (text, at) => {
            const chunks = cut(Buffer.from(text, 'utf8'), at);
            expect(await parse(build.patched, chunks)).toEqual(await parse(build.unpatched, chunks));
          },
        ),
        { numRuns: 300 },
      );
    });
  }

  it('no longer ends a decoder that has finished', async () => {
    const text =
      'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nHello\r\n' +
      '--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\nSGVsbG8=\r\n--b--\r\n';
    // Duplex streams (the decoders are Transforms) have their own copy of Writable's end().
    const endsAfterFinish = async (module: ParserModule): Promise<number> => {
      const end = Duplex.prototype.end;
      let late = 0;
      Duplex.prototype.end = function (this: Duplex, ...args: Parameters<typeof end>) {
        if (this.writableFinished) late += 1;
        return Reflect.apply(end, this, args) as Duplex;
      } as typeof end;
      try {
        await parse(module, [Buffer.from(text)]);
      } finally {
        Duplex.prototype.end = end;
      }
      return late;
    };
    // The unpatched parser does it on this message: the check can see it.
    expect(await endsAfterFinish(builds.esm.unpatched)).toBeGreaterThan(0);
    expect(await endsAfterFinish(builds.esm.patched)).toBe(0);
  });
});
