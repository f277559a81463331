/**
 * Key, index and TTL attribute names of the state table. The DynamoDB adapter
 * owns them (`functions/aws/table-schema.ts`, `TABLE_SCHEMA`); this mirrors it
 * until that file is committed, and is the only place infra reads them from.
 * test/infra checks the two agree whenever the adapter's file is present.
 */
export const TABLE_KEYS = {
  partitionKey: 'pk',
  sortKey: 'sk',
  /** Epoch seconds. */
  ttlAttribute: 'expiresAt',
  indexes: [
    /** Due deliveries, soonest first. */
    { name: 'gsi1', partitionKey: 'gsi1pk', sortKey: 'gsi1sk' },
    /** Messages by content hash; deliveries by mailbox. */
    { name: 'gsi2', partitionKey: 'gsi2pk', sortKey: 'gsi2sk' },
    /** Live messages (retention); deliveries by status; the list of mailboxes. */
    { name: 'gsi3', partitionKey: 'gsi3pk', sortKey: 'gsi3sk' },
  ],
} as const;
