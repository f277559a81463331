/**
 * packages/linkify-it-unused and packages/tlds-unused stand in for linkify-it
 * and tlds under mailparser (npm overrides): mailparser reaches its linkifier
 * only from `textToHtml`, which the bridge turns off (parse-mime passes
 * `skipTextToHtml` and `skipTextLinks`). These tests check that mailparser
 * loads the stand-ins, that they cover linkify-it 5.0.2's whole API (taking
 * the configuration, refusing to find links), and that every message of the
 * fixture and hostile corpora becomes an event without the linkifier ever
 * being asked for a link.
 */
import { createRequire } from 'node:module';
import { simpleParser } from 'mailparser';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildEvent } from '../../functions/events/build-event.js';
import { HOSTILE_CASES } from '../fixtures/hostile/corpus.js';
import { fixtures } from '../support/fixtures.js';
import { type EventHarness, eventHarness, eventValidators, schemaErrors } from './support.js';

type LinkifyUnused = typeof import('../../packages/linkify-it-unused/index.js');

const require = createRequire(import.meta.url);
const fromMailparser = createRequire(require.resolve('mailparser'));
const standIn = require('../../packages/linkify-it-unused/index.js') as LinkifyUnused;
/** linkify-it 5.0.2 itself, installed as `linkify-it-5.0.2`. */
const realLinkifyIt = require('linkify-it-5.0.2') as (...args: unknown[]) => object;

const LINK_FINDERS = ['test', 'pretest', 'testSchemaAt', 'match', 'matchAtStart', 'normalize', 'onCompile'] as const;
const prototype = Object.getPrototypeOf(standIn()) as Record<string, (...args: unknown[]) => unknown>;

describe('mailparser loads the stand-ins', () => {
  it('linkify-it is packages/linkify-it-unused, tlds is packages/tlds-unused (empty, frozen)', () => {
    expect(fromMailparser('linkify-it')).toBe(standIn);
    const tlds = fromMailparser('tlds') as string[];
    expect(tlds).toEqual([]);
    expect(Object.isFrozen(tlds)).toBe(true);
    expect(fromMailparser.resolve('tlds')).toMatch(/packages\/tlds-unused\/index\.js$/);
  });
});

describe('linkify-it-unused', () => {
  it("has every method of linkify-it 5.0.2's linkifier", () => {
    const realMethods = Object.getOwnPropertyNames(Object.getPrototypeOf(realLinkifyIt())).filter(
      (name) => name !== 'constructor',
    );
    expect(realMethods.length).toBeGreaterThan(5);
    for (const name of realMethods) expect(typeof prototype[name], name).toBe('function');
  });

  it("takes mailparser's configuration calls and chains them, as linkify-it does", () => {
    const linkify = standIn();
    expect(linkify.tlds(['com', 'net']).tlds('onion', true).add('git:', 'http:').add('ftp:', null)).toBe(linkify);
    expect(linkify.set({ fuzzyIP: true, fuzzyLink: true, fuzzyEmail: true })).toBe(linkify);
    expect(linkify.configured.map(([call]) => call)).toEqual(['tlds', 'tlds', 'add', 'add', 'set']);
  });

  it.each(LINK_FINDERS)('%s throws an error that names the package and the parser options', (name) => {
    expect(() => prototype[name]?.call(standIn(), 'see https://example.com')).toThrow(standIn.NOT_INCLUDED);
    expect(standIn.NOT_INCLUDED).toMatch(/linkify-it-unused.*skipTextToHtml/);
  });
});

describe('every corpus message becomes an event without asking for a link', () => {
  const { published } = eventValidators();
  const originals = new Map(LINK_FINDERS.map((name) => [name, prototype[name]]));
  const asked: string[] = [];
  let h: EventHarness;

  beforeAll(async () => {
    h = await eventHarness();
    // Counted on the shared prototype: mailparser's module-level linkifier is an instance of it.
    for (const name of LINK_FINDERS) {
      const original = originals.get(name)!;
      prototype[name] = function counted(this: unknown, ...args: unknown[]) {
        asked.push(name);
        return original.apply(this, args);
      };
    }
  });
  afterEach(() => {
    expect(asked).toEqual([]);
  });
  afterAll(async () => {
    for (const [name, original] of originals) prototype[name] = original!;
    await h.cleanup();
  });

  const corpus = [
    ...fixtures().map((f) => [`fixture ${f.name}`, () => f.bytes] as const),
    ...HOSTILE_CASES.map((c) => [`hostile ${c.name}`, c.build] as const),
  ];

  it.each(corpus)('%s', async (_name, build) => {
    const event = await buildEvent(await h.storeRaw(build()), h.deps);
    expect(published(event), schemaErrors(published)).toBe(true);
  });

  it("the count sees mailparser's linkifier: with textAsHtml on, mailparser asks it, and gives the text without anchors", async () => {
    const parsed = await simpleParser(Buffer.from('Subject: x\r\n\r\nSee https://example.com/a here.\r\n'));
    expect(asked).toContain('pretest');
    asked.length = 0;
    expect(parsed.textAsHtml).toBe('<p>See https://example.com/a here.</p>');
  });

  it('links in a plain-text and an HTML part stay in the text as they were', async () => {
    const raw = Buffer.from(
      [
        'From: a@example.com',
        'To: b@example.com',
        'Subject: links',
        'MIME-Version: 1.0',
        'Content-Type: multipart/alternative; boundary=b',
        '',
        '--b',
        'Content-Type: text/plain; charset=utf-8',
        '',
        'See https://example.com/a?b=c and www.example.org, mail x@example.net.',
        '--b',
        'Content-Type: text/html; charset=utf-8',
        '',
        '<p>See <a href="https://example.com/a?b=c">this</a> &amp; www.example.org</p>',
        '--b--',
        '',
      ].join('\r\n'),
    );
    const event = await buildEvent(await h.storeRaw(raw), h.deps);
    expect(event.data.text).toContain('See https://example.com/a?b=c and www.example.org, mail x@example.net.');
    expect(event.data.html).toContain('<a href="https://example.com/a?b=c">this</a>');
    expect(event.data.parseErrors).toEqual([]);
  });
});
