/**
 * How `events show` and `replay` name what they act on: a webhook-id
 * (`msg_…`, as in `deliveries` and in the `webhook-id` header the receiver
 * saw), or a message as `<mailbox> <uid>` or `<mailbox>/<uid>`.
 */
import type { CliContext } from './context.js';

export type DeliveryRef =
  | { readonly kind: 'webhook'; readonly webhookId: string }
  | { readonly kind: 'message'; readonly mailbox: string; readonly uid: string };

/**
 * One argument without `/` is a webhook-id (base64url, never a `/`); one with
 * `/` is `<mailbox>/<uid>`, split at the first `/` because mailbox names are
 * `[A-Za-z0-9._-]` while a UIDL may contain `/` (RFC 1939 §7: 0x21..0x7E).
 * Two arguments are mailbox and uid. Anything else is not a reference.
 */
export function parseDeliveryRef(args: ReadonlyArray<string>): DeliveryRef | undefined {
  const [first, second] = args;
  if (first === undefined || first === '' || args.length > 2) return undefined;
  if (second !== undefined) return second === '' ? undefined : { kind: 'message', mailbox: first, uid: second };
  const slash = first.indexOf('/');
  if (slash === -1) return { kind: 'webhook', webhookId: first };
  const mailbox = first.slice(0, slash);
  const uid = first.slice(slash + 1);
  return mailbox === '' || uid === '' ? undefined : { kind: 'message', mailbox, uid };
}

/**
 * The mailbox's name as the config spells it (names are unique
 * case-insensitively, and state rows are keyed by that spelling), or the name
 * as given for a mailbox no longer configured: its deliveries stay in the store.
 */
export function canonicalMailbox(ctx: CliContext, name: string): string {
  return ctx.config.mailboxes.find((m) => m.name.toLowerCase() === name.toLowerCase())?.name ?? name;
}

/** True if `name` is a mailbox of the config (valid or skipped as invalid). */
export function isConfiguredMailbox(ctx: CliContext, name: string): boolean {
  const lower = name.toLowerCase();
  return (
    ctx.config.mailboxes.some((m) => m.name.toLowerCase() === lower) ||
    ctx.skipped.some((s) => s.toLowerCase() === lower)
  );
}

export function describeRef(ref: DeliveryRef): string {
  return ref.kind === 'webhook' ? `webhook-id ${ref.webhookId}` : `message ${ref.uid} in mailbox ${ref.mailbox}`;
}
