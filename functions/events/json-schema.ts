/**
 * The JSON Schema of the `email.received` event, generated from the zod
 * schema so the two cannot drift (a test compares the committed
 * `docs/event.schema.json` with a fresh generation). Draft-07, like the
 * config schema: the draft most receivers' validators and code generators read.
 *
 * The published schema leaves objects open (no `additionalProperties: false`):
 * fields may be added to the event later, and a receiver that validates with
 * the schema must not start rejecting events then. `strict: true` closes every
 * object; the tests use it to catch a field the builder emits but the schema
 * does not declare.
 */
import { z } from 'zod';
import { EmailReceivedEventSchema } from './schema.js';

export function buildEventJsonSchema(options: { strict?: boolean } = {}): Record<string, unknown> {
  return z.toJSONSchema(EmailReceivedEventSchema, {
    target: 'draft-07',
    io: 'output',
    override: (ctx) => {
      if (options.strict !== true) delete (ctx.jsonSchema as { additionalProperties?: unknown }).additionalProperties;
    },
  }) as Record<string, unknown>;
}

/** The file's exact text: two-space JSON and a final newline. */
export function renderEventJsonSchema(): string {
  return `${JSON.stringify(buildEventJsonSchema(), null, 2)}\n`;
}
