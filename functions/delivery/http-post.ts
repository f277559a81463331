/**
 * One webhook POST over node:http(s): the SSRF-guarded lookup pins the
 * checked address, redirects are returned (never followed), the whole
 * exchange has one timeout, and at most a few KB of the answer are read.
 */
import http from 'node:http';
import https from 'node:https';
import { BridgeError, isBridgeError } from '../core/errors.js';
import { type AllowList, assertLiteralAddressAllowed, guardedLookup } from './ssrf-guard.js';

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

export function postWebhook(
  url: URL,
  body: string,
  headers: Readonly<Record<string, string>>,
  options: PostOptions,
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
      lookup: guardedLookup(options.allow) as never,
      // No connection reuse across hosts' DNS answers: every request resolves and checks again.
      agent: false,
      headers: {
        'content-type': 'application/json',
        'content-length': String(Buffer.byteLength(body)),
        'user-agent': 'pop3-bridge',
        ...headers,
      },
    });
    const timer = setTimeout(() => {
      request.destroy(
        new BridgeError('WEBHOOK_ERR_TIMEOUT', `no answer from ${url.host} within ${options.timeoutMs} ms`, {
          context: { host: url.host },
        }),
      );
    }, options.timeoutMs);
    request.on('error', (error) => {
      clearTimeout(timer);
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
