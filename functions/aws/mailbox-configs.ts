/**
 * Mailbox configs as poll and deliver read them: the sealed copy the registry
 * function wrote to the state table (sealed-config-items.ts), opened with a
 * data key KMS decrypts once per container (config-keys.ts). Neither function
 * reads SSM: poll's idle path is one state Query with no SSM and no KMS
 * request, and the deliver bundle carries no SSM client.
 *
 * poll keeps each parsed config by the version its job names (no TTL: an edit
 * is a new version, so the next job names it). deliver keeps each by name for
 * MAILBOX_MAX_AGE_S, as it did with SSM: webhooks edits reach it within a
 * minute.
 */
import type { KMSClient } from '@aws-sdk/client-kms';
import type { MailboxConfig } from '../config/schema.js';
import { isBridgeError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { dataKeyOpener, kmsClient } from './config-keys.js';
import { MAILBOX_NAME, parseMailboxDocument } from './mailbox-document.js';
import type { RegistryTable } from './mailbox-registry.js';
import { type AwsRuntime, requireEnv } from './runtime.js';
import { openConfig } from './sealed-config.js';
import { getSealed } from './sealed-config-items.js';
import { VersionedCache } from './versioned-cache.js';

/** How long deliver keeps one mailbox's config: edits apply within a minute. */
export const MAILBOX_MAX_AGE_S = 60;
/** Parsed configs one poll container keeps: each container sees every mailbox in time, so the cap is the fleet size. */
export const POLL_CACHED_CONFIGS = 10_000;

export interface MailboxConfigs {
  /** One mailbox at the parameter version a poll job names: cached until a job names another version. */
  mailboxAt(name: string, version: number): Promise<MailboxConfig | undefined>;
  /** One mailbox by name, cached for MAILBOX_MAX_AGE_S (deliver; poll jobs queued without a version). */
  mailbox(name: string): Promise<MailboxConfig | undefined>;
}

export interface MailboxConfigsDeps {
  readonly table: RegistryTable;
  readonly kms: KMSClient;
  /** The config KMS key's ARN (CONFIG_KEY_ARN). */
  readonly keyId: string;
  readonly logger: Logger;
  readonly clock?: () => number;
}

export function mailboxConfigs({ table, kms, keyId, logger, clock = Date.now }: MailboxConfigsDeps): MailboxConfigs {
  const keys = dataKeyOpener(kms, keyId);

  /** The stored config as it is now, with its version; undefined config when it is missing, sealed wrong or invalid. */
  const read = async (name: string): Promise<{ version: number; config: MailboxConfig | undefined } | undefined> => {
    const item = await getSealed(table, name);
    if (item === undefined) return undefined;
    let text: string;
    try {
      const dataKey = await keys.open(item.encryptedKey);
      text = openConfig(item.sealed, dataKey, { mailbox: name, version: item.version });
    } catch (error) {
      if (!isBridgeError(error, 'CONFIG_ERR_SEALED')) throw error;
      // Not retryable: the item stays as it is until the registry writes the next version.
      logger.error('sealed mailbox config does not open: mailbox skipped', {
        mailbox: name,
        version: item.version,
        error,
      });
      return { version: item.version, config: undefined };
    }
    const document = parseMailboxDocument(name, text);
    if (!document.ok) {
      // The registry validated it; a newer release's schema may not accept it.
      logger.error('mailbox config problem: mailbox skipped', {
        mailbox: name,
        version: item.version,
        path: document.invalid.path,
        problem: document.invalid.message,
      });
      return { version: item.version, config: undefined };
    }
    return { version: item.version, config: document.config };
  };

  const polled = new VersionedCache<MailboxConfig | undefined>(POLL_CACHED_CONFIGS);
  const mailboxAt = async (name: string, version: number): Promise<MailboxConfig | undefined> => {
    if (!MAILBOX_NAME.test(name)) return undefined;
    const cached = polled.get(name);
    if (cached?.version === version) return cached.value;
    const current = await read(name);
    if (current === undefined) {
      polled.delete(name);
      return undefined;
    }
    // Kept at the version read, which may be newer than the job's (an edit since): the next job names it.
    polled.set(name, current.version, current.config);
    return current.config;
  };

  const byName = new Map<string, { config: MailboxConfig | undefined; readAt: number }>();
  const mailbox = async (name: string): Promise<MailboxConfig | undefined> => {
    if (!MAILBOX_NAME.test(name)) return undefined;
    const now = clock();
    const cached = byName.get(name);
    if (cached !== undefined && now - cached.readAt < MAILBOX_MAX_AGE_S * 1000) return cached.config;
    const config = (await read(name))?.config;
    byName.set(name, { config, readAt: now });
    // Bounded like poll's cache: entries older than the max age are useless anyway.
    if (byName.size > POLL_CACHED_CONFIGS) {
      for (const [key, entry] of byName) if (now - entry.readAt >= MAILBOX_MAX_AGE_S * 1000) byName.delete(key);
      for (const key of byName.keys()) {
        if (byName.size <= POLL_CACHED_CONFIGS) break;
        byName.delete(key);
      }
    }
    return config;
  };

  return { mailboxAt, mailbox };
}

/** Poll's and deliver's configs on top of the shared runtime (call once per container, at module scope). */
export function createMailboxConfigs(runtime: AwsRuntime): MailboxConfigs {
  return mailboxConfigs({
    table: { doc: runtime.clients.doc, table: runtime.env.tableName },
    kms: kmsClient(runtime.env.aws),
    keyId: requireEnv(runtime.env.configKeyArn, 'CONFIG_KEY_ARN'),
    logger: runtime.logger,
  });
}
