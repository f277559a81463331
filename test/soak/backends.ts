/**
 * The two ways the soak runs the real engine, each with its ground truth:
 *
 * - local: `openLocalRuntime` (folder raw store + SQLite, as `pop3-bridge
 *   poll`/`run` wire it); durable means the row is in `messages` (read through
 *   a second, read-only SQLite connection) and the raw file exists.
 * - aws: the S3 raw store and DynamoDB state store on moto_server, reached
 *   through the fault proxy; durable means moto acknowledged the record's
 *   TransactWriteItems and the raw object's PUT under its content key (the
 *   proxy sees both, whether or not the answer reached the engine).
 *
 * `pollDeps` gives the poll engine short POP3 timeouts so injected stalls end
 * in POP3_ERR_TIMEOUT within the soak; `deliveryDeps` compresses the retry
 * schedule and the webhook timeout (both are DeliveryDeps / Endpoint options).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import type BetterSqlite3 from 'better-sqlite3';
import { createAwsClients } from '../../functions/aws/clients.js';
import { DynamoStateStore } from '../../functions/aws/dynamo-state-store.js';
import { S3RawStore } from '../../functions/aws/s3-raw-store.js';
import { createTable } from '../../functions/aws/table-schema.js';
import type { BridgeConfig, MailboxConfig } from '../../functions/config/schema.js';
import { parseConfig } from '../../functions/config/validate.js';
import type { Logger } from '../../functions/core/logger.js';
import { createTokenSource } from '../../functions/core/oauth/token-source.js';
import type { PollDeps } from '../../functions/core/poll/poll-mailbox.js';
import type { RawStore, StateStore } from '../../functions/core/ports.js';
import { openMailboxSession } from '../../functions/core/session.js';
import { type DeliveryDeps, type Endpoint, endpointOf } from '../../functions/delivery/delivery-engine.js';
import { eventSource } from '../../functions/delivery/event-source.js';
import { AllowList } from '../../functions/delivery/ssrf-guard.js';
import { openLocalRuntime } from '../../functions/local/runtime.js';
import { Database } from '../../functions/local/sqlite-driver.js';
import type { Pop3Limits } from '../../functions/pop3/limits.js';
import type { ProxiedExchange } from '../support/fault-proxy.js';

/** Everything a child process needs to open the same backend (JSON). */
export type BackendSpec =
  | { readonly mode: 'local'; readonly rawConfig: unknown }
  | {
      readonly mode: 'aws';
      readonly rawConfig: unknown;
      readonly endpoint: string;
      readonly region: string;
      readonly table: string;
      readonly bucket: string;
    };

export interface Backend {
  readonly spec: BackendSpec;
  readonly mailbox: MailboxConfig;
  readonly state: StateStore;
  readonly store: RawStore;
  pollDeps(logger: Logger, limits: Partial<Pop3Limits>, extra?: Partial<PollDeps>): PollDeps;
  deliveryDeps(
    logger: Logger,
    tuning: { schedule: ReadonlyArray<number>; timeoutMs: number; random: () => number },
  ): DeliveryDeps;
  close(): Promise<void>;
}

const CREDENTIALS = { accessKeyId: 'testing', secretAccessKey: 'testing' } as const;

function mailboxOf(config: BridgeConfig): MailboxConfig {
  const mailbox = config.mailboxes[0];
  if (mailbox === undefined) throw new Error('the soak config has no valid mailbox');
  return mailbox;
}

function withTimeout(endpoint: Endpoint | undefined, timeoutMs: number): Endpoint | undefined {
  return endpoint && { ...endpoint, timeoutMs };
}

export function openBackend(spec: BackendSpec): Backend {
  const { config } = parseConfig(spec.rawConfig);
  const mailbox = mailboxOf(config);
  const sessionFor = (limits: Partial<Pop3Limits>, tokens: Parameters<typeof openMailboxSession>[1]['tokens']) => () =>
    openMailboxSession(mailbox, { tokens, limits });

  if (spec.mode === 'local') {
    const runtime = openLocalRuntime(config);
    return {
      spec,
      mailbox,
      state: runtime.state,
      store: runtime.store,
      pollDeps: (logger, limits, extra = {}) =>
        runtime.depsFor(mailbox, logger, { openSession: sessionFor(limits, runtime.tokens), ...extra }),
      deliveryDeps: (logger, tuning) => {
        const base = runtime.deliveryDeps(logger);
        return {
          ...base,
          endpointFor: async (m, id) => withTimeout(await base.endpointFor(m, id), tuning.timeoutMs),
          schedule: tuning.schedule,
          random: tuning.random,
        };
      },
      close: () => runtime.close(),
    };
  }

  const clients = createAwsClients({
    region: spec.region,
    endpoint: spec.endpoint,
    forcePathStyle: true,
    credentials: CREDENTIALS,
    // One request at a time, as in test/aws: moto 5.2 evaluates conditional writes without a lock.
    maxSockets: 1,
    requestTimeoutMs: 10_000,
  });
  const state = new DynamoStateStore(clients, { table: spec.table, bucket: spec.bucket });
  const store = new S3RawStore(clients.s3, { bucket: spec.bucket });
  const tokens = createTokenSource();
  const endpoints = new Map(mailbox.webhooks.map((w) => [w.id, endpointOf(w)]));
  return {
    spec,
    mailbox,
    state,
    store,
    pollDeps: (logger, limits, extra = {}) => ({
      state,
      store,
      logger,
      openSession: sessionFor(limits, tokens),
      ...extra,
    }),
    deliveryDeps: (logger, tuning) => ({
      state,
      endpointFor: (m, id) => (m === mailbox.name ? withTimeout(endpoints.get(id), tuning.timeoutMs) : undefined),
      eventFor: eventSource({ store, state, links: store.linkSigner(3600) }),
      allow: new AllowList(config.webhookAllowList),
      logger,
      schedule: tuning.schedule,
      random: tuning.random,
    }),
    close: async () => {
      clients.s3.destroy();
      clients.dynamo.destroy();
    },
  };
}

/** Creates the table and bucket directly on moto (not through the proxy: set-up is not under test). */
export async function provisionAws(motoEndpoint: string, region: string, table: string, bucket: string) {
  const direct = createAwsClients({ region, endpoint: motoEndpoint, forcePathStyle: true, credentials: CREDENTIALS });
  try {
    await createTable(direct.dynamo, table);
    await direct.s3.send(new CreateBucketCommand({ Bucket: bucket }));
  } finally {
    direct.s3.destroy();
    direct.dynamo.destroy();
  }
}

/** Local ground truth, read synchronously so a DELE can be judged at the instant it arrives. */
export function localDurability(
  storeDir: string,
  mailbox: string,
): {
  isDurable: (uid: string, sha256: string) => boolean;
  close: () => void;
} {
  let db: BetterSqlite3.Database | undefined;
  return {
    isDurable: (uid, sha256) => {
      // Opened lazily: the runtime creates the schema on first use.
      db ??= new Database(path.join(storeDir, 'state.db'), { readonly: true, fileMustExist: true });
      const row = db.prepare('SELECT raw_key, sha256 FROM messages WHERE mailbox = ? AND uid = ?').get(mailbox, uid) as
        | { raw_key: string; sha256: string }
        | undefined;
      return row !== undefined && row.sha256 === sha256 && existsSync(path.join(storeDir, 'mail', row.raw_key));
    },
    close: () => db?.close(),
  };
}

/** AWS ground truth from what moto acknowledged through the proxy. */
export class AwsDurabilityWitness {
  readonly #recorded = new Set<string>();
  readonly #objects = new Set<string>();

  /** Feed every proxied exchange here. */
  readonly observe = (exchange: ProxiedExchange): void => {
    if (exchange.status !== 200) return;
    if (exchange.service === 's3' && exchange.method === 'PUT') {
      const match = /[0-9a-f]{64}/.exec(exchange.path);
      if (match) this.#objects.add(match[0]);
      return;
    }
    if (exchange.service === 'dynamodb' && exchange.operation === 'TransactWriteItems') {
      const request = JSON.parse(exchange.body.toString('utf8')) as {
        TransactItems?: Array<{ Put?: { Item?: Record<string, { S?: string }> } }>;
      };
      for (const item of request.TransactItems ?? []) {
        const attrs = item.Put?.Item;
        // A message record: has a raw key and content hash, and is not a delivery job.
        if (attrs?.uid?.S && attrs.rawKey?.S && attrs.sha256?.S && attrs.webhookId === undefined) {
          this.#recorded.add(`${attrs.uid.S}\0${attrs.sha256.S}`);
        }
      }
    }
  };

  isDurable = (uid: string, sha256: string): boolean =>
    this.#recorded.has(`${uid}\0${sha256}`) && this.#objects.has(sha256);
}
