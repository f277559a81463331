import { createHmac, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { createJsonLogger } from '../../functions/core/logger.js';
import { buildEvent } from '../../functions/events/build-event.js';
import { FolderRawStore } from '../../functions/local/folder-raw-store.js';
import { loadOrCreateLinkKey } from '../../functions/local/link-key.js';
import { localLinkSigner, startLinkServer } from '../../functions/local/link-server.js';

let dir: string;
let close: (() => Promise<void>) | undefined;

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'pop3-bridge-links-'));
});
afterEach(async () => {
  await close?.();
  await rm(dir, { recursive: true, force: true });
});

it('serves a stored object through a signed, expiring link and refuses tampered or expired ones', async () => {
  const store = new FolderRawStore(path.join(dir, 'mail'));
  const stored = await store.put(Readable.from([Buffer.from('From: a@b\r\n\r\nhello\r\n')]), 'raw');
  const key = loadOrCreateLinkKey(dir);
  expect(loadOrCreateLinkKey(dir).equals(key)).toBe(true);
  let now = Date.UTC(2026, 10, 26);
  const server = await startLinkServer({ store, key, host: '127.0.0.1', port: 0, now: () => now });
  close = server.close;
  const signer = localLinkSigner({ baseUrl: server.url, key, ttlSeconds: 60, now: () => now });

  const link = await signer.linkFor(stored.key, { filename: 'mail.eml' });
  const ok = await fetch(link);
  expect(ok.status).toBe(200);
  expect(await ok.text()).toBe('From: a@b\r\n\r\nhello\r\n');
  expect(ok.headers.get('content-disposition')).toContain('mail.eml');

  const renamed = new URL(link);
  renamed.searchParams.set('name', 'evil.html');
  expect((await fetch(renamed)).status).toBe(403);
  const otherKey = link.replace(stored.sha256, 'b'.repeat(64));
  expect((await fetch(otherKey)).status).toBe(403);

  now += 61_000;
  expect((await fetch(link)).status).toBe(403);

  const missing = await signer.linkFor(`raw/bb/${'b'.repeat(64)}.eml`, {});
  expect((await fetch(missing)).status).toBe(404);
});

/** A message with a text body too long for a 32 KiB event (so it becomes a link) and one attachment. */
function messageWithDerivedObjects(): { raw: Buffer; text: string; attachment: Buffer } {
  const text = `${'All the figures for the quarter are in the attached sheet. '.repeat(700)}\r\n`;
  const attachment = randomBytes(9000);
  const raw = Buffer.from(
    [
      'From: a@example.com',
      'To: b@example.com',
      'Subject: figures',
      'MIME-Version: 1.0',
      'Content-Type: multipart/mixed; boundary="b1"',
      '',
      '--b1',
      'Content-Type: text/plain; charset=utf-8',
      '',
      text,
      '--b1',
      'Content-Type: application/octet-stream; name="q3.bin"',
      'Content-Disposition: attachment; filename="q3.bin"',
      'Content-Transfer-Encoding: base64',
      '',
      attachment.toString('base64').replace(/.{76}/g, '$&\r\n'),
      '--b1--',
      '',
    ].join('\r\n'),
  );
  return { raw, text: text.replace(/\r\n$/, ''), attachment };
}

it('rebuilds a derived object an OS crash left missing or damaged from the raw message its link names', async () => {
  const store = new FolderRawStore(path.join(dir, 'mail'));
  const key = loadOrCreateLinkKey(dir);
  const lines: string[] = [];
  const server = await startLinkServer({
    store,
    key,
    host: '127.0.0.1',
    port: 0,
    logger: createJsonLogger({ level: 'debug', write: (line) => lines.push(line) }),
  });
  close = server.close;
  const links = localLinkSigner({ baseUrl: server.url, key, ttlSeconds: 600 });
  const message = messageWithDerivedObjects();
  const stored = await store.put(Readable.from([message.raw]), 'raw');
  const input = { mailbox: 'inbox', uid: 'u1', rawKey: stored.key, rawSha256: stored.sha256, rawSize: stored.size };
  const { data } = await buildEvent(input, { store, links, limits: { maxBodyBytes: 32_768 } });
  const attachmentUrl = data.attachments[0]!.url!;
  const textUrl = data.textUrl!;
  expect(new URL(attachmentUrl).searchParams.get('src')).toBe(stored.key);
  expect(new URL(textUrl).searchParams.get('src')).toBe(stored.key);
  const attachmentKey = decodeURIComponent(new URL(attachmentUrl).pathname.replace('/objects/', ''));
  const textKey = decodeURIComponent(new URL(textUrl).pathname.replace('/objects/', ''));

  const textBytes = await readFile(path.join(store.dir, textKey));
  expect(textBytes.toString('utf8')).toContain(message.text);
  // What an OS crash can leave of files not yet written back: gone, or the right size full of zeros.
  await rm(path.join(store.dir, attachmentKey));
  await writeFile(path.join(store.dir, textKey), Buffer.alloc(textBytes.length));
  const attachment = await fetch(attachmentUrl);
  expect(attachment.status).toBe(200);
  expect(Buffer.from(await attachment.arrayBuffer())).toEqual(message.attachment);
  const text = await fetch(textUrl);
  expect(text.status).toBe(200);
  // As docs/webhooks.md promises: UTF-8 text/plain (the signed type's parameter used to make it octet-stream).
  expect(text.headers.get('content-type')).toBe('text/plain; charset=utf-8');
  expect(Buffer.from(await text.arrayBuffer()).equals(textBytes)).toBe(true);
  expect(await readFile(path.join(store.dir, attachmentKey))).toEqual(message.attachment);
  expect(await store.isIntact(textKey)).toBe(true);
  const rebuilt = lines.map((line) => JSON.parse(line)).filter((r) => r.msg.startsWith('rebuilt'));
  expect(rebuilt.map((r) => r.key).sort()).toEqual([attachmentKey, textKey].sort());
  expect(rebuilt.every((r) => r.source === stored.key)).toBe(true);
  expect(lines.join('\n')).not.toContain('sig=');

  // The source is signed: a link pointed at another raw message is refused.
  const other = await store.put(Readable.from([Buffer.from('From: c@example.com\r\n\r\nother\r\n')]), 'raw');
  const redirected = new URL(attachmentUrl);
  redirected.searchParams.set('src', other.key);
  expect((await fetch(redirected)).status).toBe(403);

  // Intact objects are served as they are, without a rebuild.
  lines.length = 0;
  expect((await fetch(attachmentUrl)).status).toBe(200);
  expect(lines).toEqual([]);

  // Damaged, and no way to rebuild it: 404, never the damaged bytes.
  await writeFile(path.join(store.dir, attachmentKey), Buffer.alloc(message.attachment.length));
  const withoutSource = await links.linkFor(attachmentKey, { filename: 'q3.bin' });
  expect((await fetch(withoutSource)).status).toBe(404);
  await rm(path.join(store.dir, stored.key));
  expect((await fetch(attachmentUrl)).status).toBe(404);
  expect(lines.map((line) => JSON.parse(line).msg)).toEqual([
    'a stored object is missing or damaged, and its link names no raw message to rebuild it from',
    'could not rebuild a damaged stored object from its raw message',
  ]);
});

it('links signed before sources existed still verify', async () => {
  const store = new FolderRawStore(path.join(dir, 'mail'));
  const stored = await store.put(Readable.from([Buffer.from('an attachment')]), 'attachment');
  const key = loadOrCreateLinkKey(dir);
  const server = await startLinkServer({ store, key, host: '127.0.0.1', port: 0 });
  close = server.close;
  const url = new URL(`${server.url}/objects/${stored.key}`);
  const exp = Math.floor(Date.now() / 1000) + 60;
  url.searchParams.set('exp', String(exp));
  url.searchParams.set('name', 'a.txt');
  // The format of the links in events delivered by earlier versions.
  url.searchParams.set('sig', createHmac('sha256', key).update(`${stored.key}\n${exp}\na.txt\n`).digest('base64url'));
  const response = await fetch(url);
  expect(response.status).toBe(200);
  expect(await response.text()).toBe('an attachment');
});

it('answers 400 to a request target it cannot parse, before any signature check, and keeps serving', async () => {
  const store = new FolderRawStore(path.join(dir, 'mail'));
  const stored = await store.put(Readable.from([Buffer.from('From: a@b\r\n\r\nhello\r\n')]), 'raw');
  const key = loadOrCreateLinkKey(dir);
  const server = await startLinkServer({ store, key, host: '127.0.0.1', port: 0 });
  close = server.close;
  const port = Number(new URL(server.url).port);
  // Raw requests: fetch would normalise these targets before sending them. `//` made the URL parser throw and
  // `%E0%A4%A` made decodeURIComponent throw, inside the request handler: an uncaught exception that ended the
  // whole `pop3-bridge run` process, for anyone who could reach the port, signed link or not.
  for (const target of ['//', '/objects/%E0%A4%A', '/objects/%', '/objects/%ZZ?exp=1&sig=x']) {
    const answer = await rawGet(port, target);
    expect(answer, target).toMatch(/^HTTP\/1\.1 400 /);
  }
  const link = await localLinkSigner({ baseUrl: server.url, key, ttlSeconds: 60 }).linkFor(stored.key, {});
  expect((await fetch(link)).status).toBe(200);
});

/** The status line and the rest of the answer to `GET <target>`, sent as is on a new connection. */
async function rawGet(port: number, target: string): Promise<string> {
  const { connect } = await import('node:net');
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.write(`GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
    });
    let answer = '';
    socket.setTimeout(5_000, () => socket.destroy(new Error(`no answer to GET ${target}`)));
    socket.on('data', (chunk) => {
      answer += String(chunk);
    });
    socket.on('close', () => resolve(answer));
    socket.on('error', reject);
  });
}

it('a port already in use is an error of startLinkServer, not an uncaught exception', async () => {
  const store = new FolderRawStore(path.join(dir, 'mail'));
  const key = loadOrCreateLinkKey(dir);
  const first = await startLinkServer({ store, key, host: '127.0.0.1', port: 0 });
  close = first.close;
  const port = Number(new URL(first.url).port);
  // Before, the 'error' event had no listener: the whole `pop3-bridge run` died of it.
  await expect(startLinkServer({ store, key, host: '127.0.0.1', port })).rejects.toThrow(
    `links: cannot listen on 127.0.0.1:${port} (EADDRINUSE)`,
  );
});
