/**
 * Keep-alive webhook connections (functions/delivery/connection-pool.ts)
 * against real loopback receivers: POSTs to one endpoint share a connection;
 * a connection opened under one allow-list is never lent to a request judged
 * by another (the SSRF guard decides again); a kept-alive connection the
 * receiver dropped is retried once on a new one.
 */
import { createServer as createHttpServer, type Server } from 'node:http';
import { type AddressInfo, createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { isBridgeError } from '../../functions/core/errors.js';
import { postWebhook } from '../../functions/delivery/http-post.js';
import { AllowList } from '../../functions/delivery/ssrf-guard.js';

const HEADERS = { 'webhook-id': 'msg_test', 'webhook-timestamp': '1', 'webhook-signature': 'v1,x' };
const closers: Array<() => Promise<void>> = [];

afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

async function countingReceiver(): Promise<{ port: number; connections: () => number; requests: () => number }> {
  let connections = 0;
  let requests = 0;
  const server: Server = createHttpServer((req, res) => {
    requests += 1;
    req.resume();
    req.on('end', () => res.writeHead(204).end());
  });
  server.on('connection', () => {
    connections += 1;
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  return { port: (server.address() as AddressInfo).port, connections: () => connections, requests: () => requests };
}

/**
 * A raw HTTP receiver: `onRequest(socket, seen, total)` is called once per whole request (headers and
 * content-length body), with the requests seen on that connection and in all.
 */
async function rawReceiver(onRequest: (socket: Socket, seen: number, total: number) => void): Promise<URL> {
  let total = 0;
  const sockets = new Set<Socket>();
  const server: NetServer = createNetServer((socket) => {
    sockets.add(socket);
    let seen = 0;
    let buffer = '';
    socket.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('latin1');
      const end = buffer.indexOf('\r\n\r\n');
      if (end === -1) return;
      const length = Number(/content-length: (\d+)/i.exec(buffer.slice(0, end))?.[1] ?? 0);
      if (buffer.length < end + 4 + length) return;
      buffer = buffer.slice(end + 4 + length);
      seen += 1;
      total += 1;
      onRequest(socket, seen, total);
    });
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => server.close(resolve));
  });
  return new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`);
}

describe('webhook connections', () => {
  it('are kept alive: sequential and concurrent POSTs to one endpoint share connections', async () => {
    const receiver = await countingReceiver();
    const allow = new AllowList(['127.0.0.1']);
    const url = new URL(`http://127.0.0.1:${receiver.port}/hook`);
    const options = { timeoutMs: 5_000, allow, allowHttp: true };
    for (let i = 0; i < 5; i += 1) {
      expect((await postWebhook(url, '{}', HEADERS, options)).status).toBe(204);
    }
    expect(receiver.connections()).toBe(1);
    const answers = await Promise.all(Array.from({ length: 4 }, () => postWebhook(url, '{}', HEADERS, options)));
    expect(answers.map((a) => a.status)).toEqual([204, 204, 204, 204]);
    expect(receiver.requests()).toBe(9);
    expect(receiver.connections()).toBeLessThanOrEqual(4);
  });

  it('opened under one allow-list are not reused under another: the guard refuses before sending', async () => {
    const receiver = await countingReceiver();
    const url = new URL(`http://localhost:${receiver.port}/hook`);
    const ok = await postWebhook(url, '{}', HEADERS, {
      timeoutMs: 5_000,
      allow: new AllowList(['localhost']),
      allowHttp: true,
    });
    expect(ok.status).toBe(204);
    const refused = await postWebhook(url, '{}', HEADERS, {
      timeoutMs: 5_000,
      allow: new AllowList([]),
      allowHttp: true,
    }).catch((error: unknown) => error);
    expect(isBridgeError(refused) && refused.code).toBe('WEBHOOK_ERR_BLOCKED');
    expect(receiver.requests()).toBe(1);
  });

  it('dropped by the receiver while idle are retried once on a new connection', async () => {
    // A raw receiver: answers the first request of each connection with a keep-alive 204,
    // then resets the connection when a second request arrives on it.
    let connections = 0;
    let answered = 0;
    let resets = 0;
    const url = await rawReceiver((socket, seen) => {
      if (seen === 1) {
        connections += 1;
        answered += 1;
        socket.write('HTTP/1.1 204 No Content\r\nConnection: keep-alive\r\n\r\n');
      } else {
        resets += 1;
        socket.resetAndDestroy();
      }
    });
    const options = { timeoutMs: 5_000, allow: new AllowList(['127.0.0.1']), allowHttp: true };
    expect((await postWebhook(url, '{"n":1}', HEADERS, options)).status).toBe(204);
    expect((await postWebhook(url, '{"n":2}', HEADERS, options)).status).toBe(204);
    // The second POST went out on the kept-alive connection, met the reset, and was sent again on a new one.
    expect(resets).toBe(1);
    expect(connections).toBe(2);
    expect(answered).toBe(2);
  });

  it('retried after a drop only within what is left of the one timeout', async () => {
    // The receiver answers the first request (leaving a kept-alive connection), holds the second one on that
    // connection for 900 ms and then resets it, and never answers on a new connection. The retry used to get a
    // timeout of its own: 900 + 1,000 ms in all, past the claim the delivery engine had sized for one timeout.
    const HOLD_MS = 900;
    const TIMEOUT_MS = 1_000;
    let requests = 0;
    const url = await rawReceiver((socket, _seen, total) => {
      requests = total;
      if (total === 1) socket.write('HTTP/1.1 204 No Content\r\nConnection: keep-alive\r\n\r\n');
      else if (total === 2) setTimeout(() => socket.resetAndDestroy(), HOLD_MS);
      // Later requests are never answered.
    });
    const options = { timeoutMs: TIMEOUT_MS, allow: new AllowList(['127.0.0.1']), allowHttp: true };
    expect((await postWebhook(url, '{"n":1}', HEADERS, options)).status).toBe(204);
    const started = performance.now();
    const failed = await postWebhook(url, '{"n":2}', HEADERS, options).catch((error: unknown) => error);
    const took = performance.now() - started;
    expect(isBridgeError(failed) && failed.code).toBe('WEBHOOK_ERR_TIMEOUT');
    expect(requests).toBe(3); // the retry did go out, on a new connection
    expect(took).toBeGreaterThanOrEqual(TIMEOUT_MS - 50);
    expect(took).toBeLessThan(TIMEOUT_MS + 400);
  });
});
