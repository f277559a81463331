/**
 * The CLI's bundle cache (bin/bundle-cache.js): a rebuild removes the bundles of earlier source trees, but not
 * one a running CLI holds. A long `run` starts its event workers from its own bundle file; when another command
 * deleted it after a source change, every later worker failed ("Cannot find module") and every webhook went
 * the way of the dead letters until run was restarted.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
// @ts-expect-error: plain JavaScript run by Node before any bundle exists; it has no type declarations
import { holdBundle, isAlive, removeUnusedBundles } from '../../bin/bundle-cache.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'pop3-bridge-bundle-cache-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

it('removes unheld bundles of other trees and markers of dead processes; keeps held ones and the current one', async () => {
  const live = 111;
  const dead = 222;
  const files = [
    'cli-aaaa.mjs',
    'cli-aaaa.mjs.map',
    `cli-aaaa.mjs.pid-${live}`,
    'cli-bbbb.mjs',
    'cli-bbbb.mjs.map',
    `cli-bbbb.mjs.pid-${dead}`,
    'cli-cccc.mjs',
    'cli-cccc.mjs.map',
    'cli-dddd.mjs',
    'unrelated.txt',
  ];
  for (const name of files) await writeFile(path.join(dir, name), '');
  const removed = removeUnusedBundles(dir, 'cli-cccc.mjs', (pid: number) => pid === live);
  expect((removed as string[]).sort()).toEqual(
    ['cli-bbbb.mjs', 'cli-bbbb.mjs.map', `cli-bbbb.mjs.pid-${dead}`, 'cli-dddd.mjs'].sort(),
  );
  expect((await readdir(dir)).sort()).toEqual(
    [
      'cli-aaaa.mjs',
      'cli-aaaa.mjs.map',
      `cli-aaaa.mjs.pid-${live}`,
      'cli-cccc.mjs',
      'cli-cccc.mjs.map',
      'unrelated.txt',
    ].sort(),
  );
});

it('a process holds its bundle while it runs and lets go when it exits', async () => {
  const moduleUrl = new URL('../../bin/bundle-cache.js', import.meta.url).href;
  const child = spawn(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `import { holdBundle } from ${JSON.stringify(moduleUrl)};
holdBundle(${JSON.stringify(dir)}, 'cli-eeee.mjs');
process.stdout.write('held\\n');
process.stdin.once('data', () => process.exit(0));`,
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
  expect(await readdir(dir)).toEqual([`cli-eeee.mjs.pid-${child.pid}`]);
  expect(isAlive(child.pid)).toBe(true);
  expect(removeUnusedBundles(dir, 'cli-ffff.mjs')).toEqual([]);
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.stdin.write('go\n');
  await exited;
  expect(await readdir(dir)).toEqual([]);
  expect(typeof holdBundle).toBe('function');
});
