/**
 * Writes `docs/event.schema.json` and `docs/event.d.ts` from the zod schema.
 * Run: `npx tsx functions/events/write-json-schema.ts` (from the repo root).
 */
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { renderEventDts } from './event-dts.js';
import { renderEventJsonSchema } from './json-schema.js';

export const EVENT_SCHEMA_PATH = fileURLToPath(new URL('../../docs/event.schema.json', import.meta.url));
export const EVENT_DTS_PATH = fileURLToPath(new URL('../../docs/event.d.ts', import.meta.url));

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  await writeFile(EVENT_SCHEMA_PATH, renderEventJsonSchema());
  console.log(`wrote ${EVENT_SCHEMA_PATH}`);
  await writeFile(EVENT_DTS_PATH, await renderEventDts());
  console.log(`wrote ${EVENT_DTS_PATH}`);
}
