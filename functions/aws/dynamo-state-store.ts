/**
 * AWS `StateStore` on one DynamoDB table (layout in `table-schema.ts`), plus
 * one S3 object per mailbox for the known-uid set.
 *
 * Costs, on-demand: an idle poll makes one request (`peekMailbox`, 0.5 RRU) and
 * writes nothing; a poll with work adds the lease, a status read and write and
 * the release, one request each whatever the mailbox size, and the known-uid
 * set is one S3 GET. Nothing here scans the table: every read is a GetItem, a
 * BatchGetItem or a Query on the table or a sparse index.
 *
 * Consistency: reads of the table itself are strongly consistent, except the
 * peek, which only decides whether to take the lease (see there). Index
 * queries (due deliveries, retention, hash matches, listings) are eventually
 * consistent on DynamoDB, so the writes that act on their results are
 * conditional (a claim only succeeds if the job is still due; markDeleted only
 * sets deletedAt once) and results are re-checked against the item they return.
 */
import { randomUUID } from 'node:crypto';
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import {
  BatchGetCommand,
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  type QueryCommandInput,
  TransactWriteCommand,
  UpdateCommand,
  type UpdateCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { endpointKey } from '../core/endpoint-key.js';
import { BridgeError, isBridgeError } from '../core/errors.js';
import type {
  ClaimOptions,
  DeliveryJob,
  DeliveryPatch,
  DeliveryStatus,
  DeliveryUpdate,
  MailboxPeek,
  MailboxState,
  MessageRecord,
  StateStore,
} from '../core/ports.js';
import { decodeKnownUids, encodeKnownUids } from './known-uids.js';
import { KNOWN_UIDS_PREFIX, TABLE_SCHEMA } from './table-schema.js';

export interface DynamoStateStoreOptions {
  readonly table: string;
  /** Bucket of the known-uid blobs (the raw store's bucket). */
  readonly bucket: string;
  /** Parallel requests for batch work (BatchGetItem chunks, per-item updates). Default 8. */
  readonly concurrency?: number;
}

export interface DynamoStateStoreClients {
  readonly doc: DynamoDBDocumentClient;
  readonly s3: S3Client;
}

export interface StateStoreStats {
  /** SDK requests sent (DynamoDB and S3): what AWS bills, one per call. */
  readonly roundTrips: number;
}

type Item = Record<string, unknown>;

const DELIVERY_STATUSES = [
  'pending',
  'delivered',
  'failed',
  'dead',
  'disabled',
] as const satisfies readonly DeliveryStatus[];
/** Statuses the delivery engine still works on: `failed` is a failed attempt with a retry scheduled. */
const DUE_STATUSES: ReadonlySet<DeliveryStatus> = new Set(['pending', 'failed']);

const { partitionKey: PK, sortKey: SK, ttlAttribute: TTL } = TABLE_SCHEMA;
const [GSI1, GSI2, GSI3] = TABLE_SCHEMA.indexes;

/** Attributes of the table's own bookkeeping, never part of a returned value. */
const BOOKKEEPING = new Set<string>([PK, SK, TTL, ...TABLE_SCHEMA.indexes.flatMap((i) => [i.partitionKey, i.sortKey])]);

const LEASE_SK = 'LEASE';
const STATUS_SK = 'STATUS';
const JOB_SK = 'JOB';
const DUE = 'DUE';
const MAILBOX_LIST = 'MAILBOX';
/** TransactWriteItems takes at most 100 actions: the record and 99 jobs. */
const MAX_JOBS_PER_MESSAGE = 99;
const BATCH_GET_SIZE = 100;
/** Smallest Query page asked for when a limit is known. */
const MIN_PAGE = 32;
/** Query page asked for while skipping endpoints (claimDueDeliveries' skipEndpoints). */
const SKIPPING_PAGE = 1_000;
/** A lease item stays this long after it expired, then TTL removes it (cleanup only: expiry is checked on write). */
const LEASE_TTL_GRACE_SECONDS = 24 * 3600;

const mailboxPk = (mailbox: string): string => `MB#${mailbox}`;
const messageSk = (uid: string): string => `UIDL#${uid}`;
const jobPk = (webhookId: string): string => `DLV#${webhookId}`;
/**
 * gsi2 sort key of a job: the uid, a space, the webhookId. A UIDL is 0x21..0x7E
 * (RFC 1939 §7), so `begins_with(<uid> + ' ')` finds exactly one message's jobs.
 */
const UID_SEPARATOR = ' ';
const jobByUidKey = (uid: string, webhookId: string): string => `${uid}${UID_SEPARATOR}${webhookId}`;

/** Epoch ms as 16 zero-padded digits: string order is time order (clamped to 0 … 2^53-1, 16 digits). */
export function timeKey(ms: number): string {
  const clamped = Math.min(Math.max(0, Math.floor(ms)), Number.MAX_SAFE_INTEGER);
  return String(clamped).padStart(16, '0');
}

function messageItem(record: MessageRecord): Item {
  const order = `${timeKey(record.fetchedAt)}#${record.uid}`;
  return {
    [PK]: mailboxPk(record.mailbox),
    [SK]: messageSk(record.uid),
    mailbox: record.mailbox,
    uid: record.uid,
    ...(record.serverUidl !== undefined && { serverUidl: record.serverUidl }),
    sha256: record.sha256,
    rawKey: record.rawKey,
    size: record.size,
    fetchedAt: record.fetchedAt,
    ...(record.deletedAt !== undefined && { deletedAt: record.deletedAt }),
    ...(record.headersOnly === true && { headersOnly: true }),
    ...(record.deleSentAt !== undefined && { deleSentAt: record.deleSentAt }),
    [GSI2.partitionKey]: `${mailboxPk(record.mailbox)}#SHA#${record.sha256}`,
    [GSI2.sortKey]: order,
    ...(record.deletedAt === undefined && {
      [GSI3.partitionKey]: `${mailboxPk(record.mailbox)}#LIVE`,
      [GSI3.sortKey]: order,
    }),
  };
}

function toMessage(item: Item): MessageRecord {
  return {
    mailbox: item.mailbox as string,
    uid: item.uid as string,
    serverUidl: item.serverUidl as string | undefined,
    sha256: item.sha256 as string,
    rawKey: item.rawKey as string,
    size: item.size as number,
    fetchedAt: item.fetchedAt as number,
    ...(item.deletedAt !== undefined && { deletedAt: item.deletedAt as number }),
    ...(item.headersOnly === true && { headersOnly: true }),
    ...(item.deleSentAt !== undefined && { deleSentAt: item.deleSentAt as number }),
  };
}

function jobItem(job: DeliveryJob): Item {
  const created = `${timeKey(job.createdAt)}#${job.webhookId}`;
  return {
    [PK]: jobPk(job.webhookId),
    [SK]: JOB_SK,
    webhookId: job.webhookId,
    mailbox: job.mailbox,
    uid: job.uid,
    endpointId: job.endpointId,
    rawKey: job.rawKey,
    sha256: job.sha256,
    createdAt: job.createdAt,
    status: job.status,
    attempts: job.attempts,
    nextAttemptAt: job.nextAttemptAt,
    ...(job.lastStatus !== undefined && { lastStatus: job.lastStatus }),
    ...(job.lastError !== undefined && { lastError: job.lastError }),
    ...(job.deliveredAt !== undefined && { deliveredAt: job.deliveredAt }),
    ...(DUE_STATUSES.has(job.status) && { [GSI1.partitionKey]: DUE }),
    [GSI1.sortKey]: `${timeKey(job.nextAttemptAt)}#${job.webhookId}`,
    [GSI2.partitionKey]: `${mailboxPk(job.mailbox)}#DLV`,
    [GSI2.sortKey]: jobByUidKey(job.uid, job.webhookId),
    [GSI3.partitionKey]: `DLV#${job.status}`,
    [GSI3.sortKey]: created,
  };
}

function toJob(item: Item): DeliveryJob {
  return {
    webhookId: item.webhookId as string,
    mailbox: item.mailbox as string,
    uid: item.uid as string,
    endpointId: item.endpointId as string,
    rawKey: item.rawKey as string,
    sha256: item.sha256 as string,
    createdAt: item.createdAt as number,
    status: item.status as DeliveryStatus,
    attempts: item.attempts as number,
    nextAttemptAt: item.nextAttemptAt as number,
    ...(item.lastStatus !== undefined && { lastStatus: item.lastStatus as number }),
    ...(item.lastError !== undefined && { lastError: item.lastError as string }),
    ...(item.deliveredAt !== undefined && { deliveredAt: item.deliveredAt as number }),
  };
}

function toMailboxState(item: Item): MailboxState {
  const state: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(item)) if (!BOOKKEEPING.has(name)) state[name] = value;
  return { ...(state as Omit<MailboxState, 'mailbox'>), mailbox: item.mailbox as string };
}

/** (createdAt, webhookId): the order listDeliveries returns, as the local store does. */
function byCreated(a: DeliveryJob, b: DeliveryJob): number {
  if (a.createdAt !== b.createdAt) return a.createdAt - b.createdAt;
  return a.webhookId < b.webhookId ? -1 : a.webhookId > b.webhookId ? 1 : 0;
}

function errorName(err: unknown): string | undefined {
  return (err as { name?: string } | undefined)?.name;
}

const isConditionFailed = (err: unknown): boolean => errorName(err) === 'ConditionalCheckFailedException';

function cancellationCodes(err: unknown): (string | undefined)[] | undefined {
  if (errorName(err) !== 'TransactionCanceledException') return undefined;
  const reasons = (err as { CancellationReasons?: { Code?: string }[] }).CancellationReasons;
  return reasons?.map((r) => r.Code);
}

function isNoSuchKey(err: unknown): boolean {
  const status = (err as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata?.httpStatusCode;
  return errorName(err) === 'NoSuchKey' || status === 404;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Exponential back-off with full jitter: 25 ms, 50 ms, … capped at 1.6 s. */
const backoff = (attempt: number): Promise<void> => sleep(Math.random() * Math.min(1_600, 25 * 2 ** attempt));

/** Runs `fn` over `items` with at most `limit` in flight; results in input order. */
async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/** Builds `SET`/`REMOVE` clauses with placeholder names and values. */
class UpdateBuilder {
  readonly names: Record<string, string> = {};
  readonly values: Record<string, unknown> = {};
  readonly #sets: string[] = [];
  readonly #removes: string[] = [];
  #n = 0;

  name(attribute: string): string {
    const placeholder = `#a${this.#n++}`;
    this.names[placeholder] = attribute;
    return placeholder;
  }

  value(value: unknown): string {
    const placeholder = `:v${this.#n++}`;
    this.values[placeholder] = value;
    return placeholder;
  }

  set(attribute: string, value: unknown): this {
    this.#sets.push(`${this.name(attribute)} = ${this.value(value)}`);
    return this;
  }

  remove(attribute: string): this {
    this.#removes.push(this.name(attribute));
    return this;
  }

  get empty(): boolean {
    return this.#sets.length === 0 && this.#removes.length === 0;
  }

  expression(): string {
    return [
      ...(this.#sets.length > 0 ? [`SET ${this.#sets.join(', ')}`] : []),
      ...(this.#removes.length > 0 ? [`REMOVE ${this.#removes.join(', ')}`] : []),
    ].join(' ');
  }
}

export class DynamoStateStore implements StateStore {
  readonly table: string;
  readonly bucket: string;
  readonly #doc: DynamoDBDocumentClient;
  readonly #s3: S3Client;
  readonly #concurrency: number;
  #roundTrips = 0;

  constructor(clients: DynamoStateStoreClients, options: DynamoStateStoreOptions) {
    this.#doc = clients.doc;
    this.#s3 = clients.s3;
    this.table = options.table;
    this.bucket = options.bucket;
    this.#concurrency = Math.max(1, Math.trunc(options.concurrency ?? 8));
  }

  stats(): StateStoreStats {
    return { roundTrips: this.#roundTrips };
  }

  /** Every request goes through here: counted, so tests can check what a poll costs. */
  #send: DynamoDBDocumentClient['send'] = ((command: Parameters<DynamoDBDocumentClient['send']>[0]) => {
    this.#roundTrips++;
    return this.#doc.send(command);
  }) as DynamoDBDocumentClient['send'];

  #sendS3: S3Client['send'] = ((command: Parameters<S3Client['send']>[0]) => {
    this.#roundTrips++;
    return this.#s3.send(command);
  }) as S3Client['send'];

  /** One port call: failures other than our own become STATE_ERR_IO with the SDK error as cause. */
  async #call<T>(operation: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (isBridgeError(err)) throw err;
      const retryable = errorName(err) !== 'ValidationException';
      throw new BridgeError('STATE_ERR_IO', `state store ${operation} failed`, {
        cause: err,
        retryable,
        context: { operation },
      });
    }
  }

  /** All items of a query (following pages), at most `limit`; `accept` drops stale index entries. */
  async #query(
    input: Omit<QueryCommandInput, 'TableName'>,
    limit?: number,
    accept?: (item: Item) => boolean,
    minPage = MIN_PAGE,
  ): Promise<Item[]> {
    const items: Item[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const remaining = limit === undefined ? undefined : limit - items.length;
      const page = await this.#send(
        new QueryCommand({
          ...input,
          TableName: this.table,
          // Pages of what is still needed (at least a few dozen items, so that items `accept` drops do not
          // cost a request each). A FilterExpression would make Limit count unfiltered items: none is used.
          ...(remaining !== undefined &&
            input.FilterExpression === undefined && {
              Limit: Math.max(remaining, minPage),
            }),
          ...(start !== undefined && { ExclusiveStartKey: start }),
        }),
      );
      for (const item of page.Items ?? []) {
        if (accept !== undefined && !accept(item)) continue;
        items.push(item);
        if (limit !== undefined && items.length >= limit) return items;
      }
      start = page.LastEvaluatedKey;
    } while (start !== undefined);
    return items;
  }

  // ---- leases -------------------------------------------------------------

  acquireLease(mailbox: string, owner: string, ttlMs: number, now: number): Promise<boolean> {
    return this.#call('acquireLease', async () => {
      const until = now + ttlMs;
      try {
        await this.#send(
          new PutCommand({
            TableName: this.table,
            Item: {
              [PK]: mailboxPk(mailbox),
              [SK]: LEASE_SK,
              owner,
              leaseUntil: until,
              [TTL]: Math.ceil(until / 1000) + LEASE_TTL_GRACE_SECONDS,
            },
            // Free, expired (expiry is exclusive: at `leaseUntil` it is free), or ours already.
            ConditionExpression: 'attribute_not_exists(#pk) OR #until <= :now OR #owner = :owner',
            ExpressionAttributeNames: { '#pk': PK, '#until': 'leaseUntil', '#owner': 'owner' },
            ExpressionAttributeValues: { ':now': now, ':owner': owner },
          }),
        );
        return true;
      } catch (err) {
        if (isConditionFailed(err)) return false;
        throw err;
      }
    });
  }

  releaseLease(mailbox: string, owner: string): Promise<void> {
    return this.#call('releaseLease', async () => {
      try {
        await this.#send(
          new DeleteCommand({
            TableName: this.table,
            Key: { [PK]: mailboxPk(mailbox), [SK]: LEASE_SK },
            ConditionExpression: '#owner = :owner',
            ExpressionAttributeNames: { '#owner': 'owner' },
            ExpressionAttributeValues: { ':owner': owner },
          }),
        );
      } catch (err) {
        if (!isConditionFailed(err)) throw err;
      }
    });
  }

  // ---- mailbox state ------------------------------------------------------

  /**
   * One Query of the mailbox partition between `LEASE` and `STATUS`: exactly those two items (the only other
   * items there are messages, `UIDL#…`, which sort after both — see table-schema.ts). A Query bills the
   * items' total size, so both (a few hundred bytes) cost 0.5 RRU eventually consistent, where two GetItems
   * would cost 1. Eventually consistent is enough here: the poll only decides from it whether to take the
   * lease, and re-reads consistently once it holds it.
   */
  peekMailbox(mailbox: string, now: number): Promise<MailboxPeek> {
    return this.#call('peekMailbox', async () => {
      const { Items } = await this.#send(
        new QueryCommand({
          TableName: this.table,
          KeyConditionExpression: '#pk = :pk AND #sk BETWEEN :lease AND :status',
          ExpressionAttributeNames: { '#pk': PK, '#sk': SK },
          ExpressionAttributeValues: { ':pk': mailboxPk(mailbox), ':lease': LEASE_SK, ':status': STATUS_SK },
        }),
      );
      const lease = Items?.find((item) => item[SK] === LEASE_SK);
      const status = Items?.find((item) => item[SK] === STATUS_SK);
      return {
        state: status === undefined ? undefined : toMailboxState(status),
        // Expiry is exclusive, as in acquireLease: at `leaseUntil` the lease is free.
        leaseHeld: lease !== undefined && Number(lease.leaseUntil) > now,
      };
    });
  }

  getMailboxState(mailbox: string): Promise<MailboxState | undefined> {
    return this.#call('getMailboxState', async () => {
      const { Item } = await this.#send(
        new GetCommand({
          TableName: this.table,
          Key: { [PK]: mailboxPk(mailbox), [SK]: STATUS_SK },
          ConsistentRead: true,
        }),
      );
      return Item === undefined ? undefined : toMailboxState(Item);
    });
  }

  /** One UpdateItem: each defined field of the patch is set whole (nested objects replaced), the rest kept. */
  updateMailboxState(mailbox: string, patch: Partial<Omit<MailboxState, 'mailbox'>>): Promise<void> {
    return this.#call('updateMailboxState', async () => {
      const update = new UpdateBuilder()
        .set('mailbox', mailbox)
        .set(GSI3.partitionKey, MAILBOX_LIST)
        .set(GSI3.sortKey, mailbox);
      for (const [field, value] of Object.entries(patch)) {
        if (value === undefined || field === 'mailbox' || BOOKKEEPING.has(field)) continue;
        update.set(field, value);
      }
      await this.#send(
        new UpdateCommand({
          TableName: this.table,
          Key: { [PK]: mailboxPk(mailbox), [SK]: STATUS_SK },
          UpdateExpression: update.expression(),
          ExpressionAttributeNames: update.names,
          ExpressionAttributeValues: update.values,
        }),
      );
    });
  }

  listMailboxStates(): Promise<MailboxState[]> {
    return this.#call('listMailboxStates', async () => {
      const items = await this.#query({
        IndexName: GSI3.name,
        KeyConditionExpression: '#pk = :pk',
        ExpressionAttributeNames: { '#pk': GSI3.partitionKey },
        ExpressionAttributeValues: { ':pk': MAILBOX_LIST },
      });
      return items.map(toMailboxState);
    });
  }

  // ---- known uids (S3) ----------------------------------------------------

  #knownUidsKey(mailbox: string): string {
    return `${KNOWN_UIDS_PREFIX}${encodeURIComponent(mailbox)}.gz`;
  }

  getKnownUids(mailbox: string): Promise<ReadonlySet<string>> {
    return this.#call('getKnownUids', async () => {
      let blob: Uint8Array;
      try {
        const res = await this.#sendS3(new GetObjectCommand({ Bucket: this.bucket, Key: this.#knownUidsKey(mailbox) }));
        if (res.Body === undefined) return new Set<string>();
        blob = await res.Body.transformToByteArray();
      } catch (err) {
        if (isNoSuchKey(err)) return new Set<string>();
        throw err;
      }
      return decodeKnownUids(blob);
    });
  }

  /** One PUT: S3 replaces the object atomically, and a GET after it sees the new set. */
  putKnownUids(mailbox: string, uids: ReadonlySet<string>): Promise<void> {
    return this.#call('putKnownUids', async () => {
      const body = await encodeKnownUids(uids);
      await this.#sendS3(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: this.#knownUidsKey(mailbox),
          Body: body,
          ContentType: 'application/gzip',
          Metadata: { count: String(uids.size) },
        }),
      );
    });
  }

  // ---- messages -----------------------------------------------------------

  /** BatchGetItem in chunks of 100 (consistent reads), unprocessed keys retried with back-off. */
  getMessages(mailbox: string, uids: ReadonlyArray<string>): Promise<Map<string, MessageRecord>> {
    return this.#call('getMessages', async () => {
      const unique = [...new Set(uids)];
      const chunks: string[][] = [];
      for (let i = 0; i < unique.length; i += BATCH_GET_SIZE) chunks.push(unique.slice(i, i + BATCH_GET_SIZE));
      const found = new Map<string, MessageRecord>();
      await mapLimit(chunks, this.#concurrency, async (chunk) => {
        let keys: Item[] = chunk.map((uid) => ({ [PK]: mailboxPk(mailbox), [SK]: messageSk(uid) }));
        for (let attempt = 0; keys.length > 0; attempt++) {
          if (attempt > 0) {
            if (attempt > 8) {
              throw new BridgeError('STATE_ERR_IO', 'DynamoDB kept returning unprocessed keys', {
                context: { operation: 'getMessages', unprocessed: keys.length },
              });
            }
            await backoff(attempt);
          }
          const res = await this.#send(
            new BatchGetCommand({ RequestItems: { [this.table]: { Keys: keys, ConsistentRead: true } } }),
          );
          for (const item of res.Responses?.[this.table] ?? []) {
            const record = toMessage(item);
            found.set(record.uid, record);
          }
          keys = res.UnprocessedKeys?.[this.table]?.Keys ?? [];
        }
      });
      return found;
    });
  }

  /** One query per hash on gsi2 (`MB#<mailbox>#SHA#<sha256>`), fetchedAt order within each. */
  findMessagesBySha256(mailbox: string, sha256s: ReadonlyArray<string>): Promise<MessageRecord[]> {
    return this.#call('findMessagesBySha256', async () => {
      const pages = await mapLimit([...new Set(sha256s)], this.#concurrency, (sha256) =>
        this.#query({
          IndexName: GSI2.name,
          KeyConditionExpression: '#pk = :pk',
          ExpressionAttributeNames: { '#pk': GSI2.partitionKey },
          ExpressionAttributeValues: { ':pk': `${mailboxPk(mailbox)}#SHA#${sha256}` },
        }),
      );
      return pages
        .flat()
        .map(toMessage)
        .sort((a, b) => a.fetchedAt - b.fetchedAt || (a.uid < b.uid ? -1 : a.uid > b.uid ? 1 : 0));
    });
  }

  /**
   * One TransactWriteItems: the record and each job, every put conditional on
   * the item not existing. Cancelled on the record: `exists`, nothing written.
   * Cancelled only on jobs: those webhookIds are queued already, so the
   * transaction is retried without them (the local store's INSERT OR IGNORE).
   */
  recordMessage(record: MessageRecord, jobs: ReadonlyArray<DeliveryJob>): Promise<'created' | 'exists'> {
    return this.#call('recordMessage', async () => {
      const firstById = new Map<string, DeliveryJob>();
      for (const job of jobs) if (!firstById.has(job.webhookId)) firstById.set(job.webhookId, job);
      let pending = [...firstById.values()];
      if (pending.length > MAX_JOBS_PER_MESSAGE) {
        throw new BridgeError('STATE_ERR_IO', `at most ${MAX_JOBS_PER_MESSAGE} delivery jobs per message`, {
          retryable: false,
          context: { operation: 'recordMessage', jobs: pending.length },
        });
      }
      // Built before anything is sent: a value that cannot be serialized fails the call with nothing written.
      const recordPut = {
        Put: {
          TableName: this.table,
          Item: messageItem(record),
          ConditionExpression: 'attribute_not_exists(#pk)',
          ExpressionAttributeNames: { '#pk': PK },
        },
      };
      const jobPuts = new Map(
        pending.map((job) => [
          job.webhookId,
          {
            Put: {
              TableName: this.table,
              Item: jobItem(job),
              ConditionExpression: 'attribute_not_exists(#pk)',
              ExpressionAttributeNames: { '#pk': PK },
            },
          },
        ]),
      );
      for (let attempt = 0; ; attempt++) {
        try {
          await this.#send(
            new TransactWriteCommand({
              TransactItems: [recordPut, ...pending.map((job) => jobPuts.get(job.webhookId)!)],
              // Makes the SDK's own retries of this exact request idempotent for 10 minutes.
              ClientRequestToken: randomUUID(),
            }),
          );
          return 'created';
        } catch (err) {
          const codes = cancellationCodes(err);
          if (codes === undefined) throw err;
          if (codes[0] === 'ConditionalCheckFailed') return 'exists';
          const queued = new Set(
            pending.filter((_, i) => codes[i + 1] === 'ConditionalCheckFailed').map((job) => job.webhookId),
          );
          if (queued.size > 0) {
            pending = pending.filter((job) => !queued.has(job.webhookId));
          } else if (attempt >= 5) {
            throw err;
          } else {
            // TransactionConflict with a concurrent writer: try again shortly.
            await backoff(attempt + 1);
          }
        }
      }
    });
  }

  renameMessage(mailbox: string, fromUid: string, toUid: string, serverUidl: string | undefined): Promise<void> {
    return this.#call('renameMessage', async () => {
      const { Item } = await this.#send(
        new GetCommand({
          TableName: this.table,
          Key: { [PK]: mailboxPk(mailbox), [SK]: messageSk(fromUid) },
          ConsistentRead: true,
        }),
      );
      if (Item === undefined) return;
      const current = toMessage(Item);
      const moved: MessageRecord = { ...current, uid: toUid, serverUidl };
      if (fromUid === toUid) {
        await this.#send(new PutCommand({ TableName: this.table, Item: messageItem(moved) }));
        return;
      }
      // The message's deliveries move with it (same webhook-ids): a job naming the old uid could not find
      // its message. They were written with the record, polls ago, so the (eventually consistent) index has them.
      const jobs = await this.#query({
        IndexName: GSI2.name,
        KeyConditionExpression: '#pk = :pk AND begins_with(#sk, :uid)',
        ExpressionAttributeNames: { '#pk': GSI2.partitionKey, '#sk': GSI2.sortKey },
        ExpressionAttributeValues: { ':pk': `${mailboxPk(mailbox)}#DLV`, ':uid': `${fromUid}${UID_SEPARATOR}` },
      });
      const moveJob = (webhookId: string) => ({
        TableName: this.table,
        Key: { [PK]: jobPk(webhookId), [SK]: JOB_SK },
        UpdateExpression: 'SET #uid = :to, #g2sk = :g2sk',
        ConditionExpression: 'attribute_exists(#pk) AND #uid = :from',
        ExpressionAttributeNames: { '#pk': PK, '#uid': 'uid', '#g2sk': GSI2.sortKey },
        ExpressionAttributeValues: { ':to': toUid, ':from': fromUid, ':g2sk': jobByUidKey(toUid, webhookId) },
      });
      const webhookIds = jobs.map((item) => item.webhookId as string);
      // TransactWriteItems takes 100 actions: the record's two and up to 98 jobs move atomically with it.
      const inTransaction = webhookIds.slice(0, 98);
      try {
        await this.#send(
          new TransactWriteCommand({
            TransactItems: [
              ...inTransaction.map((id) => ({ Update: moveJob(id) })),
              {
                Delete: {
                  TableName: this.table,
                  Key: { [PK]: mailboxPk(mailbox), [SK]: messageSk(fromUid) },
                  // Unchanged since we read it.
                  ConditionExpression: 'attribute_exists(#pk) AND #sha = :sha',
                  ExpressionAttributeNames: { '#pk': PK, '#sha': 'sha256' },
                  ExpressionAttributeValues: { ':sha': current.sha256 },
                },
              },
              {
                Put: {
                  TableName: this.table,
                  Item: messageItem(moved),
                  ConditionExpression: 'attribute_not_exists(#pk)',
                  ExpressionAttributeNames: { '#pk': PK },
                },
              },
            ],
            ClientRequestToken: randomUUID(),
          }),
        );
      } catch (err) {
        const codes = cancellationCodes(err)?.slice(inTransaction.length);
        if (codes?.[0] === 'ConditionalCheckFailed') return; // renamed or removed meanwhile
        if (codes?.[1] === 'ConditionalCheckFailed') {
          throw new BridgeError('STATE_ERR_IO', 'cannot rename a message to a uid that is already recorded', {
            retryable: false,
            context: { operation: 'renameMessage', mailbox, toUid },
          });
        }
        throw err;
      }
      // Only with 99 endpoints (MAX_JOBS_PER_MESSAGE): the last job moves right after, on its own.
      await mapLimit(webhookIds.slice(inTransaction.length), this.#concurrency, async (id) => {
        try {
          await this.#send(new UpdateCommand(moveJob(id)));
        } catch (err) {
          if (!isConditionFailed(err)) throw err;
        }
      });
    });
  }

  /** One conditional UpdateItem per uid: sets deletedAt once, leaves the retention index. Unknown uids are skipped. */
  markDeleted(mailbox: string, uids: ReadonlyArray<string>, at: number): Promise<void> {
    return this.#call('markDeleted', () =>
      this.#updateMessages(mailbox, uids, {
        UpdateExpression: 'SET #deletedAt = :at REMOVE #g3pk, #g3sk',
        ConditionExpression: 'attribute_exists(#pk) AND attribute_not_exists(#deletedAt)',
        ExpressionAttributeNames: {
          '#pk': PK,
          '#deletedAt': 'deletedAt',
          '#g3pk': GSI3.partitionKey,
          '#g3sk': GSI3.sortKey,
        },
        ExpressionAttributeValues: { ':at': at },
      }),
    );
  }

  /** One conditional UpdateItem per uid: sets deleSentAt once, on recorded messages not deleted. */
  markDeleSent(mailbox: string, uids: ReadonlyArray<string>, at: number): Promise<void> {
    return this.#call('markDeleSent', () =>
      this.#updateMessages(mailbox, uids, {
        UpdateExpression: 'SET #deleSentAt = :at',
        ConditionExpression:
          'attribute_exists(#pk) AND attribute_not_exists(#deletedAt) AND attribute_not_exists(#deleSentAt)',
        ExpressionAttributeNames: { '#pk': PK, '#deletedAt': 'deletedAt', '#deleSentAt': 'deleSentAt' },
        ExpressionAttributeValues: { ':at': at },
      }),
    );
  }

  /** The same conditional update of each uid's record, with bounded concurrency; a failed condition skips it. */
  async #updateMessages(
    mailbox: string,
    uids: ReadonlyArray<string>,
    update: Omit<UpdateCommandInput, 'TableName' | 'Key'>,
  ): Promise<void> {
    await mapLimit([...new Set(uids)], this.#concurrency, async (uid) => {
      try {
        await this.#send(
          new UpdateCommand({
            TableName: this.table,
            Key: { [PK]: mailboxPk(mailbox), [SK]: messageSk(uid) },
            ...update,
          }),
        );
      } catch (err) {
        if (!isConditionFailed(err)) throw err;
      }
    });
  }

  /** gsi3 `MB#<mailbox>#LIVE` holds only messages not deleted, ordered by fetchedAt. */
  listRetentionDue(mailbox: string, before: number, limit: number): Promise<MessageRecord[]> {
    return this.#call('listRetentionDue', async () => {
      if (limit <= 0 || before <= 0) return [];
      const items = await this.#query(
        {
          IndexName: GSI3.name,
          KeyConditionExpression: '#pk = :pk AND #sk < :cut',
          ExpressionAttributeNames: { '#pk': GSI3.partitionKey, '#sk': GSI3.sortKey },
          ExpressionAttributeValues: { ':pk': `${mailboxPk(mailbox)}#LIVE`, ':cut': timeKey(before) },
        },
        limit,
        (item) => item.deletedAt === undefined && (item.fetchedAt as number) < before,
      );
      return items.map(toMessage);
    });
  }

  // ---- deliveries ---------------------------------------------------------

  #dueCandidates(
    now: number,
    limit: number,
    skip: ReadonlySet<string> = new Set(),
    skipEndpoints: ReadonlySet<string> = new Set(),
  ): Promise<Item[]> {
    return this.#query(
      {
        IndexName: GSI1.name,
        KeyConditionExpression: '#pk = :due AND #sk < :upper',
        ExpressionAttributeNames: { '#pk': GSI1.partitionKey, '#sk': GSI1.sortKey },
        ExpressionAttributeValues: { ':due': DUE, ':upper': timeKey(Math.floor(now) + 1) },
      },
      limit,
      (item) =>
        !skip.has(item.webhookId as string) &&
        (skipEndpoints.size === 0 ||
          !skipEndpoints.has(
            endpointKey({ mailbox: item.mailbox as string, endpointId: item.endpointId as string }),
          )) &&
        DUE_STATUSES.has(item.status as DeliveryStatus) &&
        (item.nextAttemptAt as number) <= now,
      // A skipped endpoint may have a backlog of thousands due before the jobs wanted: read past it in large
      // pages (a page stops at 1 MB anyway), not in pages of a few dozen.
      skipEndpoints.size === 0 ? MIN_PAGE : SKIPPING_PAGE,
    );
  }

  /**
   * Due jobs from gsi1 (`DUE`, ordered by nextAttemptAt then webhookId; the
   * local store breaks ties of nextAttemptAt by createdAt first).
   */
  listDueDeliveries(now: number, limit: number): Promise<DeliveryJob[]> {
    return this.#call('listDueDeliveries', async () => {
      if (limit <= 0) return [];
      return (await this.#dueCandidates(now, limit)).map(toJob);
    });
  }

  /**
   * Reads due candidates, then claims each with a conditional update (still
   * due, not yet claimed: `gsi1pk = DUE AND nextAttemptAt <= now`) that pushes
   * nextAttemptAt to `now + visibilityMs`. Of two claimers racing for a job,
   * exactly one update succeeds. Lost races are refilled from the index, a
   * few rounds at most. Skipped endpoints' jobs are passed over as the index
   * is read (it is keyed by due time, not by endpoint).
   */
  claimDueDeliveries(
    now: number,
    limit: number,
    visibilityMs: number,
    options: ClaimOptions = {},
  ): Promise<DeliveryJob[]> {
    const skipEndpoints = new Set((options.skipEndpoints ?? []).map(endpointKey));
    return this.#call('claimDueDeliveries', async () => {
      const claimed: DeliveryJob[] = [];
      const tried = new Set<string>();
      const until = now + visibilityMs;
      for (let round = 0; round < 3 && claimed.length < limit; round++) {
        const candidates = await this.#dueCandidates(now, limit - claimed.length, tried, skipEndpoints);
        if (candidates.length === 0) break;
        const results = await mapLimit(candidates, this.#concurrency, async (candidate) => {
          const webhookId = candidate.webhookId as string;
          tried.add(webhookId);
          try {
            const res = await this.#send(
              new UpdateCommand({
                TableName: this.table,
                Key: { [PK]: jobPk(webhookId), [SK]: JOB_SK },
                UpdateExpression: 'SET #next = :until, #g1sk = :sk',
                ConditionExpression: '#g1pk = :due AND #next <= :now',
                ExpressionAttributeNames: {
                  '#next': 'nextAttemptAt',
                  '#g1pk': GSI1.partitionKey,
                  '#g1sk': GSI1.sortKey,
                },
                ExpressionAttributeValues: {
                  ':until': until,
                  ':sk': `${timeKey(until)}#${webhookId}`,
                  ':due': DUE,
                  ':now': now,
                },
                ReturnValues: 'ALL_OLD',
              }),
            );
            return res.Attributes === undefined ? undefined : toJob(res.Attributes);
          } catch (err) {
            if (isConditionFailed(err)) return undefined; // another claimer was first
            throw err;
          }
        });
        for (const job of results) if (job !== undefined) claimed.push(job);
      }
      return claimed.sort(
        (a, b) =>
          a.nextAttemptAt - b.nextAttemptAt || (a.webhookId < b.webhookId ? -1 : a.webhookId > b.webhookId ? 1 : 0),
      );
    });
  }

  listDeliveries(filter: {
    mailbox?: string;
    status?: DeliveryStatus;
    uid?: string;
    limit?: number;
  }): Promise<DeliveryJob[]> {
    return this.#call('listDeliveries', async () => {
      const { mailbox, status, uid, limit } = filter;
      if (limit !== undefined && limit <= 0) return [];
      const accept = (item: Item): boolean =>
        (status === undefined || item.status === status) &&
        (uid === undefined || item.uid === uid) &&
        (mailbox === undefined || item.mailbox === mailbox);
      if (mailbox !== undefined) {
        // gsi2 `MB#<mailbox>#DLV`, sorted by uid: one message's jobs are one key range (the poll asks
        // for them before deleting a message); a whole mailbox is read and put in createdAt order here.
        const items = await this.#query(
          {
            IndexName: GSI2.name,
            KeyConditionExpression: uid === undefined ? '#pk = :pk' : '#pk = :pk AND begins_with(#sk, :uid)',
            ExpressionAttributeNames: { '#pk': GSI2.partitionKey, ...(uid !== undefined && { '#sk': GSI2.sortKey }) },
            ExpressionAttributeValues: {
              ':pk': `${mailboxPk(mailbox)}#DLV`,
              ...(uid !== undefined && { ':uid': `${uid}${UID_SEPARATOR}` }),
            },
          },
          undefined,
          accept,
        );
        const jobs = items.map(toJob).sort(byCreated);
        return limit === undefined ? jobs : jobs.slice(0, limit);
      }
      // gsi3 `DLV#<status>`: one status, or all five merged in createdAt order.
      const statuses = status === undefined ? DELIVERY_STATUSES : [status];
      const pages = await mapLimit(statuses, this.#concurrency, (s) =>
        this.#query(
          {
            IndexName: GSI3.name,
            KeyConditionExpression: '#pk = :pk',
            ExpressionAttributeNames: { '#pk': GSI3.partitionKey },
            ExpressionAttributeValues: { ':pk': `DLV#${s}` },
          },
          limit,
          accept,
        ),
      );
      const jobs = pages.flat().map(toJob).sort(byCreated);
      return limit === undefined ? jobs : jobs.slice(0, limit);
    });
  }

  /** One strongly consistent GetItem on the job's own key (`DLV#<webhookId>` / `JOB`). */
  getDelivery(webhookId: string): Promise<DeliveryJob | undefined> {
    return this.#call('getDelivery', async () => {
      const { Item } = await this.#send(
        new GetCommand({
          TableName: this.table,
          Key: { [PK]: jobPk(webhookId), [SK]: JOB_SK },
          ConsistentRead: true,
        }),
      );
      return Item === undefined ? undefined : toJob(Item);
    });
  }

  /**
   * One conditional UpdateItem (`attribute_exists`: an unknown webhookId
   * creates nothing and is not an error, as in the local store). Keeps the
   * index keys in step: a status change moves the job between the status
   * partitions of gsi3 and in or out of the due index.
   */
  updateDelivery(webhookId: string, patch: DeliveryPatch): Promise<void> {
    return this.#call('updateDelivery', () => this.#updateDelivery(webhookId, patch));
  }

  /**
   * The same conditional UpdateItems as `updateDelivery`, with bounded concurrency.
   *
   * Not TransactWriteItems: a transaction costs twice the write units per item, takes at most 100 items,
   * and one unknown webhookId (a failed `attribute_exists`) would cancel all the others — yet no caller
   * needs the patches atomic (each is safe to lose: a claimed job becomes due again). BatchWriteItem
   * cannot update or condition. So: N requests, N write units, latency about N / concurrency round trips.
   * Every patch is attempted; if any fails, the call rejects naming how many failed (and which), so a
   * partial failure is never silent.
   */
  updateDeliveries(patches: ReadonlyArray<DeliveryUpdate>): Promise<void> {
    return this.#call('updateDeliveries', async () => {
      const failures: Array<{ webhookId: string; error: unknown }> = [];
      await mapLimit(patches, this.#concurrency, async ({ webhookId, patch }) => {
        try {
          await this.#updateDelivery(webhookId, patch);
        } catch (error) {
          failures.push({ webhookId, error });
        }
      });
      if (failures.length === 0) return;
      const first = failures[0]?.error;
      throw new BridgeError(
        'STATE_ERR_IO',
        `state store updateDeliveries failed for ${failures.length} of ${patches.length} deliveries (the others were written)`,
        {
          cause: failures.length === 1 ? first : new AggregateError(failures.map((f) => f.error)),
          // Retryable unless a failure says otherwise (a ValidationException will not heal).
          retryable: failures.every(
            (f) => !(isBridgeError(f.error) && !f.error.retryable) && errorName(f.error) !== 'ValidationException',
          ),
          context: {
            operation: 'updateDeliveries',
            failed: failures.length,
            total: patches.length,
            webhookIds: failures
              .slice(0, 10)
              .map((f) => f.webhookId)
              .join(','),
          },
        },
      );
    });
  }

  async #updateDelivery(webhookId: string, patch: DeliveryPatch): Promise<void> {
    const update = new UpdateBuilder();
    for (const [field, value] of Object.entries(patch)) {
      if (value === undefined || BOOKKEEPING.has(field)) continue;
      update.set(field, value);
    }
    if (update.empty) return;
    if (patch.status !== undefined) {
      update.set(GSI3.partitionKey, `DLV#${patch.status}`);
      if (DUE_STATUSES.has(patch.status)) update.set(GSI1.partitionKey, DUE);
      else update.remove(GSI1.partitionKey);
    }
    if (patch.nextAttemptAt !== undefined) {
      update.set(GSI1.sortKey, `${timeKey(patch.nextAttemptAt)}#${webhookId}`);
    }
    if (patch.createdAt !== undefined) {
      update.set(GSI3.sortKey, `${timeKey(patch.createdAt)}#${webhookId}`);
    }
    const pk = update.name(PK);
    try {
      await this.#send(
        new UpdateCommand({
          TableName: this.table,
          Key: { [PK]: jobPk(webhookId), [SK]: JOB_SK },
          UpdateExpression: update.expression(),
          ConditionExpression: `attribute_exists(${pk})`,
          ExpressionAttributeNames: update.names,
          ExpressionAttributeValues: update.values,
        }),
      );
    } catch (err) {
      if (!isConditionFailed(err)) throw err;
    }
  }

  /** One query of the mailbox's deliveries on gsi2, projecting only the status. */
  countDeliveries(mailbox: string): Promise<Record<DeliveryStatus, number>> {
    return this.#call('countDeliveries', async () => {
      const counts = Object.fromEntries(DELIVERY_STATUSES.map((s) => [s, 0])) as Record<DeliveryStatus, number>;
      const items = await this.#query({
        IndexName: GSI2.name,
        KeyConditionExpression: '#pk = :pk',
        ProjectionExpression: '#status',
        ExpressionAttributeNames: { '#pk': GSI2.partitionKey, '#status': 'status' },
        ExpressionAttributeValues: { ':pk': `${mailboxPk(mailbox)}#DLV` },
      });
      for (const item of items) {
        const status = item.status as DeliveryStatus;
        if (status in counts) counts[status]++;
      }
      return counts;
    });
  }

  /** The SDK clients are shared (module scope): nothing to close per store. */
  async close(): Promise<void> {}
}
