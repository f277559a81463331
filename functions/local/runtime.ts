/**
 * Local mode's wiring: the folder raw store and the SQLite state store under
 * the configured directory, sessions for configured mailboxes, and delivery
 * (endpoints from the config, events with links the local link server serves).
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { BridgeConfig, MailboxConfig } from '../config/schema.js';
import type { Logger } from '../core/logger.js';
import { createTokenSource, type TokenSource } from '../core/oauth/token-source.js';
import type { PollDeps } from '../core/poll/poll-mailbox.js';
import { openMailboxSession } from '../core/session.js';
import { type DeliveryDeps, type Endpoint, endpointOf } from '../delivery/delivery-engine.js';
import { type EventSourceDeps, eventSource } from '../delivery/event-source.js';
import { AllowList } from '../delivery/ssrf-guard.js';
import type { LinkSigner } from '../events/link-signer.js';
import { defaultEventWorkers, EventWorkerPool, pooledEventSource } from './event-worker-pool.js';
import { FolderRawStore } from './folder-raw-store.js';
import { loadOrCreateLinkKey } from './link-key.js';
import { localLinkSigner } from './link-server.js';
import { SqliteStateStore } from './sqlite-state-store.js';

export interface LocalRuntime {
  readonly dir: string;
  readonly state: SqliteStateStore;
  readonly store: FolderRawStore;
  readonly tokens: TokenSource;
  readonly linkKey: Buffer;
  readonly links: LinkSigner;
  /** What building an event needs, with the config's inlining and body cap: delivery and `events show`. */
  readonly eventDeps: EventSourceDeps;
  depsFor(mailbox: MailboxConfig, logger: Logger, extra?: Partial<PollDeps>): PollDeps;
  deliveryDeps(logger: Logger): DeliveryDeps;
  /**
   * Removes temp files a killed process left mid-write (`mail/tmp/`), older than STALE_TEMP_MS, and logs how
   * many. `poll` and `run` call it at start: without it every crash during a store leaked its partial file.
   */
  sweepStaleTemp(logger: Logger): Promise<number>;
  close(): Promise<void>;
}

/** A temp file this old belongs to no live store: a put of even a 100 MB message takes seconds. */
export const STALE_TEMP_MS = 24 * 60 * 60 * 1000;

export function endpointsOf(config: BridgeConfig): (mailbox: string, endpointId: string) => Endpoint | undefined {
  const byKey = new Map<string, Endpoint>();
  for (const m of config.mailboxes) {
    for (const w of m.webhooks) {
      byKey.set(`${m.name}\0${w.id}`, endpointOf(w));
    }
  }
  return (mailbox, endpointId) => byKey.get(`${mailbox}\0${endpointId}`);
}

/** The longest answer timeout of the config's webhooks (0 when there are none). */
function longestWebhookTimeoutMs(config: BridgeConfig): number {
  return Math.max(0, ...config.mailboxes.flatMap((m) => m.webhooks.map((w) => w.timeoutSeconds))) * 1000;
}

export interface LocalRuntimeOptions {
  readonly baseDir?: string;
  /**
   * Worker threads that build events (event-worker-pool.ts); 0 builds them on the main thread.
   * Default `defaultEventWorkers()`: one on this 2-core machine.
   */
  readonly eventWorkers?: number;
}

export function openLocalRuntime(config: BridgeConfig, options: LocalRuntimeOptions = {}): LocalRuntime {
  const dir = path.resolve(options.baseDir ?? process.cwd(), config.store.dir);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const state = new SqliteStateStore(path.join(dir, 'state.db'));
  const store = new FolderRawStore(path.join(dir, 'mail'));
  const tokens = createTokenSource();
  const linkKey = loadOrCreateLinkKey(dir);
  const linkOptions = {
    baseUrl: config.links.baseUrl ?? `http://${config.links.listen}`,
    key: linkKey,
    ttlSeconds: config.links.ttlSeconds,
  };
  const links = localLinkSigner(linkOptions);
  const eventDeps: EventSourceDeps = {
    store,
    state,
    links,
    inlineMaxBytes: config.links.inlineMaxBytes,
    maxBodyBytes: config.events.maxBodyBytes,
  };
  const workers = options.eventWorkers ?? defaultEventWorkers();
  // Workers start on the first event, so commands that deliver nothing never start one.
  const pool =
    workers > 0
      ? new EventWorkerPool({
          storeDir: store.dir,
          links: linkOptions,
          inlineMaxBytes: config.links.inlineMaxBytes,
          maxBodyBytes: config.events.maxBodyBytes,
          workers,
        })
      : undefined;
  return {
    dir,
    state,
    store,
    tokens,
    linkKey,
    links,
    eventDeps,
    depsFor(mailbox, logger, extra = {}) {
      return {
        state,
        store,
        logger,
        openSession: () => openMailboxSession(mailbox, { tokens, logger }),
        ...extra,
      };
    },
    deliveryDeps(logger) {
      return {
        state,
        endpointFor: endpointsOf(config),
        // Claims then last as long as this config's slowest endpoint needs (60 s with the default 15 s timeouts).
        longestTimeoutMs: longestWebhookTimeoutMs(config),
        eventFor: pool ? pooledEventSource(pool, eventDeps) : eventSource(eventDeps),
        allow: new AllowList(config.webhookAllowList),
        logger,
      };
    },
    async sweepStaleTemp(logger) {
      const removed = await store.sweepTemp(STALE_TEMP_MS);
      if (removed > 0) logger.info('removed temp files left by an interrupted store', { removed, dir: store.dir });
      return removed;
    },
    async close() {
      await pool?.close();
      await state.close();
    },
  };
}
