/**
 * Host names and webhook allow-list entries, as the config schema and AWS mode's
 * WEBHOOK_ALLOW_LIST (functions/aws/runtime.ts, infra/bridge-stack.ts) accept them.
 * On its own, without zod, so that a handler validating its environment does not
 * bundle the config schema.
 */
import { isIP } from 'node:net';

/** RFC 1123 labels, at most 253 characters in all, an optional trailing dot. */
export const HOSTNAME =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;

/** Hostname, IPv4 or IPv6 literal (no scheme, no port, no brackets). */
export function isHost(value: string): boolean {
  return isIP(value) !== 0 || HOSTNAME.test(value);
}

/** `10.0.0.0/8`, `fd00::/8`, a single IP, a hostname, or `*.internal` (any subdomain). */
export function isAllowListEntry(value: string): boolean {
  const slash = value.indexOf('/');
  if (slash >= 0) {
    const ip = value.slice(0, slash);
    const bits = value.slice(slash + 1);
    const family = isIP(ip);
    if (family === 0 || !/^\d{1,3}$/.test(bits)) return false;
    return Number(bits) <= (family === 4 ? 32 : 128);
  }
  if (value.startsWith('*.')) return HOSTNAME.test(value.slice(2));
  return isHost(value);
}
