/**
 * signWebhook signs with node:crypto instead of the `standardwebhooks`
 * package's pure-JS SHA-256 (functions/delivery/signature.ts says why). These
 * properties pin it to the package: for arbitrary webhook ids, times, bodies
 * (any Unicode, lone surrogates included) and secrets, the headers are
 * byte-identical to `Webhook.sign`, and `Webhook.verify` accepts them with
 * every secret of a rotation.
 */
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { signWebhook } from '../../functions/delivery/signature.js';

const SEED = 4_2026;
const secretArb = fc
  .uint8Array({ minLength: 1, maxLength: 64 })
  .map((bytes) => `whsec_${Buffer.from(bytes).toString('base64')}`);
// Seconds within the range a Date can hold, fractions included (the timestamp floors them).
const dateArb = fc.integer({ min: 0, max: 4_102_444_800_000 }).map((ms) => new Date(ms));
const bodyArb = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 2000 }),
  fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)), maxLength: 200 }),
  fc.json(),
);
const idArb = fc.oneof(
  fc.string({ maxLength: 80 }),
  fc.uuid().map((u) => `msg_${u}`),
);

describe('signWebhook', () => {
  it('gives the same headers as standardwebhooks Webhook.sign, for any id, time, body (string or UTF-8 bytes) and secrets', () => {
    fc.assert(
      fc.property(
        idArb,
        dateArb,
        bodyArb,
        fc.array(secretArb, { minLength: 1, maxLength: 3 }),
        (id, at, body, secrets) => {
          const headers = signWebhook(id, at, body, secrets);
          expect(headers).toEqual({
            'webhook-id': id,
            'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
            'webhook-signature': secrets.map((s) => new Webhook(s).sign(id, at, body)).join(' '),
          });
          // The body as its UTF-8 bytes (what builtEventOf hands over) signs the same.
          expect(signWebhook(id, at, new TextEncoder().encode(body), secrets)).toEqual(headers);
        },
      ),
      { seed: SEED, numRuns: 500 },
    );
  });

  it('matches for secrets that are any string of base64 characters, canonical or not', () => {
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=';
    const looseSecret = fc
      .string({ unit: fc.constantFrom(...alphabet), minLength: 1, maxLength: 48 })
      .chain((s) => fc.constantFrom(s, `whsec_${s}`));
    fc.assert(
      fc.property(looseSecret, bodyArb, (secret, body) => {
        const at = new Date(1_700_000_000_000);
        let expected: string | Error;
        try {
          expected = new Webhook(secret).sign('msg_1', at, body);
        } catch (error) {
          expected = error as Error;
        }
        if (expected instanceof Error) {
          expect(() => signWebhook('msg_1', at, body, [secret])).toThrow(expected.message);
        } else {
          expect(signWebhook('msg_1', at, body, [secret])['webhook-signature']).toBe(expected);
        }
      }),
      { seed: SEED, numRuns: 500 },
    );
  });

  it('is verified by standardwebhooks Webhook.verify with each secret of a rotation', () => {
    fc.assert(
      fc.property(fc.array(secretArb, { minLength: 1, maxLength: 3 }), fc.json(), (secrets, body) => {
        const headers = signWebhook(`msg_${randomBytes(8).toString('hex')}`, new Date(), body, secrets);
        for (const secret of secrets) {
          expect(new Webhook(secret).verify(body, { ...headers })).toEqual(JSON.parse(body));
        }
        const stranger = `whsec_${randomBytes(32).toString('base64')}`;
        expect(() => new Webhook(stranger).verify(body, { ...headers })).toThrow('No matching signature');
      }),
      { seed: SEED, numRuns: 200 },
    );
  });

  it('signs a 1 MB body the same way (the size at which the pure-JS hash was the cost)', () => {
    const body = JSON.stringify({ text: randomBytes(700_000).toString('base64') });
    const secret = `whsec_${randomBytes(32).toString('base64')}`;
    const at = new Date();
    expect(signWebhook('msg_big', at, body, [secret])['webhook-signature']).toBe(
      new Webhook(secret).sign('msg_big', at, body),
    );
  });
});
