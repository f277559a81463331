/**
 * A drain (`deliver`, `poll`, `replay`, `demo`) with a webhook endpoint that
 * accepts connections and never answers: each round tried it again, and
 * its jobs handed back after its first timeout came due before the round
 * ended, so the next round claimed them, and so on — a command that should
 * send what is due and exit ran for minutes with a backlog (two attempts per
 * job before its retries are minutes apart, a few per timeout). Now the
 * drain leaves an endpoint that timed out alone for the rest of the command.
 * Real SQLite state, real loopback receivers.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { describeDeferred, drainDeliveries } from '../../functions/cli/commands/deliver.js';
import type { CliContext } from '../../functions/cli/context.js';
import { silentLogger } from '../../functions/core/logger.js';
import type { DeliveryDeps } from '../../functions/delivery/delivery-engine.js';
import { AllowList } from '../../functions/delivery/ssrf-guard.js';
import type { LocalRuntime } from '../../functions/local/runtime.js';
import { SqliteStateStore } from '../../functions/local/sqlite-state-store.js';
import { seedDeliveries } from '../support/seed-deliveries.js';

const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

let dir: string;
let state: SqliteStateStore;
const servers: Server[] = [];

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'pop3-bridge-drain-hang-'));
  state = new SqliteStateStore(path.join(dir, 'state.db'));
});

afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((resolve) => s.close(resolve));
  }
  await state.close();
  await rm(dir, { recursive: true, force: true });
});

async function listen(handler: Parameters<typeof createServer>[1]): Promise<string> {
  const server = createServer(handler);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
}

it('a drain tries a silent endpoint in one round, not round after round, and loses none of its jobs', async () => {
  let hungRequests = 0;
  const hungUrl = await listen(() => {
    hungRequests += 1;
  });
  const fineUrl = await listen((_req, res) => setTimeout(() => res.writeHead(204).end(), 150));
  for (let i = 0; i < 6; i += 1) await seedDeliveries(state, `both${i}`, ['hung', 'fine'], { at: 1 });
  for (let i = 0; i < 400; i += 1) await seedDeliveries(state, `backlog${i}`, ['hung'], { at: 2 });
  const endpoints = {
    hung: { id: 'hung', url: hungUrl, secrets: [SECRET], allowHttp: true },
    fine: { id: 'fine', url: fineUrl, secrets: [SECRET], allowHttp: true },
  };
  const deps: DeliveryDeps = {
    state,
    endpointFor: (_mailbox, id) => endpoints[id as keyof typeof endpoints],
    eventFor: async () => ({
      body: '{"type":"email.received"}',
      filterSubject: { from: [], to: [], cc: [], subject: '' },
    }),
    allow: new AllowList(['127.0.0.1']),
    timeoutMs: 1_000,
    // The first retry comes well within a timeout, as 5 s does within the default 15 s.
    schedule: [0, 300, 60_000],
  };
  const runtime = { deliveryDeps: () => deps } as unknown as LocalRuntime;
  const started = Date.now();
  const result = await drainDeliveries(runtime, { logger: silentLogger } as unknown as CliContext);
  const tookMs = Date.now() - started;
  // One round: the silent endpoint's requests — two while the other endpoint's jobs waited, two more once they
  // were done (~0.45 s; none if its first two had timed out by then, on a very slow machine) — timed out, and
  // the next round claimed nothing. Before: over 30 s (the test's timeout), the endpoint tried round after round.
  expect(tookMs).toBeLessThan(6_000);
  expect([2, 4]).toContain(hungRequests);
  expect(result).toMatchObject({ attempted: 6 + hungRequests, delivered: 6, retrying: hungRequests, dead: 0 });
  expect(result.timedOutEndpoints).toEqual([{ mailbox: 'mb', endpointId: 'hung' }]);
  expect(describeDeferred(result)).toContain('not tried again by this command');
  expect(describeDeferred(result)).toContain('hung of mb');
  // Nothing lost: every job of the silent endpoint is still pending, the ones tried with their attempt.
  const hung = (await state.listDeliveries({ mailbox: 'mb' })).filter((job) => job.endpointId === 'hung');
  expect(hung).toHaveLength(406);
  expect(hung.every((job) => job.status === 'pending' || job.status === 'failed')).toBe(true);
  expect(hung.filter((job) => job.attempts === 1)).toHaveLength(hungRequests);
  // The next command tries the endpoint again.
  expect((await state.listDueDeliveries(Date.now() + 60_000, 1_000)).length).toBe(406);
});
