/**
 * The mailbox registry in the state table: one small item per mailbox
 * parameter (pk `REGISTRY`, sk `<name>`), written by the registry function
 * when SSM reports a change and by its hourly reconcile, and read by dispatch
 * every minute with one eventually consistent Query instead of listing SSM
 * (docs/cost-model.md). Items carry what scheduling needs (enabled, interval,
 * the parameter version a poll job names), never the config: that is in the
 * sealed item (`CFG#<name>` / `SEALED`, sealed-config-items.ts), so the Query reads
 * about 100 bytes per mailbox.
 *
 * Writes are conditional on the stored version being older: SSM's change
 * events can arrive twice or out of order, and the registry writes what it
 * read from SSM at that moment, so a late event never puts an older version
 * back. A parameter deleted and created again starts again at version 1
 * (putVersioned replaces the stale entry, once SSM confirms it is at 1).
 */
import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  type QueryCommandOutput,
} from '@aws-sdk/lib-dynamodb';
import type { ConfigInvalid } from './mailbox-document.js';

export const REGISTRY_PK = 'REGISTRY';

/** One registry item, as dispatch reads it. */
export interface RegistryEntry {
  readonly name: string;
  /** The SSM parameter version this entry was read at (the version poll jobs carry). */
  readonly version: number;
  readonly enabled: boolean;
  readonly pollIntervalSeconds: number;
  /** Set when the document failed validation: dispatch skips the mailbox and reports the field. */
  readonly invalid?: ConfigInvalid;
  /** True once the sealed copy of this version was written (poll and deliver read that, never SSM). */
  readonly sealed?: boolean;
  /** When that copy was sealed (epoch ms): reconcile re-seals old ones under a current data key. */
  readonly sealedAt?: number;
}

/** Query pages per dispatch run (≤ 1 MB each, ≈ 10,000 entries): a runaway LastEvaluatedKey cannot loop forever. */
const MAX_QUERY_PAGES = 100;

export interface RegistryTable {
  readonly doc: DynamoDBDocumentClient;
  readonly table: string;
}

function isConditionFailure(error: unknown): boolean {
  return (error as { name?: unknown } | null)?.name === 'ConditionalCheckFailedException';
}

/**
 * Every entry (dispatch). Eventually consistent: an edit made in the last
 * second may be seen on the next run, a minute later, which is what dispatch
 * promised before (edits apply on the next run).
 */
export async function listRegistry(
  { doc, table }: RegistryTable,
  onTruncated?: (pages: number) => void,
): Promise<RegistryEntry[]> {
  const entries: RegistryEntry[] = [];
  let startKey: QueryCommandOutput['LastEvaluatedKey'];
  for (let page = 0; page < MAX_QUERY_PAGES; page += 1) {
    const out = await doc.send(
      new QueryCommand({
        TableName: table,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': REGISTRY_PK },
        ExclusiveStartKey: startKey,
      }),
    );
    for (const item of out.Items ?? []) {
      const entry = entryOf(item);
      if (entry !== undefined) entries.push(entry);
    }
    startKey = out.LastEvaluatedKey;
    if (startKey === undefined) return entries;
  }
  onTruncated?.(MAX_QUERY_PAGES);
  return entries;
}

function entryOf(item: Record<string, unknown>): RegistryEntry | undefined {
  const { sk, version, enabled, pollIntervalSeconds, invalidPath, invalidMessage, sealed, sealedAt } = item;
  if (typeof sk !== 'string' || typeof version !== 'number') return undefined;
  return {
    name: sk,
    version,
    enabled: enabled === true,
    pollIntervalSeconds: typeof pollIntervalSeconds === 'number' ? pollIntervalSeconds : 300,
    ...(typeof invalidPath === 'string' && {
      invalid: { path: invalidPath, message: typeof invalidMessage === 'string' ? invalidMessage : '' },
    }),
    ...(sealed === true && { sealed: true }),
    ...(typeof sealedAt === 'number' && { sealedAt }),
  };
}

/**
 * Asks SSM again whether the version a write carries is still the parameter's: a stored version above it
 * may belong to a parameter deleted and created again (SSM restarts at 1) — or to a newer edit that another
 * refresh, running beside a slower one, has written already.
 */
export type StillCurrent = () => Promise<boolean>;

/**
 * Writes `item` (keyed `pk`/`sk`, with a numeric `version`) unless the stored
 * item is at the same or a newer version. A stored version above `item.version`
 * is replaced (conditionally on still being that version) only when
 * `stillCurrent` confirms that SSM is at `item.version` now: then the stored one
 * belongs to a parameter deleted and created again. Without that check a slow
 * refresh that read version 1 before an edit wrote version 1 back over the 2
 * another refresh had written meanwhile: a mailbox just disabled went on being
 * polled until the hourly reconcile. Returns false when the stored item was kept.
 */
export async function putVersioned(
  { doc, table }: RegistryTable,
  item: Record<string, unknown> & { pk: string; sk: string; version: number },
  /** Also write over a stored item that matches this (an expression over `:v`, the new version). */
  orWhen: string | undefined,
  stillCurrent: StillCurrent,
): Promise<boolean> {
  try {
    await doc.send(
      new PutCommand({
        TableName: table,
        Item: item,
        ConditionExpression: `attribute_not_exists(pk) OR version < :v${orWhen === undefined ? '' : ` OR (${orWhen})`}`,
        ExpressionAttributeValues: { ':v': item.version },
      }),
    );
    return true;
  } catch (error) {
    if (!isConditionFailure(error)) throw error;
  }
  const stored = await doc.send(
    new GetCommand({
      TableName: table,
      Key: { pk: item.pk, sk: item.sk },
      ConsistentRead: true,
      ProjectionExpression: 'version',
    }),
  );
  const storedVersion = stored.Item?.version;
  if (typeof storedVersion !== 'number' || storedVersion <= item.version) return false;
  if (!(await stillCurrent())) return false;
  try {
    await doc.send(
      new PutCommand({
        TableName: table,
        Item: item,
        ConditionExpression: 'version = :old',
        ExpressionAttributeValues: { ':old': storedVersion },
      }),
    );
    return true;
  } catch (error) {
    if (isConditionFailure(error)) return false;
    throw error;
  }
}

/**
 * Writes `entry` unless the stored one is at the same or a newer version (putVersioned). `reseal`: also over
 * the same version (its config was sealed again under a newer data key; only `sealedAt` changes).
 */
export async function putRegistryEntry(
  registry: RegistryTable,
  entry: RegistryEntry,
  options: { now?: number; reseal?: boolean; stillCurrent: StillCurrent },
): Promise<boolean> {
  return putVersioned(
    registry,
    {
      pk: REGISTRY_PK,
      sk: entry.name,
      version: entry.version,
      enabled: entry.enabled,
      pollIntervalSeconds: entry.pollIntervalSeconds,
      ...(entry.invalid !== undefined && { invalidPath: entry.invalid.path, invalidMessage: entry.invalid.message }),
      ...(entry.sealed === true && { sealed: true }),
      ...(entry.sealedAt !== undefined && { sealedAt: entry.sealedAt }),
      updatedAt: options.now ?? Date.now(),
    },
    // Same version: written before its config was sealed (reconcile seals it now), or re-sealed.
    options.reseal === true
      ? 'version = :v'
      : entry.sealed === true
        ? 'version = :v AND attribute_not_exists(sealed)'
        : undefined,
    options.stillCurrent,
  );
}

/** Removes a deleted parameter's entry (idempotent). */
export async function deleteRegistryEntry({ doc, table }: RegistryTable, name: string): Promise<void> {
  await doc.send(new DeleteCommand({ TableName: table, Key: { pk: REGISTRY_PK, sk: name } }));
}
