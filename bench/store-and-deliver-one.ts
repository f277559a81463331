/**
 * Child process of bench/rss-delivery.ts: polls ONE big message from Dovecot
 * into a folder + SQLite store, builds its event (streaming MailParser, the
 * attachment streamed into the store) and delivers it to a receiver URL, then
 * prints its own peak RSS (VmHWM) — the whole local-mode path for one message.
 *
 *   node --import tsx bench/store-and-deliver-one.ts <account.json> <dir> <receiver-url> <secret>
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { pollMailbox } from '../functions/core/poll/poll-mailbox.js';
import { deliverDue } from '../functions/delivery/delivery-engine.js';
import { eventBodyForJob } from '../functions/delivery/event-source.js';
import { AllowList } from '../functions/delivery/ssrf-guard.js';
import { FolderRawStore } from '../functions/local/folder-raw-store.js';
import { SqliteStateStore } from '../functions/local/sqlite-state-store.js';
import { connectChildAccount, readChildAccount } from './child-account.js';

const [accountFile, dir, url, secret] = process.argv.slice(2);
const account = readChildAccount(accountFile!);
const state = new SqliteStateStore(path.join(dir!, 'state.db'));
const store = new FolderRawStore(path.join(dir!, 'store'));
const start = performance.now();
const polled = await pollMailbox(
  { name: 'big', mode: 'leave', endpointIds: ['hook'] },
  {
    state,
    store,
    openSession: () => connectChildAccount(account),
  },
  { force: true },
);
let attachmentBytes = 0;
const delivered = await deliverDue({
  state,
  endpointFor: () => ({ id: 'hook', url: url!, secrets: [secret!], allowHttp: true }),
  eventFor: async (job) => {
    const { event, body } = await eventBodyForJob(job, {
      store,
      state,
      links: { linkFor: async (key) => `https://links.invalid/${key}` },
    });
    attachmentBytes = event.data.attachments.reduce((sum, a) => sum + a.size, 0);
    const { from, to, cc, subject } = event.data;
    return { body, filterSubject: { from, to, cc, subject } };
  },
  allow: new AllowList(['127.0.0.1']),
});
const status = readFileSync('/proc/self/status', 'utf8');
const vmHwmKiB = Number(/^VmHWM:\s+(\d+)\s+kB$/m.exec(status)?.[1] ?? 0);
await state.close();
console.log(
  JSON.stringify({
    fetched: polled.fetched,
    bytes: polled.bytes,
    attachmentBytes,
    delivered: delivered.delivered,
    vmHwmKiB,
    ms: performance.now() - start,
  }),
);
