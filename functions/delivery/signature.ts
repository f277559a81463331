/**
 * Standard Webhooks signing (https://www.standardwebhooks.com): HMAC-SHA256 of
 * `id.timestamp.body` with each `whsec_` secret, base64, prefixed `v1,`;
 * during a rotation every configured secret signs and the signatures are
 * space-separated, so receivers holding either secret verify.
 *
 * Why not `new Webhook(secret).sign(...)` from the official `standardwebhooks`
 * package, as issue 4 prefers: it hashes with a pure-JS SHA-256 (fast-sha256),
 * about 0.5 ms per 100 KB body on this machine — 9 % of the whole delivery
 * path in `npx tsx bench/profile.ts deliver` — where node:crypto's native HMAC
 * takes a few microseconds. The algorithm is the package's own (index.js
 * `sign`: TextEncoder UTF-8 of the concatenated string, the key base64-decoded
 * after the `whsec_` prefix), and test/delivery/signature.test.ts proves the
 * headers byte-identical to `Webhook.sign` for arbitrary ids, times, bodies
 * and secrets, and verifiable with `Webhook.verify`. A secret that is not
 * strict base64 (config validation refuses those) is signed by the package
 * itself, so even its errors stay the same.
 */
import { createHmac } from 'node:crypto';
import { Webhook } from 'standardwebhooks';

export type SignedHeaders = {
  readonly 'webhook-id': string;
  readonly 'webhook-timestamp': string;
  readonly 'webhook-signature': string;
};

const PREFIX = 'whsec_';
/** Strict base64 with padding, as @stablelib/base64 (the package's decoder) accepts it. */
const STRICT_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function keyOf(secret: string): Buffer | undefined {
  const encoded = secret.startsWith(PREFIX) ? secret.slice(PREFIX.length) : secret;
  if (encoded.length === 0 || !STRICT_BASE64.test(encoded)) return undefined;
  return Buffer.from(encoded, 'base64');
}

/**
 * `body` is the JSON as a string or as its UTF-8 bytes (what `builtEventOf` hands over: encoded once, then
 * signed and sent as is). Both sign the same bytes: Buffer.from and TextEncoder turn a lone surrogate into
 * U+FFFD, as the package's TextEncoder does, and the `.` before the body means no surrogate pair can form
 * across the join.
 */
export function signWebhook(
  webhookId: string,
  at: Date,
  body: string | Uint8Array,
  secrets: ReadonlyArray<string>,
): SignedHeaders {
  const seconds = Math.floor(at.getTime() / 1000);
  const prefix = Buffer.from(`${webhookId}.${seconds}.`, 'utf8');
  // With several secrets (a rotation), one UTF-8 encoding of a string body for all of them; with one, the
  // HMAC encodes the string itself, without a Buffer (event-worker.ts says why that matters).
  const bytes = typeof body === 'string' && secrets.length > 1 ? Buffer.from(body, 'utf8') : body;
  const signatures = secrets.map((secret) => {
    const key = keyOf(secret);
    if (key === undefined)
      return new Webhook(secret).sign(
        webhookId,
        at,
        typeof body === 'string' ? body : Buffer.from(body).toString('utf8'),
      );
    return `v1,${createHmac('sha256', key).update(prefix).update(bytes).digest('base64')}`;
  });
  return {
    'webhook-id': webhookId,
    'webhook-timestamp': String(seconds),
    'webhook-signature': signatures.join(' '),
  };
}
