/**
 * The state table's shape: key, index and TTL attribute names, shared by the
 * DynamoDB adapter, the CDK stack and the tests (`createTable` builds the same
 * table against an emulator).
 *
 * One table, on-demand, string keys `pk`/`sk`, three overloaded sparse GSIs
 * (projection ALL), TTL on `expiresAt` (epoch seconds):
 *
 * | item            | pk                  | sk            | gsi1 (pk / sk)              | gsi2 (pk / sk)                               | gsi3 (pk / sk)                                  |
 * |-----------------|---------------------|---------------|-----------------------------|----------------------------------------------|-------------------------------------------------|
 * | message record  | `MB#<mailbox>`      | `UIDL#<uid>`  | –                           | `MB#<mailbox>#SHA#<sha256>` / `<fetchedAt>#<uid>` | `MB#<mailbox>#LIVE` / `<fetchedAt>#<uid>` while not deleted |
 * | lease           | `MB#<mailbox>`      | `LEASE`       | –                           | –                                            | –                                               |
 * | mailbox status  | `MB#<mailbox>`      | `STATUS`      | –                           | –                                            | `MAILBOX` / `<mailbox>`                         |
 * | delivery job    | `DLV#<webhookId>`   | `JOB`         | `DUE` / `<nextAttemptAt>#<webhookId>` while pending or failed | `MB#<mailbox>#DLV` / `<uid> <webhookId>` | `DLV#<status>` / `<createdAt>#<webhookId>` |
 * | registry entry  | `REGISTRY`          | `<mailbox>`   | –                           | –                                            | –                                               |
 * | sealed config   | `CFG#<mailbox>`     | `SEALED`      | –                           | –                                            | –                                               |
 *
 * Registry entries (functions/aws/mailbox-registry.ts) are one per mailbox parameter in SSM: its version,
 * `enabled`, `pollIntervalSeconds`, and `invalidPath`/`invalidMessage` when the document failed validation.
 * The registry function writes them; dispatch reads the whole `REGISTRY` partition with one Query a minute.
 * Sealed configs (functions/aws/sealed-config-items.ts) hold each valid mailbox document encrypted
 * (AES-256-GCM under a KMS data key, sealed-config.ts) with its version and the encrypted data key: poll and
 * deliver read them instead of SSM. Their own partition, so nothing falls between `LEASE` and `STATUS` below.
 *
 * In a mailbox's partition `LEASE` < `STATUS` < `UIDL#…`: the idle poll's peek reads the lease and the status
 * with one Query `sk BETWEEN 'LEASE' AND 'STATUS'`, so no other sort key may fall between those two.
 *
 * Times in sort keys are epoch ms, zero-padded to 16 digits so that string
 * order is time order. `gsi1sk` is kept on every job; `gsi1pk` is set only
 * while the job is due-able, so the due index holds only live work.
 *
 * The known-uid set of a mailbox is not in the table (100,000 uids gzip to
 * ~0.8 MB, over DynamoDB's 400 KB item limit): it is one S3 object,
 * `state/known-uids/<mailbox>.gz`, in the raw-store bucket.
 */
import {
  CreateTableCommand,
  DescribeTableCommand,
  type DynamoDBClient,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';

export const TABLE_SCHEMA = {
  partitionKey: 'pk',
  sortKey: 'sk',
  /** Epoch seconds: lease items carry it and expire a day after the lease does. */
  ttlAttribute: 'expiresAt',
  indexes: [
    /** Due deliveries, soonest first. */
    { name: 'gsi1', partitionKey: 'gsi1pk', sortKey: 'gsi1sk' },
    /** Messages by content hash (UIDL-reset matching); deliveries by mailbox, grouped by message uid. */
    { name: 'gsi2', partitionKey: 'gsi2pk', sortKey: 'gsi2sk' },
    /** Messages not deleted, oldest first (retention); deliveries by status; the list of mailboxes. */
    { name: 'gsi3', partitionKey: 'gsi3pk', sortKey: 'gsi3sk' },
  ],
} as const;

/** Index names, for IAM grants (`table/<name>/index/<index>`). */
export const INDEX_NAMES = TABLE_SCHEMA.indexes.map((index) => index.name);

/** S3 key prefix of the known-uid blobs (in the raw-store bucket). */
export const KNOWN_UIDS_PREFIX = 'state/known-uids/';

/**
 * Creates the table as the CDK stack does (keys, GSIs, TTL; on-demand) and
 * waits until it is active. For tests against an emulator.
 */
export async function createTable(client: DynamoDBClient, name: string): Promise<void> {
  const keyNames = [
    TABLE_SCHEMA.partitionKey,
    TABLE_SCHEMA.sortKey,
    ...TABLE_SCHEMA.indexes.flatMap((i) => [i.partitionKey, i.sortKey]),
  ];
  await client.send(
    new CreateTableCommand({
      TableName: name,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: keyNames.map((AttributeName) => ({ AttributeName, AttributeType: 'S' })),
      KeySchema: [
        { AttributeName: TABLE_SCHEMA.partitionKey, KeyType: 'HASH' },
        { AttributeName: TABLE_SCHEMA.sortKey, KeyType: 'RANGE' },
      ],
      GlobalSecondaryIndexes: TABLE_SCHEMA.indexes.map((index) => ({
        IndexName: index.name,
        KeySchema: [
          { AttributeName: index.partitionKey, KeyType: 'HASH' },
          { AttributeName: index.sortKey, KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: 'ALL' },
      })),
    }),
  );
  for (let attempt = 0; ; attempt++) {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: name }));
    const indexesActive = (Table?.GlobalSecondaryIndexes ?? []).every((i) => i.IndexStatus === 'ACTIVE');
    if (Table?.TableStatus === 'ACTIVE' && indexesActive) break;
    if (attempt >= 100) throw new Error(`table ${name} did not become active`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await client.send(
    new UpdateTimeToLiveCommand({
      TableName: name,
      TimeToLiveSpecification: { AttributeName: TABLE_SCHEMA.ttlAttribute, Enabled: true },
    }),
  );
}
