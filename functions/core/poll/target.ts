import type { MailboxConfig } from '../../config/schema.js';
import type { PollTarget } from './poll-mailbox.js';

/** The engine's view of a configured mailbox (both modes use this mapping). */
export function pollTargetOf(mailbox: MailboxConfig): PollTarget {
  return {
    name: mailbox.name,
    mode: mailbox.mode,
    retentionDays: mailbox.retentionDays,
    sizeLimit: mailbox.sizeLimit,
    caps: mailbox.caps,
    endpointIds: mailbox.webhooks.map((w) => w.id),
    deleteAfterDelivered: mailbox.deleteAfterDelivered,
  };
}
