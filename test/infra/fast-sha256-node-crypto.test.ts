/**
 * infra/bundling/fast-sha256-node-crypto.ts replaces fast-sha256 in the Lambda
 * bundles (an esbuild alias in BUNDLING). standardwebhooks calls its `hmac`;
 * these tests hold both functions to fast-sha256 1.3.0 itself (the copy
 * standardwebhooks resolves), for keys shorter and longer than SHA-256's
 * 64-byte block.
 */
import { createRequire } from 'node:module';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import standIn, { hash, hmac } from '../../infra/bundling/fast-sha256-node-crypto.js';
import { BUNDLING } from '../../infra/constructs/bridge-function.js';
import { esbuildArgsOptions } from '../support/bundle-handlers.js';

const fromStandardwebhooks = createRequire(createRequire(import.meta.url).resolve('standardwebhooks'));
const real = fromStandardwebhooks('fast-sha256') as {
  hmac(key: Uint8Array, data: Uint8Array): Uint8Array;
  hash(data: Uint8Array): Uint8Array;
};
const SEED = 0x5a_0256;

const bytes = (maxLength: number) => fc.uint8Array({ maxLength });

describe('fast-sha256-node-crypto', () => {
  it('is what BUNDLING substitutes for fast-sha256', () => {
    expect(esbuildArgsOptions(BUNDLING.esbuildArgs ?? {}).alias).toMatchObject({
      'fast-sha256': './infra/bundling/fast-sha256-node-crypto.ts',
    });
  });

  it('hmac equals fast-sha256 for any key and data (fast-check, seeded), as a plain Uint8Array', () => {
    fc.assert(
      fc.property(bytes(200), bytes(2_000), (key, data) => {
        const ours = hmac(key, data);
        expect(Object.getPrototypeOf(ours)).toBe(Uint8Array.prototype);
        expect(Buffer.from(ours).equals(Buffer.from(real.hmac(key, data)))).toBe(true);
      }),
      { seed: SEED, numRuns: 500 },
    );
  });

  it('hash (also the default export) equals fast-sha256 (fast-check, seeded)', () => {
    expect(standIn).toBe(hash);
    fc.assert(
      fc.property(bytes(5_000), (data) => Buffer.from(hash(data)).equals(Buffer.from(real.hash(data)))),
      { seed: SEED, numRuns: 300 },
    );
  });
});
