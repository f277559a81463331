/**
 * Sealed mailbox configs in the state table: pk `CFG#<name>`, sk `SEALED`,
 * one item per mailbox, holding the parameter version, the sealed JSON
 * (sealed-config.ts) and the KMS-encrypted data key it was sealed under.
 * Written by the registry function beside the mailbox's registry entry, read
 * by poll (at the version a job names) and deliver (webhooks). A partition of
 * its own: nothing falls between `LEASE` and `STATUS` in an `MB#` partition
 * (table-schema.ts).
 */
import { DeleteCommand, GetCommand } from '@aws-sdk/lib-dynamodb';
import { putVersioned, type RegistryTable, type StillCurrent } from './mailbox-registry.js';

export const SEALED_SK = 'SEALED';
export const sealedPk = (mailbox: string): string => `CFG#${mailbox}`;

export interface SealedItem {
  readonly version: number;
  readonly sealed: Uint8Array;
  readonly encryptedKey: Uint8Array;
}

/**
 * Writes the sealed config unless the stored one is at the same or a newer version (putVersioned);
 * `reseal`: also over the same version (the same config sealed again under a newer data key).
 */
export async function putSealed(
  table: RegistryTable,
  mailbox: string,
  item: SealedItem,
  options: { reseal?: boolean; stillCurrent: StillCurrent },
): Promise<boolean> {
  return putVersioned(
    table,
    {
      pk: sealedPk(mailbox),
      sk: SEALED_SK,
      version: item.version,
      sealed: item.sealed,
      encryptedKey: item.encryptedKey,
    },
    options.reseal === true ? 'version = :v' : undefined,
    options.stillCurrent,
  );
}

/**
 * Removes the sealed config: every version (the parameter is gone), or only one
 * older than `belowVersion` (the parameter's current version is invalid; a
 * concurrent refresh may already have sealed a newer, valid one).
 */
export async function deleteSealed(
  { doc, table }: RegistryTable,
  mailbox: string,
  belowVersion?: number,
): Promise<void> {
  try {
    await doc.send(
      new DeleteCommand({
        TableName: table,
        Key: { pk: sealedPk(mailbox), sk: SEALED_SK },
        ...(belowVersion !== undefined && {
          ConditionExpression: 'version < :v',
          ExpressionAttributeValues: { ':v': belowVersion },
        }),
      }),
    );
  } catch (error) {
    if ((error as { name?: unknown } | null)?.name !== 'ConditionalCheckFailedException') throw error;
  }
}

/** The sealed config of `mailbox` (strongly consistent: read after a job names a version just written). */
export async function getSealed({ doc, table }: RegistryTable, mailbox: string): Promise<SealedItem | undefined> {
  const out = await doc.send(
    new GetCommand({ TableName: table, Key: { pk: sealedPk(mailbox), sk: SEALED_SK }, ConsistentRead: true }),
  );
  const { version, sealed, encryptedKey } = out.Item ?? {};
  if (typeof version !== 'number' || !(sealed instanceof Uint8Array) || !(encryptedKey instanceof Uint8Array)) {
    return undefined;
  }
  return { version, sealed, encryptedKey };
}
