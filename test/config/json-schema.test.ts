import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { buildConfigJsonSchema, renderConfigJsonSchema } from '../../functions/config/json-schema.js';
import { CONFIG_SCHEMA_PATH } from '../../functions/config/write-json-schema.js';

describe('docs/config.schema.json', () => {
  it('equals a fresh generation (run `npx tsx functions/config/write-json-schema.ts` after changing the schema)', async () => {
    expect(await readFile(CONFIG_SCHEMA_PATH, 'utf8')).toBe(renderConfigJsonSchema());
  });

  it('is draft-07, strict, and describes the input (defaulted fields optional)', () => {
    const schema = buildConfigJsonSchema() as {
      $schema: string;
      additionalProperties: boolean;
      required: string[];
      properties: { mailboxes: { items: { required: string[]; additionalProperties: boolean } } };
    };
    expect(schema.$schema).toBe('http://json-schema.org/draft-07/schema#');
    expect(schema.additionalProperties).toBe(false);
    expect(schema.required).toEqual(['mailboxes']);
    const mailbox = schema.properties.mailboxes.items;
    expect(mailbox.additionalProperties).toBe(false);
    expect([...mailbox.required].sort()).toEqual(['host', 'name', 'username', 'webhooks']);
  });
});
