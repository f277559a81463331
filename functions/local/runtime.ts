/**
 * Local mode's wiring: the folder raw store and the SQLite state store under
 * the configured directory, and a session opener for configured mailboxes.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { BridgeConfig, MailboxConfig } from '../config/schema.js';
import type { Logger } from '../core/logger.js';
import { createTokenSource, type TokenSource } from '../core/oauth/token-source.js';
import type { PollDeps } from '../core/poll/poll-mailbox.js';
import { openMailboxSession } from '../core/session.js';
import { FolderRawStore } from './folder-raw-store.js';
import { SqliteStateStore } from './sqlite-state-store.js';

export interface LocalRuntime {
  readonly dir: string;
  readonly state: SqliteStateStore;
  readonly store: FolderRawStore;
  readonly tokens: TokenSource;
  depsFor(mailbox: MailboxConfig, logger: Logger, extra?: Partial<PollDeps>): PollDeps;
  close(): Promise<void>;
}

export function openLocalRuntime(config: BridgeConfig, options: { baseDir?: string } = {}): LocalRuntime {
  const dir = path.resolve(options.baseDir ?? process.cwd(), config.store.dir);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const state = new SqliteStateStore(path.join(dir, 'state.db'));
  const store = new FolderRawStore(path.join(dir, 'mail'));
  const tokens = createTokenSource();
  return {
    dir,
    state,
    store,
    tokens,
    depsFor(mailbox, logger, extra = {}) {
      return {
        state,
        store,
        logger,
        openSession: () => openMailboxSession(mailbox, { tokens }),
        ...extra,
      };
    },
    close: () => state.close(),
  };
}
