/**
 * One webhook POST over node:http(s): the SSRF-guarded lookup pins the
 * checked address, redirects are returned (never followed), the whole
 * exchange has one timeout, and at most a few KB of the answer are read.
 * Connections are kept alive per (allow-list, origin) — connection-pool.ts
 * says why that keeps the guard intact.
 */
import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import { BridgeError, isBridgeError } from '../core/errors.js';
import { agentFor } from './connection-pool.js';
import { type AllowList, assertLiteralAddressAllowed, guardedLookup, isBlockedAddress } from './ssrf-guard.js';

export interface PostOptions {
  readonly timeoutMs: number;
  readonly allow: AllowList;
  readonly allowHttp: boolean;
}

export interface PostResponse {
  readonly status: number;
  readonly retryAfter: string | undefined;
  /** The start of the body, for the delivery record (receivers put their error there). */
  readonly bodyStart: string;
}

const MAX_RESPONSE_BYTES = 4096;

/** Errors of writing into a kept-alive connection the receiver closed meanwhile. */
const STALE_SOCKET_CODES = new Set(['ECONNRESET', 'EPIPE']);

/** Thrown inside `postOnce` when a reused connection turned out closed before any answer. */
class StaleSocketError extends Error {
  override readonly name = 'StaleSocketError';
}

export async function postWebhook(
  url: URL,
  body: string | Uint8Array,
  headers: Readonly<Record<string, string>>,
  options: PostOptions,
): Promise<PostResponse> {
  const deadline = performance.now() + options.timeoutMs;
  try {
    return await postOnce(url, body, headers, options, options.timeoutMs, true);
  } catch (error) {
    // The receiver closed an idle kept-alive connection just as we reused it: usually nothing
    // reached it (no answer), so one immediate try on a new connection is safe — and a
    // receiver that did see it deduplicates on webhook-id anyway.
    if (!(error instanceof StaleSocketError)) throw error;
    // The retry gets only what is left of the one timeout. A receiver can also hold a request and then
    // drop the connection (a restart, a proxy); a fresh timeout would let the exchange run to twice
    // `timeoutMs`, past the end of the claim the delivery engine sized for one, and another round could
    // then claim and send the same delivery again.
    const left = Math.floor(deadline - performance.now());
    if (left <= 0) throw timeoutError(url, options.timeoutMs);
    return postOnce(url, body, headers, options, left, false);
  }
}

function timeoutError(url: URL, timeoutMs: number): BridgeError {
  return new BridgeError('WEBHOOK_ERR_TIMEOUT', `no answer from ${url.host} within ${timeoutMs} ms`, {
    context: { host: url.host },
  });
}

/** Whether a reused socket's peer is still one the guard accepts (defence in depth: it was checked at connect). */
function peerAllowed(socket: Socket, url: URL, allow: AllowList): boolean {
  const address = socket.remoteAddress;
  if (address === undefined) return false;
  return allow.allowsHost(url.hostname) || allow.allowsAddress(address) || !isBlockedAddress(address);
}

function postOnce(
  url: URL,
  body: string | Uint8Array,
  headers: Readonly<Record<string, string>>,
  options: PostOptions,
  timeoutMs: number,
  reuse: boolean,
): Promise<PostResponse> {
  return new Promise<PostResponse>((resolve, reject) => {
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && options.allowHttp)) {
      reject(new BridgeError('WEBHOOK_ERR_BLOCKED', `webhook URL scheme ${url.protocol} is not allowed (https only)`));
      return;
    }
    try {
      assertLiteralAddressAllowed(url.hostname, options.allow);
    } catch (error) {
      reject(error);
      return;
    }
    const transport = url.protocol === 'https:' ? https : http;
    const request = transport.request(url, {
      method: 'POST',
      // Every new connection resolves and checks again; a kept-alive one stays on the address checked when it opened.
      lookup: guardedLookup(options.allow) as never,
      agent: reuse ? agentFor(url, options.allow) : false,
      headers: {
        'content-type': 'application/json',
        'content-length': String(typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength),
        'user-agent': 'pop3-bridge',
        ...headers,
      },
    });
    const timer = setTimeout(() => request.destroy(timeoutError(url, options.timeoutMs)), timeoutMs);
    let answered = false;
    request.on('socket', (socket: Socket) => {
      if (request.reusedSocket && !peerAllowed(socket, url, options.allow)) {
        request.destroy(
          new BridgeError('WEBHOOK_ERR_BLOCKED', `a kept-alive connection to ${url.host} is to a blocked address`, {
            context: { host: url.host },
          }),
        );
      }
    });
    request.on('error', (error) => {
      clearTimeout(timer);
      if (request.reusedSocket && !answered && STALE_SOCKET_CODES.has((error as NodeJS.ErrnoException).code ?? '')) {
        reject(new StaleSocketError((error as NodeJS.ErrnoException).code));
        return;
      }
      reject(
        isBridgeError(error)
          ? error
          : new BridgeError(
              'WEBHOOK_ERR_NETWORK',
              `POST to ${url.host} failed: ${(error as NodeJS.ErrnoException).code ?? error.message}`,
              { cause: error, context: { host: url.host } },
            ),
      );
    });
    request.on('response', (response) => {
      answered = true;
      const chunks: Buffer[] = [];
      let size = 0;
      const done = () => {
        clearTimeout(timer);
        resolve({
          status: response.statusCode ?? 0,
          retryAfter: response.headers['retry-after'],
          bodyStart: Buffer.concat(chunks).toString('utf8'),
        });
      };
      response.on('data', (chunk: Buffer) => {
        if (size < MAX_RESPONSE_BYTES) chunks.push(chunk.subarray(0, MAX_RESPONSE_BYTES - size));
        size += chunk.length;
        if (size >= MAX_RESPONSE_BYTES) {
          response.destroy();
          done();
        }
      });
      response.on('end', done);
      response.on('error', done);
    });
    request.end(body);
  });
}
