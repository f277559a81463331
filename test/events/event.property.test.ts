/**
 * For any fixture, and for fixtures mutated at random (byte flips, cuts,
 * deletions, and insertions of MIME syntax such as boundaries, blank lines and
 * encoded-words), buildEvent resolves, the event validates against the
 * published schema (and the strict one), and its body fits the cap it was given.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildEvent } from '../../functions/events/build-event.js';
import { bodyBytes } from '../../functions/events/fit-event.js';
import { MIN_BODY_BYTES } from '../../functions/events/limits.js';
import { fixtures } from '../support/fixtures.js';
import { type EventHarness, eventHarness, eventValidators, schemaErrors } from './support.js';

const FIXTURES = fixtures();
const TOKENS = [
  '\r\n',
  '\r\n\r\n',
  '\r\n--',
  '--',
  '\r\n--alt-boundary-1b2c3d--\r\n',
  '\r\n--mixed-boundary-pdf-7e8f\r\nContent-Type: text/html; charset=utf-7\r\n\r\n',
  'Content-Type: multipart/mixed; boundary="x"\r\n',
  'Content-Transfer-Encoding: base64\r\n',
  '=?utf-8?q?=E2=80?=',
  '=?x-unknown?b?AAAA?=',
  '\x00',
  '\xff\xfe',
  ' ',
  '\r\n\t',
  '<',
  '>',
].map((t) => Buffer.from(t, 'latin1'));

type Mutation =
  | { op: 'flip'; at: number; byte: number }
  | { op: 'cut'; at: number }
  | { op: 'delete'; at: number; length: number }
  | { op: 'insert'; at: number; token: number };

const position = fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true });
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant('flip' as const), at: position, byte: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ op: fc.constant('cut' as const), at: position }),
  fc.record({ op: fc.constant('delete' as const), at: position, length: fc.integer({ min: 1, max: 200 }) }),
  fc.record({
    op: fc.constant('insert' as const),
    at: position,
    token: fc.integer({ min: 0, max: TOKENS.length - 1 }),
  }),
);

function mutate(bytes: Buffer, mutations: ReadonlyArray<Mutation>): Buffer {
  let out = Buffer.from(bytes);
  for (const m of mutations) {
    const at = Math.floor(m.at * out.length);
    switch (m.op) {
      case 'flip':
        if (out.length > 0) out[at] = m.byte;
        break;
      case 'cut':
        out = out.subarray(0, at);
        break;
      case 'delete':
        out = Buffer.concat([out.subarray(0, at), out.subarray(at + m.length)]);
        break;
      case 'insert':
        out = Buffer.concat([out.subarray(0, at), TOKENS[m.token]!, out.subarray(at)]);
        break;
    }
  }
  return out;
}

const { published, strict } = eventValidators();
let h: EventHarness;
beforeAll(async () => {
  h = await eventHarness();
});
afterAll(async () => {
  await h.cleanup();
});

describe('buildEvent (property)', () => {
  it('resolves with a schema-valid event within the body cap, for fixtures and mutated fixtures', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: FIXTURES.length - 1 }),
        fc.array(mutation, { maxLength: 6 }),
        fc.integer({ min: MIN_BODY_BYTES, max: 256 * 1024 }),
        async (index, mutations, maxBodyBytes) => {
          const raw = mutate(FIXTURES[index]!.bytes, mutations);
          const event = await buildEvent(await h.storeRaw(raw), { ...h.deps, limits: { maxBodyBytes } });
          expect(published(event), schemaErrors(published)).toBe(true);
          expect(strict(event), schemaErrors(strict)).toBe(true);
          expect(bodyBytes(event)).toBeLessThanOrEqual(maxBodyBytes);
          expect(event.data.raw.size).toBe(raw.length);
        },
      ),
      { numRuns: 200 },
    );
  });
});
