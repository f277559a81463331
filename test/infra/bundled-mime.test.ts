/**
 * In the Lambda bundles, BUNDLING aliases `libmime` to its CommonJS build, so
 * mailparser and functions/events use the copy mailsplit requires instead of
 * the ES build they import everywhere else (tsx, vitest). Both builds come
 * from the same sources; this test holds the bundled event builder to the
 * unbundled one: every message of the fixture and hostile corpora, and
 * seeded encoded-word headers, give the same event.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { build, type Metafile } from 'esbuild';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildEvent } from '../../functions/events/build-event.js';
import { BUNDLING } from '../../infra/constructs/bridge-function.js';
import { type EventHarness, eventHarness } from '../events/support.js';
import { HOSTILE_CASES } from '../fixtures/hostile/corpus.js';
import { esbuildOptionsFrom } from '../support/bundle-handlers.js';
import { fixtures } from '../support/fixtures.js';

const ENTRY = path.resolve('functions/events/build-event.ts');
const SEED = 0x11b_e1e;

let dir: string;
let h: EventHarness;
let bundledBuildEvent: typeof buildEvent;
let bundledInputs: string[];

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'pop3-bridge-bundled-mime-'));
  const options = esbuildOptionsFrom(BUNDLING, ENTRY, dir);
  const result = await build({ ...options, metafile: true });
  bundledInputs = Object.keys((result.metafile as Metafile).inputs);
  ({ buildEvent: bundledBuildEvent } = (await import(pathToFileURL(options.outfile as string).href)) as {
    buildEvent: typeof buildEvent;
  });
  h = await eventHarness();
}, 60_000);

afterAll(async () => {
  await h?.cleanup();
  await rm(dir, { recursive: true, force: true });
});

async function bothBuilders(raw: Buffer) {
  const input = await h.storeRaw(raw);
  return { bundled: await bundledBuildEvent(input, h.deps), unbundled: await buildEvent(input, h.deps) };
}

describe('the bundled event builder (libmime: one CommonJS build) equals the unbundled one', () => {
  it('the bundle has only the CommonJS libmime; the unbundled builder runs the ES one', () => {
    expect(
      bundledInputs.filter((file) => /node_modules\/libmime\/dist\//.test(file)).every((f) => f.includes('/cjs/')),
    ).toBe(true);
    expect(bundledInputs.some((file) => /node_modules\/libmime\/dist\/cjs\/libmime\.js$/.test(file))).toBe(true);
    expect(import.meta.resolve('libmime')).toMatch(/libmime\/dist\/esm\/libmime\.js$/);
  });

  const corpus = [
    ...fixtures().map((f) => [`fixture ${f.name}`, () => f.bytes] as const),
    ...HOSTILE_CASES.map((c) => [`hostile ${c.name}`, c.build] as const),
  ];

  it.each(corpus)('%s', async (_name, raw) => {
    const { bundled, unbundled } = await bothBuilders(raw());
    expect(bundled).toEqual(unbundled);
  });

  it('encoded-word headers and parameters in many charsets (fast-check, seeded)', async () => {
    const charset = fc.constantFrom(
      'utf-8',
      'iso-8859-1',
      'iso-8859-2',
      'windows-1251',
      'koi8-r',
      'gbk',
      'shift_jis',
      'x-unknown',
    );
    const word = fc
      .tuple(charset, fc.constantFrom('B', 'Q'), fc.string({ unit: 'grapheme', maxLength: 12 }))
      .map(
        ([cs, enc, text]) =>
          `=?${cs}?${enc}?${enc === 'B' ? Buffer.from(text).toString('base64') : encodeURIComponent(text).replace(/%/g, '=')}?=`,
      );
    await fc.assert(
      fc.asyncProperty(fc.array(word, { minLength: 1, maxLength: 4 }), async (words) => {
        const raw = Buffer.from(
          [
            `From: ${words[0]} <a@example.com>`,
            `Subject: ${words.join(' ')}`,
            'MIME-Version: 1.0',
            'Content-Type: multipart/mixed; boundary=b',
            '',
            '--b',
            'Content-Type: text/plain; charset=utf-8',
            '',
            'body',
            '--b',
            `Content-Type: application/octet-stream; name="${words[0]}"`,
            `Content-Disposition: attachment; filename*=utf-8''${encodeURIComponent(words.join(''))}`,
            '',
            'x',
            '--b--',
            '',
          ].join('\r\n'),
        );
        const { bundled, unbundled } = await bothBuilders(raw);
        expect(bundled).toEqual(unbundled);
      }),
      { seed: SEED, numRuns: 60 },
    );
  });
});
