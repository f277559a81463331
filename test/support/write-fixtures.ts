import { mkdir, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { fixtures } from './fixtures.js';

/**
 * Writes every fixture under 100 KB to test/fixtures/<name>.eml, so humans can open them.
 * The large ones stay generated only. Run: npx tsx test/support/write-fixtures.ts
 */
export const WRITTEN_FIXTURE_LIMIT = 100 * 1024;
export const FIXTURES_DIR = fileURLToPath(new URL('../fixtures/', import.meta.url));

async function main(): Promise<void> {
  await mkdir(FIXTURES_DIR, { recursive: true });
  for (const { name, bytes } of fixtures()) {
    if (bytes.length >= WRITTEN_FIXTURE_LIMIT) continue;
    await writeFile(new URL(`../fixtures/${name}.eml`, import.meta.url), bytes);
    process.stdout.write(`${name}.eml ${bytes.length} bytes\n`);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
