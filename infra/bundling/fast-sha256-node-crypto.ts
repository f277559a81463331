/**
 * Stands in for `fast-sha256` inside the Lambda bundles only (an esbuild alias
 * in `BUNDLING`, infra/constructs/bridge-function.ts): its `hmac` and `hash`
 * over node:crypto instead of its pure-JS SHA-256 (≈ 6 kB of each bundle that
 * has `standardwebhooks`).
 *
 * `standardwebhooks` calls only `sha256.hmac(key, data)`, in `Webhook#sign`.
 * The bridge signs with node:crypto itself (functions/delivery/signature.ts)
 * and reaches `Webhook#sign` only for a secret that is not strict base64,
 * whose errors and signature must stay the package's: HMAC-SHA256 is the
 * same bytes whoever computes it (test/infra/fast-sha256-node-crypto.test.ts
 * compares with fast-sha256 1.3.0). Not an npm override, so the tests and the
 * demo's receiver still verify signatures with the official package's own
 * SHA-256, an implementation independent of the signer's.
 */
import { createHash, createHmac } from 'node:crypto';

/** HMAC-SHA256 of `data` under `key`, as a plain Uint8Array (fast-sha256 returns one, not a Buffer). */
export function hmac(key: Uint8Array, data: Uint8Array): Uint8Array {
  return new Uint8Array(createHmac('sha256', key).update(data).digest());
}

/** SHA-256 of `data`; fast-sha256's default export too. */
export function hash(data: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(data).digest());
}

export default hash;
