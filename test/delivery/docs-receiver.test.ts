/**
 * The receiver example of docs/webhooks.md ("A receiver that verifies signatures"), run as written — only its
 * port is changed — in its own process, against bodies signed by the bridge's signer and sent over loopback
 * HTTP as the bridge sends them. Until 2026-11-29 the example appended each chunk as a string, so a
 * character split between two chunks became U+FFFD and a genuine event with non-ASCII text was refused (401).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signWebhook } from '../../functions/delivery/signature.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SECRET = `whsec_${randomBytes(32).toString('base64')}`;

/** The first ```js block after the heading, from the docs as committed. */
async function documentedReceiver(): Promise<string> {
  const doc = await readFile(path.join(ROOT, 'docs', 'webhooks.md'), 'utf8');
  const section = doc.slice(doc.indexOf('### A receiver that verifies signatures'));
  const block = /```js\n([\s\S]*?)```/.exec(section)?.[1];
  if (block === undefined) throw new Error('docs/webhooks.md has no receiver example');
  return block;
}

let dir: string;
let child: ChildProcess;
let port: number;

beforeAll(async () => {
  const code = await documentedReceiver();
  const listen = '.listen(8080);';
  expect(code).toContain(listen);
  dir = await mkdtemp(path.join(tmpdir(), 'pop3-bridge-docs-receiver-'));
  // The example imports standardwebhooks: resolve it from this repository's node_modules.
  await symlink(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
  const file = path.join(dir, 'receiver.mjs');
  await writeFile(
    file,
    code.replace(listen, ".listen(0, '127.0.0.1', function () { console.log('PORT', this.address().port); });"),
  );
  child = spawn(process.execPath, [file], {
    env: { ...process.env, POP3_BRIDGE_WEBHOOK_SECRET: SECRET },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout! });
  port = await new Promise<number>((resolve, reject) => {
    lines.once('line', (line) => resolve(Number(line.split(' ')[1])));
    child.once('exit', (code) => reject(new Error(`the documented receiver exited (${code})`)));
  });
});

afterAll(async () => {
  child?.kill();
  await rm(dir, { recursive: true, force: true });
});

/** POSTs `body` as the bridge does (one request, the bytes in as many TCP segments as it takes). */
function post(body: string, headers: Record<string, string>): Promise<number> {
  const bytes = Buffer.from(body, 'utf8');
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/',
        headers: { 'content-type': 'application/json', 'content-length': String(bytes.length), ...headers },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(bytes);
  });
}

function event(subject: string, text: string): string {
  return JSON.stringify({
    type: 'email.received',
    timestamp: new Date().toISOString(),
    data: { mailbox: 'docs', from: [{ address: 'a@example.com', name: 'A' }], subject, text },
  });
}

describe('the receiver example in docs/webhooks.md', () => {
  it.each([
    ['ASCII', 'Hello', 'Figures attached. '.repeat(10_000)],
    [
      'multi-byte text (split across chunks)',
      'Счёт за ноябрь €',
      'Сумма: 1 234,56 € — оплатить до 5-го. '.repeat(4_000),
    ],
    ['four-byte characters', '📎 report', '🙂📈 '.repeat(30_000)],
  ])('accepts a genuine event: %s', async (_what, subject, text) => {
    const body = event(subject, text);
    const id = `msg_${randomBytes(8).toString('hex')}`;
    const headers = signWebhook(id, new Date(), body, [SECRET]);
    expect(await post(body, headers)).toBe(204);
  });

  it('refuses a body changed after signing', async () => {
    const body = event('Invoice', 'Pay 100 €. '.repeat(5_000));
    const headers = signWebhook('msg_tampered', new Date(), body, [SECRET]);
    expect(await post(body.replace('100', '900'), headers)).toBe(401);
  });
});
