/**
 * Rebuilds a derived object (an attachment, or a text or html body too long
 * for its event) that an OS crash or power loss left missing or damaged.
 *
 * Why it exists: the local store writes derived objects without fsyncs
 * (folder-raw-store.ts), because each is a pure function of a raw message that
 * is already durable. An event can be delivered with a link to such an object
 * seconds before the kernel has written it back. When that link is fetched,
 * the link server checks the object against the SHA-256 its key names and, if
 * it does not match, parses the raw message the link names as its source again
 * (the parse the event worker ran) with every object stored durably, over
 * whatever is there.
 *
 * It finds what the event build found as long as the parser and the event
 * limits are the same; local mode builds with the default limits. An object
 * the rebuild does not produce again (a raw message gone, a parser upgraded in
 * between that decodes differently) stays lost, and its link answers 404.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Logger } from '../core/logger.js';
import { type EventLimits, resolveEventLimits } from '../events/limits.js';
import { parseMime } from '../events/parse-mime.js';
import { type FolderRawStore, isValidKey, sha256OfKey } from './folder-raw-store.js';

export type DerivedObjectState = 'intact' | 'rebuilt' | 'lost';

export interface DerivedObjectRepair {
  /**
   * Whether `key` can be served: 'intact' as stored, 'rebuilt' from `source` (the store key of the raw
   * message it was derived from), or 'lost'. An object is rebuilt once, however many requests for it
   * arrive at the same time.
   */
  ensure(key: string, source: string | undefined): Promise<DerivedObjectState>;
}

export function derivedObjectRepair(
  store: FolderRawStore,
  options: { logger?: Logger; limits?: Partial<EventLimits> } = {},
): DerivedObjectRepair {
  const limits = resolveEventLimits(options.limits);
  const rebuilding = new Map<string, Promise<void>>();

  /** Parses `source` again and stores, durably, every attachment it has and each body whose hash is `wanted`. */
  async function rebuild(source: string, wanted: string): Promise<void> {
    const repairing = store.repairing();
    const parsed = await parseMime(await store.get(source), repairing, limits);
    // Bodies are stored only when the event could not hold them (fit-event.ts), which depends on the whole
    // event; the hash says whether one of them is the object asked for, whatever the event looked like.
    for (const body of [parsed.text, parsed.html]) {
      if (body === null) continue;
      const bytes = Buffer.from(body, 'utf8');
      if (createHash('sha256').update(bytes).digest('hex') === wanted) {
        await repairing.put(Readable.from([bytes]), 'attachment');
      }
    }
  }

  return {
    async ensure(key, source) {
      if (await store.isIntact(key)) return 'intact';
      const log = options.logger?.child({ key, ...(source !== undefined && { source }) });
      if (source === undefined || !isValidKey(source) || !source.startsWith('raw/')) {
        log?.warn('a stored object is missing or damaged, and its link names no raw message to rebuild it from');
        return 'lost';
      }
      const wanted = sha256OfKey(key);
      // Per object, not per source: a rebuild stores only the body it was asked for.
      const job = `${source}\n${key}`;
      let running = rebuilding.get(job);
      if (running === undefined) {
        running = rebuild(source, wanted).finally(() => rebuilding.delete(job));
        rebuilding.set(job, running);
      }
      try {
        await running;
      } catch (error) {
        log?.warn('could not rebuild a damaged stored object from its raw message', {
          code: (error as { code?: unknown } | null)?.code ?? 'unknown',
        });
        return 'lost';
      }
      if (await store.isIntact(key)) {
        log?.warn('rebuilt a stored object that was missing or damaged (an OS crash before it reached the disk?)');
        return 'rebuilt';
      }
      log?.warn('a stored object is missing or damaged, and its raw message does not give it again');
      return 'lost';
    },
  };
}
