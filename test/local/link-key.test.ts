import { spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FolderRawStore } from '../../functions/local/folder-raw-store.js';
import { LINK_KEY_BYTES, loadOrCreateLinkKey } from '../../functions/local/link-key.js';
import { startLinkServer } from '../../functions/local/link-server.js';

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'pop3-bridge-link-key-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const keyFile = () => path.join(dir, 'link.key');

describe('loadOrCreateLinkKey', () => {
  it('creates a 32-byte key once (mode 0600, no temp file left) and returns the same key after', async () => {
    const key = loadOrCreateLinkKey(dir);
    expect(key.length).toBe(LINK_KEY_BYTES);
    expect(Buffer.from(await readFile(keyFile(), 'utf8'), 'base64').equals(key)).toBe(true);
    expect((await stat(keyFile())).mode & 0o777).toBe(0o600);
    expect(await readdir(dir)).toEqual(['link.key']);
    expect(loadOrCreateLinkKey(dir).equals(key)).toBe(true);
  });

  it.each([
    ['empty (a crash of the old in-place write)', ''],
    ['whitespace only', ' \n'],
    ['a 16-byte key', Buffer.alloc(16, 7).toString('base64')],
    ['not base64', 'not a key at all!'],
  ])('replaces a link.key that is %s with a new 32-byte key', async (_what, content) => {
    await writeFile(keyFile(), content, { mode: 0o600 });
    const key = loadOrCreateLinkKey(dir);
    expect(key.length).toBe(LINK_KEY_BYTES);
    expect(Buffer.from((await readFile(keyFile(), 'utf8')).trim(), 'base64').equals(key)).toBe(true);
    expect(await readdir(dir)).toEqual(['link.key']);
    expect(loadOrCreateLinkKey(dir).equals(key)).toBe(true);
  });

  it('keeps a usable key written by hand (base64 with a trailing newline)', async () => {
    const mine = Buffer.alloc(48, 9);
    await writeFile(keyFile(), `${mine.toString('base64')}\n`, { mode: 0o600 });
    expect(loadOrCreateLinkKey(dir).equals(mine)).toBe(true);
  });

  it('a link forged with the empty key of a damaged link.key is refused', async () => {
    await writeFile(keyFile(), '', { mode: 0o600 });
    const store = new FolderRawStore(path.join(dir, 'mail'));
    const stored = await store.put(Readable.from([Buffer.from('From: a@b\r\n\r\nprivate mail\r\n')]), 'raw');
    const server = await startLinkServer({ store, key: loadOrCreateLinkKey(dir), host: '127.0.0.1', port: 0 });
    try {
      const exp = Math.floor(Date.now() / 1000) + 86_400 * 365 * 50;
      const forged = createHmac('sha256', Buffer.alloc(0)).update(`${stored.key}\n${exp}\n\n`).digest('base64url');
      expect((await fetch(`${server.url}/objects/${stored.key}?exp=${exp}&sig=${forged}`)).status).toBe(403);
    } finally {
      await server.close();
    }
  });

  it('processes starting together all end up with the one key in the file', async () => {
    // Each child waits for "go" on stdin, so the calls overlap; before link.key was linked into place, a
    // second process could read the first's file while it was still empty, or crash on EEXIST.
    const root = fileURLToPath(new URL('../..', import.meta.url));
    const moduleUrl = new URL('../../functions/local/link-key.ts', import.meta.url).href;
    const script = path.join(dir, 'race.mts');
    await writeFile(
      script,
      `import { loadOrCreateLinkKey } from ${JSON.stringify(moduleUrl)};
process.stdin.once('data', () => {
  process.stdout.write(loadOrCreateLinkKey(process.argv[2]!).toString('base64'));
  process.exit(0);
});
`,
    );
    for (let round = 0; round < 3; round += 1) {
      const storeDir = await mkdtemp(path.join(dir, `store-${round}-`));
      const children = Array.from({ length: 4 }, () =>
        spawn(process.execPath, ['--import', 'tsx', script, storeDir], { cwd: root, stdio: ['pipe', 'pipe', 'pipe'] }),
      );
      const outputs = children.map(
        (child) =>
          new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
            let out = '';
            let err = '';
            child.stdout.on('data', (d) => {
              out += String(d);
            });
            child.stderr.on('data', (d) => {
              err += String(d);
            });
            child.on('exit', (code) => resolve({ code, out, err }));
          }),
      );
      // Give every child time to load tsx and the module before they all start at once.
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      for (const child of children) child.stdin.write('go\n');
      const results = await Promise.all(outputs);
      const inFile = (await readFile(path.join(storeDir, 'link.key'), 'utf8')).trim();
      for (const result of results) {
        expect(result.code, result.err).toBe(0);
        expect(result.out).toBe(inFile);
      }
      expect(Buffer.from(inFile, 'base64').length).toBe(LINK_KEY_BYTES);
      expect(await readdir(storeDir)).toEqual(['link.key']);
    }
  }, 30_000);
});
