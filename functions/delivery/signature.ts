/**
 * Standard Webhooks signing (https://www.standardwebhooks.com): the official
 * `standardwebhooks` package signs `id.timestamp.body` with HMAC-SHA256 for
 * each `whsec_` secret; during a rotation every configured secret signs and
 * the signatures are space-separated, so receivers holding either secret verify.
 */
import { Webhook } from 'standardwebhooks';

export type SignedHeaders = {
  readonly 'webhook-id': string;
  readonly 'webhook-timestamp': string;
  readonly 'webhook-signature': string;
};

export function signWebhook(webhookId: string, at: Date, body: string, secrets: ReadonlyArray<string>): SignedHeaders {
  const signatures = secrets.map((secret) => new Webhook(secret).sign(webhookId, at, body));
  return {
    'webhook-id': webhookId,
    'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
    'webhook-signature': signatures.join(' '),
  };
}
