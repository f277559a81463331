/**
 * Shared set-up of the event tests: a real FolderRawStore in a temp dir, a
 * LinkSigner test double that records what it signed, and a helper that stores
 * a raw message the way the poll engine does and returns the builder's input.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { Readable } from 'node:stream';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import type { BuildEventDeps, BuildEventInput } from '../../functions/events/build-event.js';
import { buildEventJsonSchema } from '../../functions/events/json-schema.js';
import type { LinkMeta, LinkSigner } from '../../functions/events/link-signer.js';
import { FolderRawStore } from '../../functions/local/folder-raw-store.js';

/** Signs nothing: `https://links.test/<key>?name=…&type=…`, and remembers each call. */
export class RecordingLinkSigner implements LinkSigner {
  readonly calls: Array<{ key: string; meta: LinkMeta }> = [];

  async linkFor(key: string, meta: LinkMeta): Promise<string> {
    this.calls.push({ key, meta });
    const url = new URL(`https://links.test/${key}`);
    if (meta.filename !== undefined) url.searchParams.set('name', meta.filename);
    if (meta.contentType !== undefined) url.searchParams.set('type', meta.contentType);
    return url.toString();
  }

  /** The store key a URL this signer made points at. */
  static keyOf(url: string): string {
    return new URL(url).pathname.slice(1);
  }
}

export interface EventHarness {
  readonly dir: string;
  readonly store: FolderRawStore;
  readonly links: RecordingLinkSigner;
  readonly deps: BuildEventDeps;
  /** Stores `bytes` as a raw message and returns the builder input for it. */
  storeRaw(bytes: Buffer, uid?: string): Promise<BuildEventInput>;
  /** Relative paths of the stored files of one kind. */
  listObjects(prefix: 'raw' | 'att'): Promise<string[]>;
  cleanup(): Promise<void>;
}

export const FIXED_NOW = Date.UTC(2024, 0, 2, 3, 4, 5);

export async function eventHarness(): Promise<EventHarness> {
  const dir = await mkdtemp(join(tmpdir(), 'pop3-bridge-events-'));
  const store = new FolderRawStore(dir);
  const links = new RecordingLinkSigner();
  let n = 0;
  return {
    dir,
    store,
    links,
    deps: { store, links, now: () => FIXED_NOW },
    async storeRaw(bytes, uid) {
      const stored = await store.put(Readable.from([bytes]), 'raw');
      n += 1;
      return {
        mailbox: 'inbox',
        uid: uid ?? `uid-${n}`,
        rawKey: stored.key,
        rawSha256: stored.sha256,
        rawSize: stored.size,
      };
    },
    async listObjects(prefix) {
      const root = join(dir, prefix);
      const entries = await readdir(root, { recursive: true, withFileTypes: true }).catch(() => []);
      return entries
        .filter((e) => e.isFile())
        .map((e) => relative(dir, join(e.parentPath, e.name)))
        .sort();
    },
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

/** Joins lines with CRLF, ending with CRLF. */
export function crlf(lines: ReadonlyArray<string>): Buffer {
  return Buffer.from(lines.map((l) => `${l}\r\n`).join(''), 'utf8');
}

/** Validators for the published (open) and the strict (closed objects) event schema, draft-07. */
export function eventValidators(): { published: ValidateFunction; strict: ValidateFunction } {
  const compile = (schema: Record<string, unknown>): ValidateFunction => {
    const ajv = new Ajv({ strict: true, allErrors: true });
    addFormats.default(ajv);
    return ajv.compile(schema);
  };
  return { published: compile(buildEventJsonSchema()), strict: compile(buildEventJsonSchema({ strict: true })) };
}

/** ajv's errors as one readable string (for expect messages). */
export function schemaErrors(validate: ValidateFunction): string {
  return JSON.stringify(validate.errors ?? [], null, 1);
}

/** `input` cut into pieces of the given sizes, used in turn (no sizes: one piece), as a stream's writes would be. */
export function chunkBuffer(input: Buffer, sizes: readonly number[]): Buffer[] {
  const chunks: Buffer[] = [];
  let offset = 0;
  for (let n = 0; offset < input.length; n += 1) {
    const size = sizes.length ? sizes[n % sizes.length]! : input.length;
    chunks.push(input.subarray(offset, offset + size));
    offset += size;
  }
  return chunks;
}
