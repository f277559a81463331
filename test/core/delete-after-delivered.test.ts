/**
 * `deleteAfterDelivered` (delete mode): a message leaves the server only once
 * every endpoint has answered 2xx — not merely once it is stored.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, expect, it } from 'vitest';
import { deliverDue } from '../../functions/delivery/delivery-engine.js';
import { eventSource } from '../../functions/delivery/event-source.js';
import { AllowList } from '../../functions/delivery/ssrf-guard.js';
import { dovecotFromInjected } from '../support/dovecot.js';
import { type EngineHarness, engineHarness, target } from '../support/engine-harness.js';

const dovecot = dovecotFromInjected();
const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
let harness: EngineHarness | undefined;
let server: Server | undefined;
afterEach(async () => {
  await harness?.cleanup();
  server?.closeAllConnections();
  await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
});

it('DELE waits until every endpoint has delivered', async () => {
  let answer = 503;
  server = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(answer).end());
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  const account = await dovecot.createMailbox([Buffer.from('Subject: keep until delivered\r\n\r\nbody\r\n')]);
  harness = await engineHarness(dovecot, account);
  const mailbox = target({ mode: 'delete', deleteAfterDelivered: true, endpointIds: ['a', 'b'] });
  const deliveryDeps = {
    state: harness.state,
    endpointFor: (_mb: string, id: string) => ({ id, url, secrets: [SECRET], allowHttp: true }),
    eventFor: eventSource({
      store: harness.store,
      state: harness.state,
      links: { linkFor: async (key: string) => `https://links.test/${key}` },
    }),
    allow: new AllowList(['127.0.0.1']),
    schedule: [0, 1, 1, 1, 1],
  };

  expect(await harness.poll(mailbox)).toMatchObject({ fetched: 1, deleted: 0 });
  await deliverDue(deliveryDeps); // both endpoints answer 503
  expect(await harness.poll(mailbox)).toMatchObject({ fetched: 0, deleted: 0 });
  expect(await dovecot.mailboxFiles(account.user)).toHaveLength(1);

  answer = 200;
  await new Promise((resolve) => setTimeout(resolve, 5));
  await deliverDue(deliveryDeps);
  const statuses = (await harness.state.listDeliveries({ mailbox: 'inbox' })).map((j) => j.status);
  expect(statuses).toEqual(['delivered', 'delivered']);
  expect(await harness.poll(mailbox)).toMatchObject({ fetched: 0, deleted: 1 });
  expect(await dovecot.mailboxFiles(account.user)).toEqual([]);
});

it('DELE waits for the jobs even when the store lists them late (an index that lags, as DynamoDB GSIs do)', async () => {
  const account = await dovecot.createMailbox([Buffer.from('Subject: keep until delivered\r\n\r\nbody\r\n')]);
  harness = await engineHarness(dovecot, account);
  // The listing by message answers as an eventually consistent index may right after the write: nothing.
  const real = harness.state;
  const lagging = new Proxy(real, {
    get(target, prop, receiver) {
      if (prop === 'listDeliveries') return async () => [];
      const value = Reflect.get(target, prop, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  const mailbox = target({ mode: 'delete', deleteAfterDelivered: true, endpointIds: ['a', 'b'] });
  expect(await harness.poll(mailbox, {}, { state: lagging })).toMatchObject({ fetched: 1, deleted: 0 });
  expect(await dovecot.mailboxFiles(account.user)).toHaveLength(1);
  const jobs = await real.listDeliveries({ mailbox: 'inbox' });
  expect(jobs.map((j) => j.status)).toEqual(['pending', 'pending']);
  for (const job of jobs) await real.updateDelivery(job.webhookId, { status: 'delivered', attempts: 1 });
  expect(await harness.poll(mailbox, {}, { state: lagging })).toMatchObject({ fetched: 0, deleted: 1 });
  expect(await dovecot.mailboxFiles(account.user)).toEqual([]);
});
