/**
 * `docs/event.d.ts`: the `email.received` event as a self-contained TypeScript declaration file for
 * receivers, generated from the published JSON Schema (itself generated from the zod schema), so the
 * types, the JSON Schema and the bridge's own `EmailReceivedEvent` cannot drift. A test compares the
 * committed file with a fresh generation; `test/events/event-dts.typecheck.ts` proves the generated types
 * equal the zod ones.
 *
 * json-schema-to-typescript (a dev dependency: only this generator and its tests load it) turns each
 * `description` into JSDoc and each definition into a named interface. Two choices differ from its defaults:
 * - Objects are closed (`additionalProperties: false`), although the JSON Schema leaves them open: an index
 *   signature `[k: string]: unknown` on every interface would make a typo in a receiver's field name compile.
 *   Receivers still have to ignore fields they do not know; the banner says so.
 * - The root interface is named `EmailReceivedEvent`, like the bridge's type, not after the schema's title
 *   (`email.received`, which would give `EmailReceived`).
 * Its output is formatted by prettier (its dependency) in the house style: single quotes, 120 columns.
 */
import { compile } from 'json-schema-to-typescript';
import { buildEventJsonSchema } from './json-schema.js';

const BANNER = `/**
 * The \`email.received\` webhook event of pop3-bridge, as TypeScript types.
 *
 * Generated from the zod schema in functions/events/schema.ts (the same source as docs/event.schema.json)
 * by \`npx tsx functions/events/write-json-schema.ts\`: do not edit it by hand.
 *
 * Self-contained (no imports): copy this file into your project and
 * \`import type { EmailReceivedEvent } from './event.js';\`. Fields may be added to the event later; these
 * types leave them out, so ignore fields you do not know. Types check nothing at run time: verify the
 * webhook signature, and validate with docs/event.schema.json if you want the shape checked.
 */`;

export async function renderEventDts(): Promise<string> {
  const { title: _title, ...schema } = buildEventJsonSchema();
  return compile(schema, 'EmailReceivedEvent', {
    bannerComment: BANNER,
    additionalProperties: false,
    // The schema's $refs are all local (#/definitions/…): nothing is read from disk or the network.
    declareExternallyReferenced: true,
    style: { singleQuote: true, printWidth: 120, tabWidth: 2, useTabs: false, trailingComma: 'all' },
  });
}
