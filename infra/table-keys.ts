/**
 * Key, index and TTL attribute names of the state table. The DynamoDB adapter
 * (`functions/aws/table-schema.ts`) owns these names; until that file exists the
 * stack defines them here, and this is the only place infra reads them from.
 */
export const TABLE_KEYS = {
  partitionKey: 'pk',
  sortKey: 'sk',
  /** Epoch seconds: leases, delivery records and known-UID blobs expire on their own. */
  ttlAttribute: 'expiresAt',
  /**
   * Overloaded single-table GSIs: `gsi1` (e.g. content hash per mailbox for UIDL-reset matching),
   * `gsi2` (e.g. due deliveries and retention by time). The adapter decides what each holds.
   */
  indexes: [
    { name: 'gsi1', partitionKey: 'gsi1pk', sortKey: 'gsi1sk' },
    { name: 'gsi2', partitionKey: 'gsi2pk', sortKey: 'gsi2sk' },
  ],
} as const;
