/**
 * Local mode's inline attachments (config `links.inlineMaxBytes`): a small
 * attachment also carries its decoded content as base64 in `content`, so a
 * receiver that cannot reach the bridge's link server still gets it. The link
 * stays. Runs after fit-event.ts, so inlining only uses room the event has
 * left: an attachment whose content would push the body over `maxBodyBytes`
 * is not inlined (a smaller one after it still may be), and nothing the body
 * cap already moved to a link comes back at the expense of an attachment.
 *
 * The content is read back from the store (content-addressed, so its SHA-256
 * is checked against the event's); an object that cannot be read, is larger
 * than announced or does not match is simply not inlined — the link remains,
 * the event is never worse than without inlining.
 */
import { createHash } from 'node:crypto';
import type { RawStore } from '../core/ports.js';
import { type EventWithBody, serialise } from './fit-event.js';

export interface InlineDeps {
  readonly store: RawStore;
  readonly maxBodyBytes: number;
  /** Largest decoded attachment inlined; 0: none. */
  readonly inlineMaxBytes: number;
}

/** Bytes `,"content":""` adds to an attachment object in JSON (base64 itself needs no escaping). */
const CONTENT_FIELD_BYTES = ',"content":""'.length;

export function base64Length(bytes: number): number {
  return 4 * Math.ceil(bytes / 3);
}

/**
 * `keys[i]` is the store key of `fitted.event.data.attachments[i]` (null when
 * it was not stored). fit-event.ts only ever keeps a prefix of the list, so
 * the indexes still line up.
 */
export async function inlineAttachments(
  fitted: EventWithBody,
  keys: ReadonlyArray<string | null>,
  deps: InlineDeps,
): Promise<EventWithBody> {
  if (deps.inlineMaxBytes <= 0) return fitted;
  const attachments = fitted.event.data.attachments;
  let bytes = fitted.bytes;
  let inlined = 0;
  for (let i = 0; i < attachments.length; i += 1) {
    const attachment = attachments[i]!;
    const key = keys[i];
    if (key === null || key === undefined || attachment.sha256 === null) continue;
    if (attachment.size > deps.inlineMaxBytes) continue;
    const extra = CONTENT_FIELD_BYTES + base64Length(attachment.size);
    if (bytes + extra > deps.maxBodyBytes) continue;
    const content = await readSmall(deps.store, key, deps.inlineMaxBytes);
    if (content === undefined || content.length !== attachment.size) continue;
    if (createHash('sha256').update(content).digest('hex') !== attachment.sha256) continue;
    attachments[i] = { ...attachment, content: content.toString('base64') };
    bytes += extra;
    inlined += 1;
  }
  return inlined === 0 ? fitted : serialise(fitted.event);
}

/** The whole object if it has at most `max` bytes; undefined when it is larger or cannot be read. */
async function readSmall(store: RawStore, key: string, max: number): Promise<Buffer | undefined> {
  let source: Awaited<ReturnType<RawStore['get']>> | undefined;
  try {
    source = await store.get(key);
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of source) {
      const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
      size += buffer.length;
      if (size > max) return undefined;
      chunks.push(buffer);
    }
    return Buffer.concat(chunks, size);
  } catch {
    return undefined;
  } finally {
    source?.destroy();
  }
}
