import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { FolderRawStore } from '../../functions/local/folder-raw-store.js';
import { loadOrCreateLinkKey, localLinkSigner, startLinkServer } from '../../functions/local/link-server.js';

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
