/**
 * Local mode's links to stored objects (raw messages, attachments, long
 * bodies): `<baseUrl>/objects/<key>?exp=<unix s>&sig=<HMAC>` — an expiring,
 * signed URL the bridge itself serves, the local stand-in for a presigned S3
 * URL. The signing key lives in the store directory (link-key.ts), so links
 * survive restarts and no secret is ever put in the config.
 *
 * A link to a derived object (attachment, long body) also names, signed, the
 * raw message it came from (`src`). The store writes derived objects without
 * fsyncs, so before one is served it is checked against the hash its key
 * names, and rebuilt from `src` if an OS crash left it damaged
 * (derived-object-repair.ts). A receiver never gets bytes that do not match.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { isBridgeError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { LinkSigner } from '../events/link-signer.js';
import { derivedObjectRepair } from './derived-object-repair.js';
import type { FolderRawStore } from './folder-raw-store.js';

/**
 * Signs everything the link controls: the object, the expiry, the download name and type and, for a
 * derived object, its source. With a source the fields are signed as a JSON array: names and types come
 * from the mail, and a newline in one must not let it pass for the next field. Without one the string is
 * the one links carried before sources existed, so those still verify.
 */
function signature(key: Buffer, objectKey: string, exp: number, name: string, type: string, src: string): string {
  const signed =
    src === '' ? `${objectKey}\n${exp}\n${name}\n${type}` : `v2\n${JSON.stringify([objectKey, exp, name, type, src])}`;
  return createHmac('sha256', key).update(signed).digest('base64url');
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
      if (meta.source) url.searchParams.set('src', meta.source);
      url.searchParams.set(
        'sig',
        signature(options.key, objectKey, exp, meta.filename ?? '', meta.contentType ?? '', meta.source ?? ''),
      );
      return url.toString();
    },
  };
}

/**
 * A media type the link may name, with parameters (RFC 9110 §8.3.1: `text/plain; charset=utf-8`, which a long
 * text's link carries): token characters only, so nothing can break out of the header. Before, parameters
 * were refused, and a long text's link was served as application/octet-stream instead of the UTF-8 text the
 * docs promise (AWS mode's presigned links kept it).
 */
const INERT_TYPE = /^[\w!#$&^.+-]+\/[\w!#$&^.+-]+(?:\s*;\s*[\w!#$&^.+-]+=(?:[\w!#$&^.+-]+|"[\w .+-]*"))*$/;

interface LinkRequest {
  readonly objectKey: string;
  readonly exp: number;
  readonly sig: string;
  readonly name: string;
  readonly type: string;
  readonly src: string;
}

/**
 * The fields of a request for `/objects/<key>?…`; undefined for any other path, 'malformed' for a target
 * that is not a URL path (`//`) or whose key is not valid percent-encoding (`%E0%A4%A`): both make the URL
 * parser or `decodeURIComponent` throw, and that happens before any signature is checked.
 */
export function linkRequestOf(target: string | undefined): LinkRequest | undefined | 'malformed' {
  let url: URL;
  let objectKey: string;
  try {
    url = new URL(target ?? '/', 'http://link.invalid');
    const match = /^\/objects\/(.+)$/.exec(url.pathname);
    if (!match?.[1]) return undefined;
    objectKey = decodeURIComponent(match[1]);
  } catch {
    return 'malformed';
  }
  const param = (name: string): string => url.searchParams.get(name) ?? '';
  return {
    objectKey,
    exp: Number(url.searchParams.get('exp')),
    sig: param('sig'),
    name: param('name'),
    type: param('type'),
    src: param('src'),
  };
}

/**
 * Serves signed links from the store: 403 for a bad or expired signature, 404 for an unknown key or a
 * derived object that is damaged and cannot be rebuilt, 400 for a request target that cannot be parsed.
 */
export async function startLinkServer(options: {
  store: FolderRawStore;
  key: Buffer;
  host: string;
  port: number;
  now?: () => number;
  /** Receives a line for each derived object found damaged (rebuilt or lost); never a link or signature. */
  logger?: Logger;
}): Promise<{ server: Server; url: string; close(): Promise<void> }> {
  const now = options.now ?? Date.now;
  const repair = derivedObjectRepair(options.store, {
    ...(options.logger && { logger: options.logger }),
  });

  async function serve(res: ServerResponse, objectKey: string, src: string, name: string, type: string) {
    let stream: Readable;
    try {
      // Raw messages were fsynced before anything linked them; derived objects are checked (see the header).
      if (objectKey.startsWith('att/') && (await repair.ensure(objectKey, src === '' ? undefined : src)) === 'lost') {
        res.writeHead(404).end();
        return;
      }
      stream = await options.store.get(objectKey);
    } catch (error) {
      res.writeHead(isBridgeError(error, 'STORE_ERR_NOT_FOUND') ? 404 : 500).end();
      return;
    }
    res.writeHead(200, {
      // Even a signed type is served only if inert: a stored HTML attachment must not run as a page of the bridge.
      'content-type': objectKey.endsWith('.eml')
        ? 'message/rfc822'
        : type && INERT_TYPE.test(type) && !/html|xml|javascript/i.test(type)
          ? type
          : 'application/octet-stream',
      'x-content-type-options': 'nosniff',
      ...(name && { 'content-disposition': `attachment; filename*=UTF-8''${encodeURIComponent(name)}` }),
      'cache-control': 'private, max-age=0',
    });
    await pipeline(stream, res).catch(() => res.destroy());
  }

  const server = createServer((req, res) => {
    if (req.method !== 'GET') {
      res.writeHead(404).end();
      return;
    }
    const link = linkRequestOf(req.url);
    if (link === 'malformed') {
      // Anyone who can reach the port can send this, signed or not: it must cost a 400, never the process.
      res.writeHead(400, { 'content-type': 'text/plain' }).end('malformed link\n');
      return;
    }
    if (link === undefined) {
      res.writeHead(404).end();
      return;
    }
    const { objectKey, exp, sig, name, type, src } = link;
    const expected = Buffer.from(signature(options.key, objectKey, exp, name, type, src));
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
    serve(res, objectKey, src, name, type).catch(() => res.destroy());
  });
  // A port in use (another `run`, another program) is an error of this call, not an uncaught exception.
  await new Promise<void>((resolve, reject) => {
    const failed = (error: NodeJS.ErrnoException) =>
      reject(new Error(`links: cannot listen on ${options.host}:${options.port} (${error.code ?? error.message})`));
    server.once('error', failed);
    server.listen(options.port, options.host, () => {
      server.off('error', failed);
      resolve();
    });
  });
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
