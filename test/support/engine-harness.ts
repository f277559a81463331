/**
 * A poll engine wired to the real Dovecot of the test run, a folder raw store
 * and a SQLite state store in a fresh temp dir: the local mode's parts, without the CLI.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  type PollDeps,
  type PollOptions,
  type PollTarget,
  pollMailbox,
} from '../../functions/core/poll/poll-mailbox.js';
import { FolderRawStore } from '../../functions/local/folder-raw-store.js';
import { SqliteStateStore } from '../../functions/local/sqlite-state-store.js';
import { Pop3Client } from '../../functions/pop3/client.js';
import type { DovecotHandle } from './dovecot.js';

export interface EngineHarness {
  readonly dir: string;
  readonly state: SqliteStateStore;
  readonly store: FolderRawStore;
  /** Connections opened so far (to assert "no fetch" on idle polls). */
  sessions: number;
  poll(target: PollTarget, options?: PollOptions, extra?: Partial<PollDeps>): ReturnType<typeof pollMailbox>;
  cleanup(): Promise<void>;
}

export async function engineHarness(
  dovecot: DovecotHandle,
  account: { user: string; password: string },
  clientTrace?: (dir: 'C' | 'S', line: string) => void,
): Promise<EngineHarness> {
  const dir = await mkdtemp(path.join(tmpdir(), 'pop3-bridge-engine-'));
  const state = new SqliteStateStore(path.join(dir, 'state.db'));
  const store = new FolderRawStore(path.join(dir, 'store'));
  const harness: EngineHarness = {
    dir,
    state,
    store,
    sessions: 0,
    poll(target, options = {}, extra = {}) {
      return pollMailbox(
        target,
        {
          state,
          store,
          openSession: () => {
            harness.sessions += 1;
            return dovecotSession(dovecot, account, clientTrace);
          },
          ...extra,
        },
        { force: true, ...options },
      );
    },
    async cleanup() {
      await state.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
  return harness;
}

/** A client logged in to `account` on the test Dovecot over implicit TLS, its lines traced if asked. */
export async function dovecotSession(
  dovecot: DovecotHandle,
  account: { user: string; password: string },
  trace?: (dir: 'C' | 'S', line: string) => void,
): Promise<Pop3Client> {
  const client = await Pop3Client.connect({
    host: dovecot.facts.host,
    port: dovecot.facts.tlsPort,
    tls: 'implicit',
    ca: dovecot.facts.caPem,
    servername: dovecot.facts.servername,
    ...(trace && { trace }),
  });
  await client.login({ username: account.user, password: account.password });
  return client;
}

export function target(overrides: Partial<PollTarget> = {}): PollTarget {
  return { name: 'inbox', mode: 'leave', endpointIds: ['hook-a', 'hook-b'], ...overrides };
}
