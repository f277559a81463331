import { createHash } from 'node:crypto';

/**
 * The Standard Webhooks `webhook-id` of one message for one endpoint. Derived,
 * not random, so a poll that crashed after recording and re-queues, a retry and
 * a replay all carry the same id, and receivers can deduplicate on it.
 */
export function webhookIdFor(mailbox: string, uid: string, endpointId: string): string {
  const digest = createHash('sha256').update(`${mailbox}\0${uid}\0${endpointId}`, 'utf8').digest('base64url');
  return `msg_${digest.slice(0, 32)}`;
}
