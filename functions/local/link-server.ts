/**
 * Local mode's links to stored objects (raw messages, attachments, long
 * bodies): `<baseUrl>/objects/<key>?exp=<unix s>&sig=<HMAC>` — an expiring,
 * signed URL the bridge itself serves, the local stand-in for a presigned S3
 * URL. The signing key lives in the store directory (created once, mode 0600),
 * so links survive restarts and no secret is ever put in the config.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { isBridgeError } from '../core/errors.js';
import type { RawStore } from '../core/ports.js';
import type { LinkSigner } from '../events/link-signer.js';

export function loadOrCreateLinkKey(storeDir: string): Buffer {
  const file = path.join(storeDir, 'link.key');
  try {
    return Buffer.from(readFileSync(file, 'utf8').trim(), 'base64');
  } catch {
    const key = randomBytes(32);
    writeFileSync(file, key.toString('base64'), { mode: 0o600, flag: 'wx' });
    return key;
  }
}

/** Signs everything the link controls: the object, the expiry and the download name and type. */
function signature(key: Buffer, objectKey: string, exp: number, name: string, type: string): string {
  return createHmac('sha256', key).update(`${objectKey}\n${exp}\n${name}\n${type}`).digest('base64url');
}

export function localLinkSigner(options: {
  baseUrl: string;
  key: Buffer;
  ttlSeconds: number;
  now?: () => number;
}): LinkSigner {
  const now = options.now ?? Date.now;
  return {
    async linkFor(objectKey, meta) {
      const exp = Math.floor(now() / 1000) + options.ttlSeconds;
      const url = new URL(
        `objects/${objectKey}`,
        options.baseUrl.endsWith('/') ? options.baseUrl : `${options.baseUrl}/`,
      );
      url.searchParams.set('exp', String(exp));
      if (meta.filename) url.searchParams.set('name', meta.filename);
      if (meta.contentType) url.searchParams.set('type', meta.contentType);
      url.searchParams.set('sig', signature(options.key, objectKey, exp, meta.filename ?? '', meta.contentType ?? ''));
      return url.toString();
    },
  };
}

/** Serves signed links from the store: 403 for a bad or expired signature, 404 for an unknown key. */
export async function startLinkServer(options: {
  store: RawStore;
  key: Buffer;
  host: string;
  port: number;
  now?: () => number;
}): Promise<{ server: Server; url: string; close(): Promise<void> }> {
  const now = options.now ?? Date.now;
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://link.invalid');
    const match = /^\/objects\/(.+)$/.exec(url.pathname);
    const exp = Number(url.searchParams.get('exp'));
    const sig = url.searchParams.get('sig') ?? '';
    if (req.method !== 'GET' || !match?.[1]) {
      res.writeHead(404).end();
      return;
    }
    const objectKey = decodeURIComponent(match[1]);
    const name = url.searchParams.get('name') ?? '';
    const type = url.searchParams.get('type') ?? '';
    const expected = Buffer.from(signature(options.key, objectKey, exp, name, type));
    const given = Buffer.from(sig);
    if (
      !Number.isFinite(exp) ||
      exp * 1000 < now() ||
      given.length !== expected.length ||
      !timingSafeEqual(given, expected)
    ) {
      res.writeHead(403, { 'content-type': 'text/plain' }).end('link expired or invalid\n');
      return;
    }
    options.store.get(objectKey).then(
      async (stream) => {
        res.writeHead(200, {
          // Even a signed type is served only if inert: a stored HTML attachment must not run as a page of the bridge.
          'content-type': objectKey.endsWith('.eml')
            ? 'message/rfc822'
            : type && /^[\w.+-]+\/[\w.+-]+$/.test(type) && !/html|xml|javascript/i.test(type)
              ? type
              : 'application/octet-stream',
          'x-content-type-options': 'nosniff',
          ...(name && { 'content-disposition': `attachment; filename*=UTF-8''${encodeURIComponent(name)}` }),
          'cache-control': 'private, max-age=0',
        });
        await pipeline(stream, res).catch(() => res.destroy());
      },
      (error: unknown) => {
        res.writeHead(isBridgeError(error, 'STORE_ERR_NOT_FOUND') ? 404 : 500).end();
      },
    );
  });
  await new Promise<void>((resolve) => server.listen(options.port, options.host, resolve));
  const address = server.address() as AddressInfo;
  return {
    server,
    url: `http://${address.address.includes(':') ? `[${address.address}]` : address.address}:${address.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
