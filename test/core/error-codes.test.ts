/**
 * Error codes are one map (functions/core/errors.ts). TypeScript already fails
 * on a code used but not declared; this fails on a code declared but never
 * used, so the documented list stays the real one.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { expect, it } from 'vitest';
import { ErrorCodes } from '../../functions/core/errors.js';

async function sources(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await sources(full)));
    else if (entry.name.endsWith('.ts')) out.push(full);
  }
  return out;
}

it('every declared error code is raised somewhere in the sources', async () => {
  const root = path.join(import.meta.dirname, '../../functions');
  const files = (await sources(root)).filter((f) => !f.endsWith(path.join('core', 'errors.ts')));
  const text = (await Promise.all(files.map((f) => readFile(f, 'utf8')))).join('\n');
  const unused = Object.keys(ErrorCodes).filter((code) => !text.includes(`'${code}'`) && !text.includes(`"${code}"`));
  expect(unused).toEqual([]);
});
