/**
 * Keeps the mailbox registry (mailbox-registry.ts) in step with the mailbox
 * parameters in SSM: `refresh(name)` when SSM reports a change to one
 * parameter, `reconcile()` hourly and after each deploy, so that nothing
 * depends on every change event arriving (EventBridge delivers at least once,
 * not in order, and not while the rule or the function is failing).
 *
 * `refresh` never trusts the event's version or operation: it reads the
 * parameter as it is now, so a late or repeated event writes the current
 * state, and the versioned writes keep a newer entry that is already stored.
 */
import type { Logger } from '../core/logger.js';
import type { DataKey } from './config-keys.js';
import { parseMailboxDocument } from './mailbox-document.js';
import type { MailboxParameters } from './mailbox-parameters.js';
import {
  deleteRegistryEntry,
  listRegistry,
  putRegistryEntry,
  type RegistryEntry,
  type RegistryTable,
} from './mailbox-registry.js';
import { sealConfig } from './sealed-config.js';
import { deleteSealed, putSealed } from './sealed-config-items.js';

export type RefreshOutcome = 'written' | 'unchanged' | 'deleted';

export interface ReconcileResult {
  readonly parameters: number;
  readonly written: number;
  readonly deleted: number;
  /** Unchanged configs sealed again under the current data key (sealed more than RESEAL_AFTER_MS ago). */
  readonly resealed: number;
}

/**
 * How old a sealed config may get before reconcile seals it again under the current data key. Poll
 * containers decrypt each distinct data key once per life, and a data key lives an hour in the registry,
 * so without this the keys in the table would grow with every hour in which some mailbox was edited.
 * With it they are at most the hours of a week (168), and re-sealing costs one decrypted GetParameter and
 * two writes per mailbox a week (docs/cost-model.md).
 */
export const RESEAL_AFTER_MS = 7 * 24 * 60 * 60 * 1000;

export interface RegistrySyncDeps {
  readonly parameters: MailboxParameters;
  readonly registry: RegistryTable;
  readonly logger: Logger;
  /** The registry's data key for sealing (config-keys.ts dataKeySource). */
  readonly dataKeys: { take(): Promise<DataKey> };
  readonly clock?: () => number;
}

export interface RegistrySync {
  /** `reseal`: seal an unchanged version again under the current data key. */
  refresh(name: string, options?: { reseal?: boolean }): Promise<RefreshOutcome>;
  reconcile(): Promise<ReconcileResult>;
}

export function registrySync({
  parameters,
  registry,
  logger,
  dataKeys,
  clock = Date.now,
}: RegistrySyncDeps): RegistrySync {
  const refresh = async (name: string, { reseal = false } = {}): Promise<RefreshOutcome> => {
    const parameter = await parameters.read(name);
    if (parameter === undefined) {
      // The entry first: from then on dispatch sends no job that would look for the sealed config.
      await deleteRegistryEntry(registry, name);
      await deleteSealed(registry, name);
      logger.info('mailbox parameter gone: unregistered', { mailbox: name });
      return 'deleted';
    }
    // Before a write replaces a newer stored version (see putVersioned): is SSM still at the one read here?
    const stillCurrent = async () => (await parameters.read(name))?.version === parameter.version;
    const document = parseMailboxDocument(name, parameter.value);
    const entry: RegistryEntry = document.ok
      ? {
          name,
          version: parameter.version,
          enabled: document.config.enabled,
          pollIntervalSeconds: document.config.pollIntervalSeconds,
          sealed: true,
          sealedAt: clock(),
        }
      : { name, version: parameter.version, enabled: false, pollIntervalSeconds: 300, invalid: document.invalid };
    // The sealed copy before the entry, so a job naming this version finds it. What is sealed is the
    // parameter's text as validated; poll and deliver validate it again when they open it.
    if (document.ok) {
      const dataKey = await dataKeys.take();
      const sealed = sealConfig(parameter.value, dataKey.plaintext, { mailbox: name, version: parameter.version });
      await putSealed(
        registry,
        name,
        { version: parameter.version, sealed, encryptedKey: dataKey.encrypted },
        { reseal, stillCurrent },
      );
    } else {
      await deleteSealed(registry, name, parameter.version);
    }
    const written = await putRegistryEntry(registry, entry, {
      now: clock(),
      reseal: reseal && document.ok,
      stillCurrent,
    });
    if (written && !document.ok) {
      // Not `...invalid`: Powertools owns the `message` key. Path and schema message only, never a value.
      logger.error('mailbox config problem: mailbox skipped', {
        mailbox: name,
        parameter: `${parameters.path}${name}`,
        version: parameter.version,
        path: document.invalid.path,
        problem: document.invalid.message,
      });
    } else if (written) {
      logger.info(reseal ? 'mailbox config sealed again' : 'mailbox registered', {
        mailbox: name,
        version: parameter.version,
        enabled: entry.enabled,
      });
    }
    return written ? 'written' : 'unchanged';
  };

  const reconcile = async (): Promise<ReconcileResult> => {
    const versions = await parameters.versions((pages) =>
      logger.warn('parameter listing stopped at the page limit: the rest are not reconciled', { pages }),
    );
    const stored = new Map(
      (
        await listRegistry(registry, (pages) =>
          logger.warn('registry query stopped at the page limit: the rest are not reconciled', { pages }),
        )
      ).map((e) => [e.name, e]),
    );
    // Stale: another version, or a valid entry written before configs were sealed.
    const stale = [...versions]
      .filter(([name, version]) => {
        const entry = stored.get(name);
        return entry?.version !== version || (entry.invalid === undefined && entry.sealed !== true);
      })
      .map(([name]) => name);
    const gone = [...stored.keys()].filter((name) => !versions.has(name));
    const sealedBefore = clock() - RESEAL_AFTER_MS;
    const old = [...stored.values()]
      .filter(
        (e) =>
          versions.get(e.name) === e.version &&
          e.invalid === undefined &&
          e.sealed === true &&
          (e.sealedAt ?? 0) < sealedBefore,
      )
      .map((e) => e.name);
    let written = 0;
    let deleted = 0;
    let resealed = 0;
    // One at a time: reconcile is hourly and usually finds nothing; a first run after a deploy over
    // 10,000 existing parameters is 10,000 GetParameter calls, within SSM's 40 TPS in about 5 minutes.
    for (const name of [...stale, ...gone]) {
      const outcome = await refresh(name);
      if (outcome === 'written') written += 1;
      else if (outcome === 'deleted') deleted += 1;
    }
    for (const name of old) {
      if ((await refresh(name, { reseal: true })) === 'written') resealed += 1;
    }
    return { parameters: versions.size, written, deleted, resealed };
  };

  return { refresh, reconcile };
}
