/**
 * The worker-thread side of local mode's event builders (event-worker-pool.ts
 * is the main-thread side): parses stored raw MIME into `email.received`
 * event bodies on another core, so the main thread keeps fetching, signing
 * and posting meanwhile.
 *
 * The worker opens the same folder store (content-addressed files and atomic
 * renames are safe from any thread) and signs links with the same key as the
 * main thread, so an event from here is byte for byte the one the main
 * thread would have built. It never touches the state database: the main
 * thread looks the record up and sends what the builder needs.
 *
 * This module starts serving only when loaded as a worker with its role in
 * `workerData`; imported anywhere else (the CLI bundle loads every module) it
 * does nothing. The CLI bundle is one file, so the pool starts its workers
 * from `EVENT_WORKER_URL` — this module's URL, which in the bundle is the
 * bundle's own.
 */
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { isBridgeError } from '../core/errors.js';
import { filterSubjectOf } from '../delivery/event-source.js';
import type { FilterSubject } from '../delivery/filters.js';
import { type BuildEventInput, buildEventBody } from '../events/build-event.js';
import { FolderRawStore } from './folder-raw-store.js';
import { localLinkSigner } from './link-server.js';

export const EVENT_WORKER_ROLE = 'pop3-bridge:event-builder';
export const EVENT_WORKER_URL = import.meta.url;

/** `workerData` of an event worker. The link key is a secret: it lives only in memory, never in logs. */
export interface EventWorkerSetup {
  readonly role: typeof EVENT_WORKER_ROLE;
  readonly storeDir: string;
  readonly links: { readonly baseUrl: string; readonly keyBase64: string; readonly ttlSeconds: number };
  readonly inlineMaxBytes: number;
  readonly maxBodyBytes: number;
}

export interface EventWorkerRequest {
  readonly id: number;
  readonly input: BuildEventInput;
  readonly storedAt: number;
}

export type EventWorkerReply =
  | { readonly id: number; readonly ok: true; readonly body: string; readonly filterSubject: FilterSubject }
  | {
      readonly id: number;
      readonly ok: false;
      /** A BridgeError's code and retryability, when it was one. */
      readonly code?: string;
      readonly retryable?: boolean;
      readonly message: string;
    };

function serve(setup: EventWorkerSetup): void {
  const port = parentPort!;
  const store = new FolderRawStore(setup.storeDir);
  const links = localLinkSigner({
    baseUrl: setup.links.baseUrl,
    key: Buffer.from(setup.links.keyBase64, 'base64'),
    ttlSeconds: setup.links.ttlSeconds,
  });
  port.on('message', (request: EventWorkerRequest) => {
    buildEventBody(request.input, {
      store,
      links,
      now: () => request.storedAt,
      inlineMaxBytes: setup.inlineMaxBytes,
      limits: { maxBodyBytes: setup.maxBodyBytes },
    }).then(
      (built) => {
        // The body goes as a string, not as transferred UTF-8 bytes: on the main thread a string lives on the JS
        // heap and dies young, while every transferred ArrayBuffer is external memory that counts towards the
        // next full GC until one runs (core/chunk-recycling.ts says why that matters there). Signing and
        // sending encode the string without making an ArrayBuffer (signature.ts, http-post.ts).
        port.postMessage({
          id: request.id,
          ok: true,
          body: built.body,
          filterSubject: filterSubjectOf(built),
        } satisfies EventWorkerReply);
      },
      (error: unknown) => {
        port.postMessage(
          isBridgeError(error)
            ? { id: request.id, ok: false, code: error.code, retryable: error.retryable, message: error.message }
            : { id: request.id, ok: false, message: error instanceof Error ? error.message : String(error) },
        );
      },
    );
  });
}

const setup = workerData as Partial<EventWorkerSetup> | null | undefined;
if (!isMainThread && setup?.role === EVENT_WORKER_ROLE) serve(setup as EventWorkerSetup);
