/**
 * Data keys for sealed mailbox configs (sealed-config.ts), from the stack's
 * config KMS key. The registry function asks KMS for a data key
 * (GenerateDataKey, AES_256) and keeps it for at most an hour or
 * DATA_KEY_MAX_USES seals; poll and deliver ask KMS to decrypt each distinct
 * encrypted data key once per container (Decrypt), kept in a bounded LRU.
 * Every request carries CONFIG_KEY_CONTEXT: KMS binds it into the
 * ciphertext (a data key decrypted with any other context fails), and the
 * IAM grants require it (infra/constructs/bridge-function.ts), so these
 * permissions open only mailbox configs, not whatever else the key might
 * encrypt.
 *
 * Why envelope keys: SSM decrypts a SecureString with one kms:Decrypt per
 * read, and every poll container read every mailbox (docs/cost-model.md).
 * Here a container makes one KMS request per data key, and one data key
 * seals every config the registry writes in its hour.
 */
import { DecryptCommand, GenerateDataKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { BridgeError } from '../core/errors.js';
import type { AwsConfig } from './clients.js';

export const CONFIG_KEY_CONTEXT: Readonly<Record<string, string>> = Object.freeze({
  'pop3-bridge:purpose': 'mailbox-config',
});
/** How long the registry seals with one data key. */
export const DATA_KEY_MAX_AGE_MS = 60 * 60 * 1000;
/** Seals per data key: far under GCM's 2^32 random IVs per key, and a bound on what one key protects. */
export const DATA_KEY_MAX_USES = 10_000;
/** Decrypted data keys one container keeps (32 bytes each). A registry container makes one an hour at most. */
export const OPENED_DATA_KEYS = 1_000;

export function kmsClient(aws: AwsConfig): KMSClient {
  return new KMSClient({
    region: aws.region,
    ...(aws.endpoint !== undefined && { endpoint: aws.endpoint }),
    ...(aws.credentials !== undefined && { credentials: { ...aws.credentials } }),
  });
}

export interface DataKey {
  /** Never logged, never stored. */
  readonly plaintext: Uint8Array;
  /** What is stored beside each sealed config. */
  readonly encrypted: Uint8Array;
}

/** The registry's current data key: a new one from KMS after an hour or DATA_KEY_MAX_USES seals. */
export function dataKeySource(
  kms: KMSClient,
  keyId: string,
  clock: () => number = Date.now,
): { take(): Promise<DataKey> } {
  let current: { key: DataKey; since: number; uses: number } | undefined;
  return {
    async take() {
      const now = clock();
      if (current === undefined || now - current.since >= DATA_KEY_MAX_AGE_MS || current.uses >= DATA_KEY_MAX_USES) {
        const out = await kms.send(
          new GenerateDataKeyCommand({
            KeyId: keyId,
            KeySpec: 'AES_256',
            EncryptionContext: { ...CONFIG_KEY_CONTEXT },
          }),
        );
        if (out.Plaintext === undefined || out.CiphertextBlob === undefined) {
          throw new Error('KMS GenerateDataKey returned no key');
        }
        current?.key.plaintext.fill(0);
        current = { key: { plaintext: out.Plaintext, encrypted: out.CiphertextBlob }, since: now, uses: 0 };
      }
      current.uses += 1;
      return current.key;
    },
  };
}

/**
 * Opens encrypted data keys (KMS Decrypt with the config context), each once per
 * container: cached by the encrypted key's bytes, least recently used out.
 * A key KMS refuses as ciphertext (altered, another context, another key) is
 * CONFIG_ERR_SEALED; throttling and access errors are thrown as they come, so
 * the poll job is retried.
 */
export function dataKeyOpener(
  kms: KMSClient,
  keyId: string,
  maxEntries: number = OPENED_DATA_KEYS,
): { open(encrypted: Uint8Array): Promise<Uint8Array>; readonly size: number } {
  const opened = new Map<string, Uint8Array>();
  return {
    get size() {
      return opened.size;
    },
    async open(encrypted) {
      const id = Buffer.from(encrypted).toString('base64');
      const hit = opened.get(id);
      if (hit !== undefined) {
        opened.delete(id);
        opened.set(id, hit);
        return hit;
      }
      const out = await kms
        .send(
          new DecryptCommand({ KeyId: keyId, CiphertextBlob: encrypted, EncryptionContext: { ...CONFIG_KEY_CONTEXT } }),
        )
        .catch((error: unknown) => {
          if ((error as { name?: unknown } | null)?.name === 'InvalidCiphertextException') {
            throw new BridgeError('CONFIG_ERR_SEALED', 'the data key of a sealed config does not decrypt', {
              cause: error,
            });
          }
          throw error;
        });
      if (out.Plaintext === undefined) throw new Error('KMS Decrypt returned no plaintext');
      opened.set(id, out.Plaintext);
      for (const oldest of opened.keys()) {
        if (opened.size <= maxEntries) break;
        opened.get(oldest)?.fill(0);
        opened.delete(oldest);
      }
      return out.Plaintext;
    },
  };
}
