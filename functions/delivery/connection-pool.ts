/**
 * Keep-alive connections for webhook POSTs: one http(s).Agent per (allow-list,
 * endpoint origin). A fresh TCP (and TLS) connection per request was a visible
 * share of delivery time on loopback (connect + first write), more over a WAN.
 *
 * The SSRF guard stays whole: a pooled socket was opened through the guarded
 * `lookup` of the request that created it (Node's Agent hands the request's
 * options, `lookup` included, to `net.connect`), so it is connected to an
 * address that was checked, and a TCP connection cannot be re-pointed by DNS
 * later — rebinding only affects new connections, which are checked again.
 * Agents are per AllowList object, so a connection checked under one
 * allow-list is never lent to a request judged by another; http-post.ts also
 * re-checks a reused socket's peer address before sending on it.
 *
 * Idle sockets close after FREE_SOCKET_TIMEOUT_MS, under Node's default server
 * keep-alive timeout (5 s), so we rarely write into a connection the receiver
 * is closing; when we do, http-post.ts retries once on a new connection.
 * Idle sockets are unref'd by the Agent: they never keep the process alive.
 */
import http from 'node:http';
import https from 'node:https';
import type { AllowList } from './ssrf-guard.js';

/** Below Node's `server.keepAliveTimeout` default (5 s) and most proxies' idle timeouts. */
export const FREE_SOCKET_TIMEOUT_MS = 4_000;
/** Sockets per origin; the delivery engine's concurrency bounds the busy ones anyway. */
const MAX_SOCKETS = 16;

const pools = new WeakMap<AllowList, Map<string, http.Agent>>();

export function agentFor(url: URL, allow: AllowList): http.Agent {
  let byOrigin = pools.get(allow);
  if (byOrigin === undefined) {
    byOrigin = new Map();
    pools.set(allow, byOrigin);
  }
  const origin = `${url.protocol}//${url.host}`;
  let agent = byOrigin.get(origin);
  if (agent === undefined) {
    const options = {
      keepAlive: true,
      maxSockets: MAX_SOCKETS,
      maxFreeSockets: MAX_SOCKETS,
      timeout: FREE_SOCKET_TIMEOUT_MS,
      scheduling: 'lifo' as const,
    };
    agent = url.protocol === 'https:' ? new https.Agent(options) : new http.Agent(options);
    byOrigin.set(origin, agent);
  }
  return agent;
}
