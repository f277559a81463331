/**
 * A mailbox's webhook endpoint as one string, for the maps and sets that
 * track endpoints (a round's slots, a drain's timed-out endpoints, a claim's
 * skip set). JSON, so no two (mailbox, endpoint id) pairs give one key
 * whatever characters the config's names hold.
 */
import type { EndpointRef } from './ports.js';

export function endpointKey(endpoint: EndpointRef): string {
  return JSON.stringify([endpoint.mailbox, endpoint.endpointId]);
}
