/**
 * Writes `docs/config.schema.json` from the zod schema.
 * Run: `npx tsx functions/config/write-json-schema.ts` (from the repo root).
 */
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { renderConfigJsonSchema } from './json-schema.js';

export const CONFIG_SCHEMA_PATH = fileURLToPath(new URL('../../docs/config.schema.json', import.meta.url));

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  await writeFile(CONFIG_SCHEMA_PATH, renderConfigJsonSchema());
  console.log(`wrote ${CONFIG_SCHEMA_PATH}`);
}
