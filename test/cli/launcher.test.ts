/**
 * bin/pop3-bridge.js bundles the CLI's sources on start and reuses the bundle while they are unchanged.
 * Run on a throwaway tree (the real launcher, a two-line `functions/cli/main.ts`, the repo's node_modules
 * linked in) so a source can be edited without touching the repo: a stale bundle would print the old text.
 */
import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const REPO = path.join(import.meta.dirname, '../..');
let tree: string;

async function writeMain(text: string): Promise<void> {
  const source = `export async function main(argv: string[]): Promise<number> {\n  console.log(${JSON.stringify(text)} + ' ' + argv.join(','));\n  return 0;\n}\n`;
  await writeFile(path.join(tree, 'functions/cli/main.ts'), source);
}

async function cli(...args: string[]): Promise<string> {
  const { stdout } = await run(process.execPath, [path.join(tree, 'bin/pop3-bridge.js'), ...args], { cwd: tree });
  return stdout.trim();
}

async function bundles(): Promise<string[]> {
  return (await readdir(path.join(tree, 'node_modules/.cache/pop3-bridge'))).filter((f) => f.endsWith('.mjs'));
}

beforeAll(async () => {
  tree = await mkdtemp(path.join(tmpdir(), 'pop3-bridge-launcher-'));
  await mkdir(path.join(tree, 'functions/cli'), { recursive: true });
  await mkdir(path.join(tree, 'node_modules/.cache'), { recursive: true });
  await cp(path.join(REPO, 'bin'), path.join(tree, 'bin'), { recursive: true });
  await cp(path.join(REPO, 'package.json'), path.join(tree, 'package.json'));
  // Only what the launcher needs from node_modules: esbuild to bundle, both better-sqlite3 builds to resolve.
  for (const dep of ['esbuild', '@esbuild', 'better-sqlite3', 'better-sqlite3-13']) {
    await symlink(path.join(REPO, 'node_modules', dep), path.join(tree, 'node_modules', dep));
  }
});

afterAll(async () => {
  await rm(tree, { recursive: true, force: true });
});

describe('the CLI launcher', () => {
  it('runs the sources as they are now: a changed source is rebuilt, an unchanged tree reuses its bundle', async () => {
    await writeMain('first');
    expect(await cli('a', 'b')).toBe('first a,b');
    const [built] = await bundles();
    expect(built).toMatch(/^cli-[0-9a-f]{16}\.mjs$/);
    expect(await cli('again')).toBe('first again');
    expect(await bundles()).toEqual([built]);

    // Same length, so only the content and mtime differ: the fingerprint must still move.
    await writeMain('secnd');
    expect(await cli('c')).toBe('secnd c');
    const after = await bundles();
    expect(after).toHaveLength(1);
    expect(after[0]).not.toBe(built);
  });

  it('rebuilds when an in-repo package under packages/ changes (where the iconv-lite and encoding-japanese stand-ins live)', async () => {
    await mkdir(path.join(tree, 'packages/dep'), { recursive: true });
    await writeFile(path.join(tree, 'packages/dep/index.js'), "export const word = 'one';\n");
    const source = `import { word } from '../../packages/dep/index.js';\nexport async function main(): Promise<number> {\n  console.log(word);\n  return 0;\n}\n`;
    await writeFile(path.join(tree, 'functions/cli/main.ts'), source);
    expect(await cli()).toBe('one');
    await writeFile(path.join(tree, 'packages/dep/index.js'), "export const word = 'two';\n");
    expect(await cli()).toBe('two');
  });
});
