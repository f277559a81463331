import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { buildEventJsonSchema, renderEventJsonSchema } from '../../functions/events/json-schema.js';
import { EVENT_SCHEMA_PATH } from '../../functions/events/write-json-schema.js';
import { eventValidators } from './support.js';

describe('docs/event.schema.json', () => {
  it('equals a fresh generation (run `npx tsx functions/events/write-json-schema.ts` after changing the schema)', async () => {
    expect(await readFile(EVENT_SCHEMA_PATH, 'utf8')).toBe(renderEventJsonSchema());
  });

  it('is draft-07, requires every field, and leaves objects open for fields added later', () => {
    const schema = buildEventJsonSchema() as {
      $schema: string;
      required: string[];
      additionalProperties?: unknown;
      definitions: Record<
        string,
        { required?: string[]; properties?: Record<string, unknown>; additionalProperties?: unknown }
      >;
    };
    expect(schema.$schema).toBe('http://json-schema.org/draft-07/schema#');
    expect(schema.required).toEqual(['type', 'timestamp', 'data']);
    expect(schema.additionalProperties).toBeUndefined();
    const data = schema.definitions.EmailReceivedData!;
    expect(data.required?.sort()).toEqual(Object.keys(data.properties ?? {}).sort());
    expect(data.additionalProperties).toBeUndefined();
    const strict = buildEventJsonSchema({ strict: true }) as typeof schema;
    expect(strict.definitions.EmailReceivedData?.additionalProperties).toBe(false);
  });

  it('compiles with ajv (strict mode) and rejects an event with a wrong type or a missing field', () => {
    const { published, strict } = eventValidators();
    expect(published({ type: 'email.received', timestamp: '2024-01-02T03:04:05.000Z', data: {} })).toBe(false);
    expect(published({ type: 'other', timestamp: 'x', data: {} })).toBe(false);
    expect(strict({})).toBe(false);
  });
});
