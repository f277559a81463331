import path from 'node:path';
import { pollMailbox } from '../functions/core/poll/poll-mailbox.js';
import { FolderRawStore } from '../functions/local/folder-raw-store.js';
import { SqliteStateStore } from '../functions/local/sqlite-state-store.js';
import { connectChildAccount, readChildAccount } from './child-account.js';
import { applyShims } from './shims.js';

const [accountFile, stateDir] = process.argv.slice(2);
if (accountFile === undefined || stateDir === undefined) throw new Error('usage: idle-child.ts <account.json> <dir>');
applyShims();
const account = readChildAccount(accountFile);
const state = new SqliteStateStore(path.join(stateDir, 'state.db'));
const store = new FolderRawStore(path.join(stateDir, 'store'));
const start = process.hrtime.bigint();
const result = await pollMailbox(
  { name: 'inbox', mode: 'leave', endpointIds: ['hook'] },
  {
    state,
    store,
    openSession: () => connectChildAccount(account),
  },
  { force: true },
);
const pollMs = Number(process.hrtime.bigint() - start) / 1e6;
const roundTrips = state.stats().roundTrips;
await state.close();
console.log(JSON.stringify({ status: result.status, path: result.path, fetched: result.fetched, roundTrips, pollMs }));
