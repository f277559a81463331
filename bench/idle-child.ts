/**
 * Child process of bench/idle-poll.ts: one poll by the engine in a fresh
 * process (the cost a cron-style `pop3-bridge poll` pays: Node start-up,
 * module loading, opening SQLite), against an existing state directory.
 *
 *   node --import tsx bench/idle-child.ts <account.json> <state-dir>
 *
 * Prints one JSON line: { status, path, fetched, roundTrips, pollMs }.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { pollMailbox } from '../functions/core/poll/poll-mailbox.js';
import { FolderRawStore } from '../functions/local/folder-raw-store.js';
import { SqliteStateStore } from '../functions/local/sqlite-state-store.js';
import { Pop3Client } from '../functions/pop3/client.js';
import { applyShims } from './shims.js';

interface Account {
  readonly host: string;
  readonly port: number;
  readonly servername: string;
  readonly caPem: string;
  readonly user: string;
  readonly password: string;
}

const [accountFile, stateDir] = process.argv.slice(2);
if (accountFile === undefined || stateDir === undefined) throw new Error('usage: idle-child.ts <account.json> <dir>');
applyShims();
const account = JSON.parse(readFileSync(accountFile, 'utf8')) as Account;
const state = new SqliteStateStore(path.join(stateDir, 'state.db'));
const store = new FolderRawStore(path.join(stateDir, 'store'));
const start = process.hrtime.bigint();
const result = await pollMailbox(
  { name: 'inbox', mode: 'leave', endpointIds: ['hook'] },
  {
    state,
    store,
    openSession: async () => {
      const client = await Pop3Client.connect({
        host: account.host,
        port: account.port,
        tls: 'implicit',
        ca: account.caPem,
        servername: account.servername,
      });
      await client.login({ username: account.user, password: account.password });
      return client;
    },
  },
  { force: true },
);
const pollMs = Number(process.hrtime.bigint() - start) / 1e6;
const roundTrips = state.stats().roundTrips;
await state.close();
console.log(JSON.stringify({ status: result.status, path: result.path, fetched: result.fetched, roundTrips, pollMs }));
