/** `npm run demo` is the README's first command: it must run the real bridge and report that every promise held. */
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect, it } from 'vitest';

const BIN = path.join(import.meta.dirname, '../../bin/pop3-bridge.js');

it('demo: 12 messages stored once, delivered once with verified signatures, second poll idle, links work', async () => {
  const cwd = await mkdtemp(path.join(tmpdir(), 'pop3-bridge-demo-'));
  try {
    const child = spawn(process.execPath, [BIN, 'demo', '--json'], { cwd });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    const code = await new Promise((resolve) => child.on('close', resolve));
    clearTimeout(timer);
    expect(code, stderr).toBe(0);
    const report = JSON.parse(stdout) as {
      ok: boolean;
      polls: Array<{ fetched: number; path: string }>;
      verified: number;
      badSignatures: number;
      linkWorks: boolean;
    };
    expect(report).toMatchObject({ ok: true, verified: 12, badSignatures: 0, linkWorks: true });
    expect(report.polls.map((p) => [p.fetched, p.path])).toEqual([
      [12, 'full'],
      [0, 'idle'],
    ]);
    const shards = await readdir(path.join(cwd, '.pop3-bridge-demo', 'mail', 'raw'));
    expect(shards.length).toBeGreaterThan(0);
  } finally {
    await rm(cwd, { recursive: true, force: true });
  }
});
