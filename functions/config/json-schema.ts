/**
 * The JSON Schema of the configuration file, generated from the zod schema so
 * the two cannot drift (a test compares the committed file with a fresh one).
 * Draft-07: the draft editors (yaml-language-server, VS Code) support best.
 * It describes the input: fields with defaults are optional. Cross-field rules
 * (tls none needs allowInsecureAuth, credentials per method, …) are enforced
 * by `parseConfig` only.
 */
import { z } from 'zod';
import { BridgeConfigSchema } from './schema.js';

export function buildConfigJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(BridgeConfigSchema, { io: 'input', target: 'draft-07' }) as Record<string, unknown>;
}

/** The file's exact text: two-space JSON and a final newline. */
export function renderConfigJsonSchema(): string {
  return `${JSON.stringify(buildConfigJsonSchema(), null, 2)}\n`;
}
