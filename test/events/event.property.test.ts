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
import { mutate, mutation } from '../fuzz/arbitraries.js';
import { fixtures } from '../support/fixtures.js';
import { type EventHarness, eventHarness, eventValidators, schemaErrors } from './support.js';

const FIXTURES = fixtures();
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
