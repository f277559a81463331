/**
 * The header comparison that decides whether a message listed under a UIDL is the one stored under it, after
 * a QUIT whose outcome was not recorded (poll-mailbox.ts, `deleSentAt`). The poll tests against the scripted
 * server cover the decisions; these cover the comparison itself: the fields compared (Message-ID and Received),
 * folding, line ends, chunk boundaries, and the fields a server may rewrite without making it another message.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  compareHeaderSections,
  headerSection,
  MAX_COMPARED_HEADER_BYTES,
  readStoredHeaders,
} from '../../functions/core/poll/same-message.js';
import type { RawStore } from '../../functions/core/ports.js';
import { FolderRawStore } from '../../functions/local/folder-raw-store.js';

const SEED = 20261130;

const value = fc.stringMatching(/^[!-~][ -~]{0,38}[!-~]$/);
/** Any field but the compared ones (Message-ID, Received): a server may rewrite these. */
const otherField = fc
  .tuple(
    fc
      .stringMatching(/^[A-Za-z][A-Za-z0-9-]{0,15}$/)
      .filter((n) => !['message-id', 'received'].includes(n.toLowerCase())),
    value,
  )
  .map(([name, v]) => `${name}: ${v}`);
/** Trace and identity fields, sometimes folded over two lines (RFC 5322 §2.2.3). */
const originField = fc
  .tuple(fc.constantFrom('Received', 'Message-ID', 'received', 'MESSAGE-ID'), value, value, fc.boolean())
  .map(([name, a, b, folded]) => (folded ? `${name}: ${a}\r\n\t${b}` : `${name}: ${a} ${b}`));
/** A header: at least one origin field among others. */
const header = fc
  .tuple(fc.array(originField, { minLength: 1, maxLength: 5 }), fc.array(otherField, { maxLength: 8 }), fc.nat())
  .map(([origin, others, seed]) => {
    const out = [...origin];
    for (const [i, f] of others.entries()) out.splice((seed + i * 7) % (out.length + 1), 0, f);
    return out;
  });
const body = fc.stringMatching(/^[ -~\r\n]{0,200}$/);

function message(headerFields: ReadonlyArray<string>, text: string): Buffer {
  return Buffer.from(`${headerFields.join('\r\n')}\r\n\r\n${text}`, 'latin1');
}

/** What `TOP n 0` gives for a message: its headers and the blank line. */
function top(headerFields: ReadonlyArray<string>): Buffer {
  return Buffer.from(`${headerFields.join('\r\n')}\r\n\r\n`, 'latin1');
}

const isOrigin = (f: string) => /^(received|message-id):/i.test(f);

describe('compareHeaderSections', () => {
  it('a stored message and its TOP n 0 are the same, whatever the body', () => {
    fc.assert(
      fc.property(header, body, (h, text) => {
        expect(compareHeaderSections(headerSection(top(h)), headerSection(message(h, text)))).toBe('same');
      }),
      { seed: SEED, numRuns: 300 },
    );
  });

  it('other fields added, removed or rewritten (Status: RO, a new boundary, a re-encoded Subject) leave it the same', () => {
    fc.assert(
      fc.property(header, fc.array(otherField, { minLength: 1, maxLength: 3 }), fc.nat(), (h, added, at) => {
        const rewritten = h.filter(isOrigin);
        rewritten.splice(at % (rewritten.length + 1), 0, ...added);
        expect(compareHeaderSections(headerSection(top(rewritten)), headerSection(message(h, 'body')))).toBe('same');
      }),
      { seed: SEED, numRuns: 300 },
    );
  });

  it('refolded or re-spaced trace fields are the same', () => {
    const stored = message(
      ['Received: from a.example (a [192.0.2.1])\r\n\tby b.example; Mon, 30 Nov 2026', 'Message-ID: <x@y>'],
      'b',
    );
    const listed = top([
      'Received: from a.example (a [192.0.2.1]) by b.example;',
      ' Mon, 30 Nov 2026',
      'Message-ID:  <x@y>',
    ]);
    expect(compareHeaderSections(headerSection(listed), headerSection(stored))).toBe('same');
  });

  it('a changed, added or removed Message-ID or Received field is another message', () => {
    fc.assert(
      fc.property(header, originField, fc.nat(), fc.constantFrom('change', 'add', 'remove'), (h, other, at, how) => {
        const origins = h.map((f, i) => [f, i] as const).filter(([f]) => isOrigin(f));
        const [, i] = origins[at % origins.length]!;
        const changed = [...h];
        if (how === 'change') changed[i] = `${changed[i]}x`;
        else if (how === 'add') changed.splice(i, 0, other);
        else changed.splice(i, 1);
        fc.pre(how !== 'remove' || origins.length > 1);
        expect(compareHeaderSections(headerSection(top(changed)), headerSection(message(h, 'body')))).toBe('different');
      }),
      { seed: SEED, numRuns: 300 },
    );
  });

  it('bare LF line ends, as some servers store and send them, compare like CRLF', () => {
    const lf = Buffer.from('Subject: a\nReceived: from x\n\tby y\n\nbody\nmore\n');
    const topLf = Buffer.from('Subject: a\nReceived: from x\n\tby y\n\n');
    expect(compareHeaderSections(headerSection(topLf), headerSection(lf))).toBe('same');
    expect(headerSection(lf).toString()).toBe('Subject: a\nReceived: from x\n\tby y\n\n');
  });

  it('two sections without Message-ID or Received are unknown, never the same', () => {
    expect(compareHeaderSections(Buffer.from('\r\n'), Buffer.from('\r\n'))).toBe('unknown');
    expect(compareHeaderSections(top(['Status: RO']), Buffer.from('\r\n'))).toBe('unknown');
    expect(compareHeaderSections(top(['Subject: a', 'From: b@c']), top(['Subject: a', 'From: b@c']))).toBe('unknown');
    expect(compareHeaderSections(top(['Message-ID: <a@b>']), Buffer.from('\r\n'))).toBe('different');
  });

  it('a section that could not be read is unknown, never the same', () => {
    expect(compareHeaderSections(undefined, top(['Message-ID: <a@b>']))).toBe('unknown');
    expect(compareHeaderSections(top(['Message-ID: <a@b>']), undefined)).toBe('unknown');
  });
});

describe('readStoredHeaders', () => {
  let dir: string;
  let store: FolderRawStore;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'pop3-bridge-same-message-'));
    store = new FolderRawStore(path.join(dir, 'mail'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function put(bytes: Buffer): Promise<string> {
    return (await store.put(Readable.from([bytes]), 'raw')).key;
  }

  it('reads exactly the header section of a stored message', async () => {
    await fc.assert(
      fc.asyncProperty(header, body, async (f, text) => {
        const whole = message(f, text);
        const key = await put(whole);
        expect((await readStoredHeaders(store, key))?.equals(headerSection(whole))).toBe(true);
      }),
      { seed: SEED, numRuns: 40 },
    );
  });

  it('a blank line split between the chunks the store hands out is still found', async () => {
    // A header section longer than one read of the store (64 KiB), ending at every offset around the boundary.
    for (const pad of [65_530, 65_531, 65_532, 65_533, 65_534, 65_535, 65_536]) {
      const whole = message([`X-Pad: ${'p'.repeat(pad - 10)}`, 'Subject: s'], 'body\r\n\r\nmore');
      const key = await put(whole);
      expect((await readStoredHeaders(store, key))?.equals(headerSection(whole))).toBe(true);
    }
  });

  it('a message without header fields, and one whose blank line comes in its first bytes, in any pieces', async () => {
    for (const raw of ['\r\nbody', '\nbody', 'A: b\r\n\r\n', 'A: b\n\nc', 'A: b']) {
      const whole = Buffer.from(raw);
      for (let cut = 1; cut < whole.length; cut += 1) {
        // Pieces as a store might hand them out: the readers of the real stores cut at 64 KiB (test above).
        const pieces = [whole.subarray(0, cut), whole.subarray(cut, cut + 1), whole.subarray(cut + 1)];
        const pieceStore = { get: async () => Readable.from(pieces.filter((p) => p.length > 0)) } as Pick<
          RawStore,
          'get'
        > as RawStore;
        expect((await readStoredHeaders(pieceStore, 'k'))?.toString()).toBe(headerSection(whole).toString());
      }
    }
  });

  it('a missing object or a header section above the cap is undefined (the caller fetches the message as new)', async () => {
    expect(await readStoredHeaders(store, `raw/00/${'0'.repeat(64)}.eml`)).toBeUndefined();
    const huge = message([`X-Huge: ${'h'.repeat(MAX_COMPARED_HEADER_BYTES + 10)}`], 'body');
    expect(await readStoredHeaders(store, await put(huge))).toBeUndefined();
  });
});
