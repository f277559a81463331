/**
 * EndpointSlots against a model, over random sequences of what a delivery
 * round does to it (claims and refills adding jobs, workers taking and
 * finishing them, timeouts, hand-backs): a job is never handed out twice or
 * while its endpoint timed out, one endpoint never takes another's slot while
 * that one has jobs waiting, nothing that could go is held back, and a
 * message's event is kept exactly while a job of it is in the round, and
 * the endpoints a refill must not claim for are exactly the hanging ones.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { DeliveryJob } from '../../functions/core/ports.js';
import { EndpointSlots, type SlottedJob } from '../../functions/delivery/endpoint-slots.js';

const ENDPOINTS = ['a', 'b', 'c'];
const MESSAGES = ['m0', 'm1', 'm2', 'm3'];
const CLAIM = { sendBy: 0, writeBy: 0 };

type Op =
  | { kind: 'add'; jobs: Array<{ id: number; endpoint: number; message: number }> }
  | { kind: 'next' }
  | { kind: 'done'; pick: number; timedOut: boolean }
  | { kind: 'takeUnsendable' };

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    kind: fc.constant('add' as const),
    jobs: fc.array(
      fc.record({
        id: fc.nat({ max: 30 }),
        endpoint: fc.nat({ max: ENDPOINTS.length - 1 }),
        message: fc.nat({ max: MESSAGES.length - 1 }),
      }),
      { maxLength: 6 },
    ),
  }),
  fc.constant({ kind: 'next' as const }),
  fc.constant({ kind: 'next' as const }),
  fc.record({ kind: fc.constant('done' as const), pick: fc.nat(), timedOut: fc.boolean() }),
  fc.constant({ kind: 'takeUnsendable' as const }),
);

/** A job's identity is its webhook-id; a given id always has the same endpoint and message, as in the store. */
function jobOf(id: number, endpoint: number, message: number): DeliveryJob {
  return {
    webhookId: `msg_${id}`,
    mailbox: 'mb',
    uid: MESSAGES[message]!,
    endpointId: ENDPOINTS[endpoint]!,
    rawKey: 'raw/x',
    sha256: 'a'.repeat(64),
    createdAt: 1,
    status: 'pending',
    attempts: 0,
    nextAttemptAt: 1,
  };
}

describe('EndpointSlots', () => {
  it('keeps its invariants over any sequence of adds, hand-outs, ends and hand-backs', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 6 }),
        fc.boolean(),
        fc.array(op, { maxLength: 60 }),
        (concurrency, refill, ops) => {
          const perEndpoint = Math.max(1, Math.floor(concurrency / 2));
          const alone = Math.max(perEndpoint, refill ? concurrency - 1 : concurrency);
          const slots = new EndpointSlots({ perEndpoint, alone });
          // The model: what is waiting (in order), what is in flight, which endpoints timed out.
          const waiting: DeliveryJob[] = [];
          const inFlight: SlottedJob[] = [];
          const timedOut = new Set<string>();
          /** Each id's endpoint and message, fixed by its first appearance. */
          const identity = new Map<number, { endpoint: number; message: number }>();
          const flightOf = (endpoint: string) => inFlight.filter((s) => s.job.endpointId === endpoint).length;

          for (const step of ops) {
            if (step.kind === 'add') {
              const jobs = step.jobs.map(({ id, endpoint, message }) => {
                const known = identity.get(id) ?? { endpoint, message };
                identity.set(id, known);
                return jobOf(id, known.endpoint, known.message);
              });
              slots.add(jobs, CLAIM);
              for (const job of jobs) {
                const held =
                  waiting.some((w) => w.webhookId === job.webhookId) ||
                  inFlight.some((s) => s.job.webhookId === job.webhookId);
                if (held) continue;
                if (timedOut.has(job.endpointId) && flightOf(job.endpointId) === 0) timedOut.delete(job.endpointId);
                waiting.push(job);
              }
            } else if (step.kind === 'next') {
              // Never more requests than the round has slots (a worker asks only when it has none in flight).
              if (inFlight.length >= concurrency) continue;
              const got = slots.next();
              const startable = waiting.filter((w) => !timedOut.has(w.endpointId));
              const anyUnder = startable.some((w) => flightOf(w.endpointId) < perEndpoint);
              const limit = anyUnder ? perEndpoint : alone;
              const expected = startable.find((w) => flightOf(w.endpointId) < limit);
              // Exactly the first job the rules allow, in claim order: nothing that could go is held back.
              expect(got?.job.webhookId).toBe(expected?.webhookId);
              if (got === undefined) continue;
              expect(timedOut.has(got.job.endpointId)).toBe(false);
              expect(inFlight.some((s) => s.job.webhookId === got.job.webhookId)).toBe(false);
              waiting.splice(waiting.indexOf(expected!), 1);
              inFlight.push(got);
              expect(flightOf(got.job.endpointId)).toBeLessThanOrEqual(alone);
            } else if (step.kind === 'done') {
              if (inFlight.length === 0) continue;
              const [slotted] = inFlight.splice(step.pick % inFlight.length, 1);
              slots.done(slotted!, step.timedOut);
              if (step.timedOut) timedOut.add(slotted!.job.endpointId);
            } else {
              const taken = slots.takeUnsendable().map((s) => s.job.webhookId);
              const expected = waiting.filter((w) => timedOut.has(w.endpointId)).map((w) => w.webhookId);
              expect(taken).toEqual(expected);
              for (let at = waiting.length - 1; at >= 0; at -= 1) {
                if (timedOut.has(waiting[at]!.endpointId)) waiting.splice(at, 1);
              }
            }
            expect(slots.inFlight).toBe(inFlight.length);
            expect(slots.waiting).toBe(waiting.length);
            // Hanging: timed out and still in flight, exactly the endpoints whose jobs add() would not un-flag.
            const hanging = ENDPOINTS.filter((e) => timedOut.has(e) && flightOf(e) > 0);
            expect(
              slots
                .hanging()
                .map((ref) => ref.endpointId)
                .sort(),
            ).toEqual(hanging);
            expect(slots.hanging().every((ref) => ref.mailbox === 'mb')).toBe(true);
            for (const message of MESSAGES) {
              const held = [...waiting, ...inFlight.map((s) => s.job)].some((j) => j.uid === message);
              expect(slots.holdsMessage(`mb\0${message}`)).toBe(held);
            }
          }
          // At the end every waiting job comes back, in claim order.
          expect(slots.takeAll().map((s) => s.job.webhookId)).toEqual(waiting.map((w) => w.webhookId));
          expect(slots.waiting).toBe(0);
        },
      ),
      { numRuns: 1_000 },
    );
  });
});
