/**
 * Local mode's pool of event-builder worker threads (event-worker.ts): MIME
 * parsing, attachment storing and event serialisation — most of the CPU of a
 * delivery — run beside the main thread, which keeps polling, signing and
 * posting. Measured with bench/e2e-delivery.ts and bench/profile.ts (see the
 * commit that added this file).
 *
 * Bounds:
 * - at most `perWorker` builds in flight per worker (a build waits on disk
 *   I/O part of the time, so a worker takes a few at once); further requests
 *   wait in a FIFO queue. The queue holds only the small request objects, and
 *   its length is bounded by the callers: the delivery engine asks for at most
 *   `concurrency` events at a time.
 * - memory: a build streams as it does in process (parse-mime.ts); each worker
 *   adds its own V8 heap, so the pool is small (default: one worker per core
 *   beyond the first, at most 2).
 * - time: a build has the parse's own time budget inside the worker; a worker
 *   that has not answered a request `watchdogMs` after it was sent (a parser
 *   stuck in synchronous code, which the in-worker timer cannot interrupt) is
 *   terminated, its requests fail with WEBHOOK_ERR_EVENT (retryable: the
 *   delivery is retried on its schedule) and a new worker starts on demand.
 *   The main thread, unlike the in-process build, is never frozen by it.
 *
 * A worker that exits or throws fails its requests the same way. Workers are
 * unref'd while idle, so a pool never keeps a process alive on its own.
 *
 * Large messages are built on the main thread (`pooledEventSource`,
 * `maxPooledBytes`): a parse churns through young-generation memory in
 * proportion to the message, and a second heap doing that grows the process's
 * resident memory by tens of MiB (bench/rss-delivery.ts: 121 → 155 MiB for a
 * 100 MiB message built in a worker); a typical message (≤ a few hundred KiB)
 * leaves a worker's heap small, and those are where the throughput is.
 */
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { BridgeError, type ErrorCode, ErrorCodes } from '../core/errors.js';
import type { DeliveryJob } from '../core/ports.js';
import type { BuiltEvent } from '../delivery/delivery-engine.js';
import { type EventRequest, type EventSourceDeps, eventRequestFor, eventSource } from '../delivery/event-source.js';
import { DEFAULT_EVENT_LIMITS } from '../events/limits.js';
import {
  EVENT_WORKER_ROLE,
  EVENT_WORKER_URL,
  type EventWorkerReply,
  type EventWorkerRequest,
  type EventWorkerSetup,
} from './event-worker.js';

export interface EventWorkerPoolOptions {
  readonly storeDir: string;
  readonly links: { readonly baseUrl: string; readonly key: Buffer; readonly ttlSeconds: number };
  readonly inlineMaxBytes?: number | undefined;
  /** `events.maxBodyBytes`; default 256 KiB. */
  readonly maxBodyBytes?: number | undefined;
  /** Worker threads; default `defaultEventWorkers()`. */
  readonly workers?: number;
  /** Builds in flight per worker; default 4. */
  readonly perWorker?: number;
  /** A request unanswered this long means a stuck worker; default the parse budget + 20 s. */
  readonly watchdogMs?: number;
  /**
   * The module a worker runs: default event-worker.ts as this build has it (in the CLI bundle, the bundle
   * itself). Benchmarks pass a bundle of event-worker.ts, so the workers start as the CLI's do.
   */
  readonly workerUrl?: string;
}

/** One worker per core beyond the main thread's, at least 1 and at most 2. */
export function defaultEventWorkers(): number {
  return Math.min(2, Math.max(1, availableParallelism() - 1));
}

interface Pending {
  readonly request: EventWorkerRequest;
  readonly resolve: (event: BuiltEvent) => void;
  readonly reject: (error: unknown) => void;
}

interface Slot {
  readonly worker: Worker;
  readonly inFlight: Map<number, { pending: Pending; sentAt: number }>;
  dead: boolean;
}

/**
 * How a worker is started: the module itself when it is plain JavaScript (the CLI bundle); through tsx's
 * loader when it is TypeScript (tests and benchmarks run the sources; Node 20 cannot load .ts, and a worker
 * does not inherit the parent's loader hooks).
 */
function startWorker(url: string, setup: EventWorkerSetup): Worker {
  if (!url.endsWith('.ts')) return new Worker(new URL(url), { workerData: setup });
  const tsxDir = path.dirname(createRequire(url).resolve('tsx/package.json'));
  const api = pathToFileURL(path.join(tsxDir, 'dist', 'esm', 'api', 'index.mjs')).href;
  const code = `import(${JSON.stringify(api)}).then((tsx) => tsx.tsImport(${JSON.stringify(url)}, ${JSON.stringify(url)}))`;
  return new Worker(code, { eval: true, workerData: setup });
}

function errorOf(reply: Extract<EventWorkerReply, { ok: false }>): BridgeError {
  if (reply.code !== undefined && Object.hasOwn(ErrorCodes, reply.code)) {
    return new BridgeError(reply.code as ErrorCode, reply.message, {
      ...(reply.retryable !== undefined && { retryable: reply.retryable }),
    });
  }
  return new BridgeError('WEBHOOK_ERR_EVENT', `building the event failed: ${reply.message}`);
}

export class EventWorkerPool {
  readonly #setup: EventWorkerSetup;
  readonly #size: number;
  readonly #perWorker: number;
  readonly #watchdogMs: number;
  readonly #workerUrl: string;
  readonly #slots: Slot[] = [];
  readonly #queue: Pending[] = [];
  #nextId = 1;
  #watchdog: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(options: EventWorkerPoolOptions) {
    this.#setup = {
      role: EVENT_WORKER_ROLE,
      storeDir: options.storeDir,
      links: {
        baseUrl: options.links.baseUrl,
        keyBase64: options.links.key.toString('base64'),
        ttlSeconds: options.links.ttlSeconds,
      },
      inlineMaxBytes: options.inlineMaxBytes ?? 0,
      maxBodyBytes: options.maxBodyBytes ?? DEFAULT_EVENT_LIMITS.maxBodyBytes,
    };
    this.#size = Math.max(1, Math.trunc(options.workers ?? defaultEventWorkers()));
    this.#perWorker = Math.max(1, Math.trunc(options.perWorker ?? 4));
    this.#watchdogMs = options.watchdogMs ?? DEFAULT_EVENT_LIMITS.parseTimeoutMs + 20_000;
    this.#workerUrl = options.workerUrl ?? EVENT_WORKER_URL;
  }

  /** Workers currently running (started on demand). */
  get workers(): number {
    return this.#slots.length;
  }

  build({ input, storedAt }: EventRequest): Promise<BuiltEvent> {
    if (this.#closed) return Promise.reject(new BridgeError('WEBHOOK_ERR_EVENT', 'the event worker pool is closed'));
    return new Promise<BuiltEvent>((resolve, reject) => {
      this.#queue.push({ request: { id: this.#nextId++, input, storedAt }, resolve, reject });
      this.#dispatch();
    });
  }

  /** Fails what is queued and in flight, and stops every worker. */
  async close(): Promise<void> {
    this.#closed = true;
    const closed = new BridgeError('WEBHOOK_ERR_EVENT', 'the event worker pool is closed');
    for (const pending of this.#queue.splice(0)) pending.reject(closed);
    const slots = this.#slots.splice(0);
    for (const slot of slots) this.#fail(slot, closed);
    this.#updateWatchdog();
    await Promise.all(slots.map((slot) => slot.worker.terminate()));
  }

  #dispatch(): void {
    while (this.#queue.length > 0) {
      let slot = this.#slots.reduce<Slot | undefined>(
        (best, s) => (s.inFlight.size < this.#perWorker && (!best || s.inFlight.size < best.inFlight.size) ? s : best),
        undefined,
      );
      // A new worker only when every running one is busy (an idle pool costs no heap).
      if ((!slot || slot.inFlight.size > 0) && this.#slots.length < this.#size) slot = this.#spawn();
      if (!slot) break;
      const pending = this.#queue.shift()!;
      if (slot.inFlight.size === 0) slot.worker.ref();
      slot.inFlight.set(pending.request.id, { pending, sentAt: Date.now() });
      slot.worker.postMessage(pending.request);
    }
    this.#updateWatchdog();
  }

  #spawn(): Slot {
    const worker = startWorker(this.#workerUrl, this.#setup);
    const slot: Slot = { worker, inFlight: new Map(), dead: false };
    worker.unref();
    worker.on('message', (reply: EventWorkerReply) => {
      const entry = slot.inFlight.get(reply.id);
      if (!entry) return;
      slot.inFlight.delete(reply.id);
      if (slot.inFlight.size === 0) worker.unref();
      if (reply.ok) entry.pending.resolve({ body: reply.body, filterSubject: reply.filterSubject });
      else entry.pending.reject(errorOf(reply));
      this.#dispatch();
    });
    worker.on('error', (error) => {
      this.#retire(slot, new BridgeError('WEBHOOK_ERR_EVENT', `an event worker failed: ${error.message}`));
    });
    worker.on('exit', (code) => {
      this.#retire(slot, new BridgeError('WEBHOOK_ERR_EVENT', `an event worker exited (code ${code})`));
    });
    this.#slots.push(slot);
    return slot;
  }

  /** Takes a broken worker out of the pool: its requests fail, the queue moves on to the others (or a new one). */
  #retire(slot: Slot, error: BridgeError): void {
    if (slot.dead) return;
    const at = this.#slots.indexOf(slot);
    if (at !== -1) this.#slots.splice(at, 1);
    this.#fail(slot, error);
    void slot.worker.terminate();
    if (!this.#closed) this.#dispatch();
    else this.#updateWatchdog();
  }

  #fail(slot: Slot, error: BridgeError): void {
    slot.dead = true;
    for (const { pending } of slot.inFlight.values()) pending.reject(error);
    slot.inFlight.clear();
  }

  /** One timer for the pool, running only while something is in flight (it never holds the process open). */
  #updateWatchdog(): void {
    const busy = this.#slots.some((s) => s.inFlight.size > 0);
    if (!busy) {
      clearInterval(this.#watchdog);
      this.#watchdog = undefined;
      return;
    }
    this.#watchdog ??= setInterval(
      () => {
        const now = Date.now();
        for (const slot of [...this.#slots]) {
          const oldest = Math.min(...[...slot.inFlight.values()].map((e) => e.sentAt));
          if (now - oldest > this.#watchdogMs) {
            this.#retire(
              slot,
              new BridgeError('WEBHOOK_ERR_EVENT', `an event worker did not answer within ${this.#watchdogMs} ms`),
            );
          }
        }
      },
      Math.min(1_000, Math.max(10, this.#watchdogMs / 4)),
    ).unref();
  }
}

/** Raw messages above this size are built on the main thread (see the module comment). */
export const DEFAULT_MAX_POOLED_BYTES = 4 * 1024 * 1024;

/**
 * The delivery engine's `eventFor` with a pool: the record is read on the main thread (the state database
 * lives there), a message of at most `maxPooledBytes` is built in a worker, a larger one in process.
 */
export function pooledEventSource(
  pool: EventWorkerPool,
  deps: EventSourceDeps,
  maxPooledBytes: number = DEFAULT_MAX_POOLED_BYTES,
): (job: DeliveryJob) => Promise<BuiltEvent> {
  const inProcess = eventSource(deps);
  return async (job) => {
    const request = await eventRequestFor(job, deps.state);
    return request.input.rawSize > maxPooledBytes ? inProcess(job) : pool.build(request);
  };
}
