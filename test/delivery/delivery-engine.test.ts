/**
 * Delivery against real HTTP receivers on loopback (reached through the
 * allow-list): signatures verified with the official `standardwebhooks`
 * package, 500s retried with the same webhook-id, timeouts, 410 disabling the
 * endpoint, 429 with Retry-After, a redirect to the metadata address not
 * followed, dead-lettering, and one failing endpoint never blocking another
 * (one that stops answering takes at most half the slots, and its other jobs
 * of the round are deferred).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Webhook } from 'standardwebhooks';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BridgeError } from '../../functions/core/errors.js';
import { createJsonLogger } from '../../functions/core/logger.js';
import type { DeliveryJob, StateStore } from '../../functions/core/ports.js';
import { type DeliveryDeps, deliverDue, type Endpoint } from '../../functions/delivery/delivery-engine.js';
import { AllowList } from '../../functions/delivery/ssrf-guard.js';
import { SqliteStateStore } from '../../functions/local/sqlite-state-store.js';
import { seedDeliveries } from '../support/seed-deliveries.js';

const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const OLD_SECRET = 'whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD';

interface Received {
  headers: IncomingMessage['headers'];
  body: string;
}

async function receiver(
  handler: (req: IncomingMessage, res: ServerResponse, body: string) => void,
): Promise<{ url: string; received: Received[]; server: Server }> {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8'); // characters split between chunks stay whole
    req.on('data', (d: string) => (body += d));
    req.on('end', () => {
      received.push({ headers: req.headers, body });
      handler(req, res, body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, received, server };
}

let dir: string;
let state: SqliteStateStore;
const servers: Server[] = [];

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'pop3-bridge-delivery-'));
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

const EVENT = { type: 'email.received', timestamp: '2026-11-26T00:00:00.000Z', data: { mailbox: 'mb', uid: 'u1' } };

/** A message and its jobs, created and due at `at` (claims take the oldest first). */
function seed(endpointIds: string[], uid = 'u1', at = 1): Promise<DeliveryJob[]> {
  return seedDeliveries(state, uid, endpointIds, { at });
}

function deps(endpoints: Record<string, Endpoint>, extra: Partial<DeliveryDeps> = {}): DeliveryDeps {
  return {
    state,
    endpointFor: (_mb, id) => endpoints[id],
    eventFor: async () => ({
      body: JSON.stringify(EVENT),
      filterSubject: { from: [{ address: 'ada@example.test', name: 'Ada' }], to: [], cc: [], subject: 'Invoice 7' },
    }),
    allow: new AllowList(['127.0.0.1']),
    // Fast schedule for tests: the real one is Svix's (see retry-schedule.ts).
    schedule: [0, 1, 1, 1],
    timeoutMs: 1_000,
    ...extra,
  };
}

/** The real store, with some methods replaced (a counter, an injected failure); the rest call the store itself. */
function withOverrides(base: StateStore, overrides: Partial<StateStore>): StateStore {
  return new Proxy(base, {
    get(target, property) {
      const own = (overrides as Record<PropertyKey, unknown>)[property];
      if (own !== undefined) return own;
      const value = Reflect.get(target, property, target) as unknown;
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

/**
 * Two endpoints on loopback: `hung` never answers, `fine` answers 204 and notes when each webhook-id arrived (ms
 * after this call). Retries are a minute away, so a test sees each job's first attempt only.
 */
async function silentAndAnswering(timeoutMs: number) {
  const started = Date.now();
  const hung = await receiver(() => {});
  const fineAt = new Map<string, number>();
  const fine = await receiver((req, res) => {
    fineAt.set(String(req.headers['webhook-id']), Date.now() - started);
    res.writeHead(204).end();
  });
  servers.push(hung.server, fine.server);
  const d = deps(
    {
      hung: { id: 'hung', url: hung.url, secrets: [SECRET], allowHttp: true },
      fine: { id: 'fine', url: fine.url, secrets: [SECRET], allowHttp: true },
    },
    { timeoutMs, schedule: [0, 60_000, 60_000] },
  );
  return { hung, fine, fineAt, d };
}

async function drain(d: DeliveryDeps, rounds: number): Promise<void> {
  for (let i = 0; i < rounds; i += 1) {
    await deliverDue(d);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('delivery', () => {
  it('signs per Standard Webhooks: the official package verifies, during rotation with either secret', async () => {
    const ok = await receiver((_req, res) => res.writeHead(204).end());
    servers.push(ok.server);
    const [job] = await seed(['a']);
    const result = await deliverDue(
      deps({ a: { id: 'a', url: ok.url, secrets: [SECRET, OLD_SECRET], allowHttp: true } }),
    );
    expect(result).toMatchObject({ attempted: 1, delivered: 1 });
    const got = ok.received[0]!;
    expect(got.headers['webhook-id']).toBe(job!.webhookId);
    for (const secret of [SECRET, OLD_SECRET]) {
      const verified = new Webhook(secret).verify(got.body, got.headers as Record<string, string>);
      expect(verified).toEqual(EVENT);
    }
    expect(() =>
      new Webhook('whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA').verify(got.body, got.headers as Record<string, string>),
    ).toThrow();
    expect((await state.listDeliveries({ mailbox: 'mb' }))[0]).toMatchObject({
      status: 'delivered',
      attempts: 1,
      lastStatus: 204,
    });
  });

  it('a 500 is retried with the same webhook-id until a 2xx; another endpoint is not held up', async () => {
    let calls = 0;
    const flaky = await receiver((_req, res) => res.writeHead(++calls < 3 ? 500 : 200).end('oops'));
    const fine = await receiver((_req, res) => res.writeHead(200).end());
    servers.push(flaky.server, fine.server);
    await seed(['flaky', 'fine']);
    const d = deps({
      flaky: { id: 'flaky', url: flaky.url, secrets: [SECRET], allowHttp: true },
      fine: { id: 'fine', url: fine.url, secrets: [SECRET], allowHttp: true },
    });
    await deliverDue(d);
    expect(fine.received).toHaveLength(1);
    await drain(d, 5);
    expect(flaky.received).toHaveLength(3);
    expect(new Set(flaky.received.map((r) => r.headers['webhook-id'])).size).toBe(1);
    const jobs = await state.listDeliveries({ mailbox: 'mb' });
    expect(jobs.map((j) => j.status)).toEqual(['delivered', 'delivered']);
  });

  it('exhausting the schedule dead-letters with the last status and error', async () => {
    const broken = await receiver((_req, res) => res.writeHead(502).end('bad gateway'));
    servers.push(broken.server);
    await seed(['b']);
    await drain(deps({ b: { id: 'b', url: broken.url, secrets: [SECRET], allowHttp: true } }), 8);
    const [job] = await state.listDeliveries({ mailbox: 'mb' });
    expect(job).toMatchObject({ status: 'dead', attempts: 4, lastStatus: 502 });
    expect(job?.lastError).toContain('bad gateway');
    expect(broken.received).toHaveLength(4);
  });

  it('a receiver that does not answer in time is a retryable timeout', async () => {
    const slow = await receiver(() => {});
    servers.push(slow.server);
    await seed(['s']);
    await deliverDue(deps({ s: { id: 's', url: slow.url, secrets: [SECRET], allowHttp: true } }, { timeoutMs: 200 }));
    const [job] = await state.listDeliveries({ mailbox: 'mb' });
    expect(job).toMatchObject({ status: 'failed', attempts: 1 });
    expect(job?.lastError).toContain('WEBHOOK_ERR_TIMEOUT');
  });

  it('an endpoint that stops answering holds half the slots while another waits; its rest of the round is deferred', async () => {
    const started = Date.now();
    const { hung, fine, fineAt, d } = await silentAndAnswering(1_000);
    for (let i = 0; i < 12; i += 1) await seed(['hung', 'fine'], `u${i}`);
    const result = await deliverDue(d, { concurrency: 4 });
    const took = Date.now() - started;
    // Two of the four slots went to the endpoint that never answers while the other endpoint had jobs waiting;
    // its twelve went through the other two before the first timeout (before, they queued behind the timeouts:
    // the last at ≈ 2 s). Then, with nothing else left, two more went to the silent one.
    expect(fine.received).toHaveLength(12);
    expect(Math.max(...fineAt.values())).toBeLessThan(900);
    expect(hung.received).toHaveLength(4);
    // The round lasted about one timeout, not one per job (12 x 1 s over 4 slots: 3 s before).
    expect(took).toBeLessThan(1_900);
    expect(result).toEqual({ attempted: 16, delivered: 12, retrying: 4, dead: 0, disabled: 0, deferred: 8 });
    const hungJobs = (await state.listDeliveries({ mailbox: 'mb' })).filter((j) => j.endpointId === 'hung');
    const sent = new Set(hung.received.map((r) => r.headers['webhook-id']));
    for (const job of hungJobs) {
      if (sent.has(job.webhookId)) {
        expect(job).toMatchObject({ status: 'failed', attempts: 1 });
        expect(job.lastError).toContain('WEBHOOK_ERR_TIMEOUT');
      } else {
        // Deferred: not sent, no attempt counted, due again after the first retry delay (60 s ± 20 %).
        expect(job).toMatchObject({ status: 'pending', attempts: 0 });
        expect(job.nextAttemptAt).toBeGreaterThanOrEqual(started + 48_000);
        expect(job.nextAttemptAt).toBeLessThanOrEqual(Date.now() + 72_000);
      }
    }
  });

  it('deferred jobs are sent in a later round once the endpoint answers, each once, with its own webhook-id', async () => {
    let answering = false;
    const flaky = await receiver((_req, res) => {
      if (answering) res.writeHead(204).end();
    });
    servers.push(flaky.server);
    const jobs: DeliveryJob[] = [];
    for (let i = 0; i < 6; i += 1) jobs.push(...(await seed(['flaky'], `u${i}`)));
    const d = deps(
      { flaky: { id: 'flaky', url: flaky.url, secrets: [SECRET], allowHttp: true } },
      { timeoutMs: 300, schedule: [0, 1, 1, 1] },
    );
    // One endpoint alone gets every slot: four requests, all timing out, and the other two are deferred.
    const first = await deliverDue(d, { concurrency: 4 });
    expect(first).toMatchObject({ attempted: 4, retrying: 4, deferred: 2 });
    answering = true;
    await drain(d, 3);
    const after = await state.listDeliveries({ mailbox: 'mb' });
    expect(after.map((j) => j.status)).toEqual(Array(6).fill('delivered'));
    // The four that timed out were sent twice (attempts 2), the deferred two once (attempts 1).
    expect(after.map((j) => j.attempts).sort()).toEqual([1, 1, 2, 2, 2, 2]);
    const answered = flaky.received.slice(4).map((r) => r.headers['webhook-id']);
    expect([...answered].sort()).toEqual(jobs.map((j) => j.webhookId).sort());
  });

  it('when the outcome writes fail in a round with deferred jobs, the run rejects and every claimed job comes due again', async () => {
    const hung = await receiver(() => {});
    servers.push(hung.server);
    const jobs: DeliveryJob[] = [];
    for (let i = 0; i < 3; i += 1) jobs.push(...(await seed(['hung'], `u${i}`)));
    const failing = withOverrides(state, {
      updateDeliveries: async () => {
        throw new BridgeError('STATE_ERR_IO', 'state store updateDeliveries failed');
      },
    });
    const d = deps(
      { hung: { id: 'hung', url: hung.url, secrets: [SECRET], allowHttp: true } },
      { state: failing, timeoutMs: 200 },
    );
    await expect(deliverDue(d, { concurrency: 1, visibilityMs: 60_000 })).rejects.toMatchObject({
      code: 'STATE_ERR_IO',
    });
    expect(hung.received).toHaveLength(1);
    // Nothing was written: all three are still claimed, then due again with their ids and no attempt counted.
    expect(await state.listDueDeliveries(Date.now() + 50_000, 10)).toEqual([]);
    const due = await state.listDueDeliveries(Date.now() + 60_000, 10);
    expect(due.map((j) => j.webhookId).sort()).toEqual(jobs.map((j) => j.webhookId).sort());
    expect(due.map((j) => j.attempts)).toEqual([0, 0, 0]);
  });

  it('an event build that fails after its job gave up waiting for it is no unhandled rejection', async () => {
    // The soak's AWS run found this: moto killed mid-round, the job's state read failed before it awaited its
    // event, and the build's own failure (the raw object could not be read) then had no handler.
    await seed(['a']);
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const failing = withOverrides(state, {
        getMailboxState: async () => {
          throw new BridgeError('STATE_ERR_IO', 'state store getMailboxState failed');
        },
      });
      const d = deps(
        { a: { id: 'a', url: 'http://127.0.0.1:9/hook', secrets: [SECRET], allowHttp: true } },
        {
          state: failing,
          eventFor: async () => {
            await new Promise((resolve) => setTimeout(resolve, 50));
            throw new BridgeError('STORE_ERR_IO', 'could not open a stored object');
          },
        },
      );
      await expect(deliverDue(d)).rejects.toMatchObject({ code: 'STATE_ERR_IO' });
      // Past the build's failure, and a turn of the loop for Node to report it as unhandled.
      await new Promise((resolve) => setTimeout(resolve, 150));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('a slow endpoint that does answer leaves slots to another, and nothing of it is deferred', async () => {
    const order: string[] = [];
    let slowInFlight = 0;
    let mostWhileFineWaited = 0;
    const slow = await receiver((_req, res) => {
      slowInFlight += 1;
      if (order.filter((o) => o === 'fine').length < 8)
        mostWhileFineWaited = Math.max(mostWhileFineWaited, slowInFlight);
      setTimeout(() => {
        slowInFlight -= 1;
        order.push('slow answered');
        res.writeHead(204).end();
      }, 300);
    });
    const fine = await receiver((_req, res) => {
      order.push('fine');
      res.writeHead(204).end();
    });
    servers.push(slow.server, fine.server);
    for (let i = 0; i < 8; i += 1) await seed(['slow', 'fine'], `u${i}`);
    const result = await deliverDue(
      deps({
        slow: { id: 'slow', url: slow.url, secrets: [SECRET], allowHttp: true },
        fine: { id: 'fine', url: fine.url, secrets: [SECRET], allowHttp: true },
      }),
      { concurrency: 4 },
    );
    expect(result).toEqual({ attempted: 16, delivered: 16, retrying: 0, dead: 0, disabled: 0, deferred: 0 });
    // Every fast delivery went out before the slow endpoint's first answer (with one shared queue, fine's later
    // jobs waited behind slow requests), and the slow one had at most two requests open meanwhile.
    expect(order.slice(0, 8)).toEqual(Array(8).fill('fine'));
    expect(mostWhileFineWaited).toBeLessThanOrEqual(2);
  });

  it('a round that outlasts its claims sends no job another round has claimed meanwhile: it hands them back', async () => {
    // A fake clock: each answer takes one (fake) second. Claims last 5 s, so a round of twelve one-at-a-time
    // requests outlasts them. Once they have run out, another round (another process, a parallel Lambda
    // invocation) starts: before, it claimed the first round's remaining jobs and sent them, and so did the first
    // round — the same event twice, with nothing having failed.
    const start = 1_000_000;
    let clock = start;
    const seen: string[] = [];
    let other: Promise<unknown> | undefined;
    const options = { concurrency: 1, visibilityMs: 5_000 };
    const slow = await receiver((req, res) => {
      seen.push(String(req.headers['webhook-id']));
      clock += 1_000;
      if (clock >= start + 5_000 && other === undefined) other = deliverDue(d, options);
      res.writeHead(204).end();
    });
    servers.push(slow.server);
    const jobs: DeliveryJob[] = [];
    for (let i = 0; i < 12; i += 1) jobs.push(...(await seed(['slow'], `u${i}`)));
    const d = deps(
      { slow: { id: 'slow', url: slow.url, secrets: [SECRET], allowHttp: true } },
      { now: () => clock, timeoutMs: 1_000 },
    );
    const first = await deliverDue(d, options);
    await other;
    // Before: the first round sent all twelve, the other round the last seven of them too.
    expect(seen.filter((id, i) => seen.indexOf(id) !== i)).toEqual([]);
    // A request may start only if its 1 s timeout ends 1.25 s (a quarter of the claim) before the claim does:
    // at 0, 1 and 2 s. The other nine are handed back, due at once.
    expect(first).toEqual({ attempted: 3, delivered: 3, retrying: 0, dead: 0, disabled: 0, deferred: 9 });
    const handedBack = (await state.listDeliveries({ mailbox: 'mb' })).filter((j) => j.status === 'pending');
    expect(handedBack).toHaveLength(9);
    for (const job of handedBack) {
      expect(job.attempts).toBe(0);
      expect(job.nextAttemptAt).toBeLessThanOrEqual(clock);
    }
    for (let round = 0; round < 10 && seen.length < 12; round += 1) {
      await deliverDue(d, options);
      clock += 1_000;
    }
    await other;
    expect([...seen].sort()).toEqual(jobs.map((j) => j.webhookId).sort());
    const after = await state.listDeliveries({ mailbox: 'mb' });
    expect(after.map((j) => [j.status, j.attempts])).toEqual(Array(12).fill(['delivered', 1]));
  });

  it('a job whose claim ran out while its event was built is neither sent nor written: another claim stands', async () => {
    const start = 1_000_000;
    let clock = start;
    const ok = await receiver((_req, res) => res.writeHead(204).end());
    servers.push(ok.server);
    const [job] = await seed(['ok'], 'u1');
    let otherClaim: DeliveryJob[] = [];
    const d = deps(
      { ok: { id: 'ok', url: ok.url, secrets: [SECRET], allowHttp: true } },
      {
        now: () => clock,
        timeoutMs: 1_000,
        // A slow build (a large message): the 5 s claim runs out meanwhile, and another process claims the job.
        eventFor: async () => {
          clock += 10_000;
          otherClaim = await state.claimDueDeliveries(clock, 10, 60_000);
          return { body: JSON.stringify(EVENT), filterSubject: { from: [], to: [], cc: [], subject: '' } };
        },
      },
    );
    const result = await deliverDue(d, { concurrency: 1, visibilityMs: 5_000 });
    expect(otherClaim.map((j) => j.webhookId)).toEqual([job!.webhookId]);
    expect(result).toMatchObject({ attempted: 0, deferred: 1 });
    expect(ok.received).toHaveLength(0);
    // The other process's claim is untouched: hidden until its own end, no attempt counted.
    const [after] = await state.listDeliveries({ mailbox: 'mb' });
    expect(after).toMatchObject({ status: 'pending', attempts: 0, nextAttemptAt: clock + 60_000 });
  });

  it("no request is started that could outlast the caller's deadline: its job is handed back, due at once", async () => {
    const start = 1_000_000;
    let clock = start;
    const ok = await receiver((_req, res) => {
      clock += 1_000;
      res.writeHead(204).end();
    });
    servers.push(ok.server);
    for (let i = 0; i < 6; i += 1) await seed(['ok'], `u${i}`);
    // The endpoint's own timeout (500 ms) is what must fit, not the engine's default (1 s).
    const d = deps(
      { ok: { id: 'ok', url: ok.url, secrets: [SECRET], allowHttp: true, timeoutMs: 500 } },
      { now: () => clock, timeoutMs: 1_000 },
    );
    // 3.5 s left, less the 2 s margin for writing outcomes: requests may start at 0 and 1 s, not at 2 s.
    const result = await deliverDue(d, { concurrency: 1, deadline: start + 3_500 });
    expect(result).toEqual({ attempted: 2, delivered: 2, retrying: 0, dead: 0, disabled: 0, deferred: 4 });
    expect(ok.received).toHaveLength(2);
    const pending = (await state.listDeliveries({ mailbox: 'mb' })).filter((j) => j.status === 'pending');
    expect(pending.map((j) => [j.attempts, j.nextAttemptAt])).toEqual(Array(4).fill([0, start + 2_000]));
  });

  it('claims last as long as a request to the slowest endpoint needs: a second round does not send it again', async () => {
    const slow = await receiver((_req, res) => {
      setTimeout(() => res.writeHead(204).end(), 700);
    });
    servers.push(slow.server);
    const [job] = await seed(['slow'], 'u1');
    // The engine's default timeout is 100 ms (claims of 400 ms before), the endpoint's own is 1 s.
    const d = deps(
      { slow: { id: 'slow', url: slow.url, secrets: [SECRET], allowHttp: true, timeoutMs: 1_000 } },
      { timeoutMs: 100, longestTimeoutMs: 1_000 },
    );
    const first = deliverDue(d, { concurrency: 1 });
    await new Promise((resolve) => setTimeout(resolve, 500));
    const second = await deliverDue(d, { concurrency: 1 });
    expect(await first).toMatchObject({ attempted: 1, delivered: 1 });
    expect(second.attempted).toBe(0);
    expect(slow.received.map((r) => r.headers['webhook-id'])).toEqual([job!.webhookId]);
  });

  it('a refilling round sends events queued while it waits on a hanging endpoint, before that one times out', async () => {
    const { fineAt, d } = await silentAndAnswering(1_000);
    for (let i = 0; i < 2; i += 1) await seed(['hung', 'fine'], `u${i}`);
    const round = deliverDue(d, { concurrency: 4, refill: { intervalMs: 50 } });
    await new Promise((resolve) => setTimeout(resolve, 200));
    const late: DeliveryJob[] = [];
    for (let i = 0; i < 3; i += 1) late.push(...(await seed(['fine'], `late${i}`)));
    const result = await round;
    // Sent by the round that was waiting on the silent endpoint, long before its 1 s timeout. Without refills
    // they waited for the next round, after that timeout.
    const lateAt = late.map((job) => fineAt.get(job.webhookId));
    expect(lateAt.every((at) => at !== undefined && at < 800)).toBe(true);
    expect(result).toEqual({ attempted: 7, delivered: 5, retrying: 2, dead: 0, disabled: 0, deferred: 0 });
  });

  it('in a refilling round a lone hanging endpoint leaves a slot free for jobs claimed later', async () => {
    const { hung, fineAt, d } = await silentAndAnswering(1_000);
    for (let i = 0; i < 6; i += 1) await seed(['hung'], `u${i}`);
    const round = deliverDue(d, { concurrency: 4, refill: { intervalMs: 50 } });
    await new Promise((resolve) => setTimeout(resolve, 200));
    const [late] = await seed(['fine'], 'late');
    const result = await round;
    // Three of the four slots went to the silent endpoint (without refills, all four: it was alone), the late
    // job took the fourth at once; after the timeouts the silent endpoint's other three were handed back.
    expect(hung.received).toHaveLength(3);
    expect(fineAt.get(late!.webhookId)).toBeLessThan(800);
    expect(result).toEqual({ attempted: 4, delivered: 1, retrying: 3, dead: 0, disabled: 0, deferred: 3 });
  });

  it('a refilling round does not claim a hanging endpoint’s backlog, and logs its deferrals once per hand-back', async () => {
    const hung = await receiver(() => {});
    const fine = await receiver((_req, res) => setTimeout(() => res.writeHead(204).end(), 200));
    servers.push(hung.server, fine.server);
    // Six messages for both endpoints, then a backlog of 300 for the silent one alone, claimed after them.
    for (let i = 0; i < 6; i += 1) await seed(['hung', 'fine'], `both${i}`, 1);
    for (let i = 0; i < 300; i += 1) await seed(['hung'], `backlog${i}`, 2);
    const claimedHung = new Map<string, number>();
    const counted = withOverrides(state, {
      claimDueDeliveries: async (...args: Parameters<StateStore['claimDueDeliveries']>) => {
        const claimed = await state.claimDueDeliveries(...args);
        for (const job of claimed) {
          if (job.endpointId === 'hung') claimedHung.set(job.webhookId, (claimedHung.get(job.webhookId) ?? 0) + 1);
        }
        return claimed;
      },
    });
    const lines: Array<Record<string, unknown>> = [];
    const d = deps(
      {
        hung: { id: 'hung', url: hung.url, secrets: [SECRET], allowHttp: true },
        fine: { id: 'fine', url: fine.url, secrets: [SECRET], allowHttp: true },
      },
      {
        state: counted,
        timeoutMs: 1_000,
        schedule: [0, 60_000, 60_000],
        logger: createJsonLogger({ write: (line) => lines.push(JSON.parse(line) as Record<string, unknown>) }),
      },
    );
    const result = await deliverDue(d, { concurrency: 4, refill: { intervalMs: 50 } });
    // The silent endpoint had two slots while the other one’s jobs waited (0.6 s of them, two at a time), and a
    // third once they were done (none on a machine so slow that its first two had timed out by then): its first
    // two requests timed out at 1 s, the third at ~1.6 s. In between it was hanging, and the old engine claimed
    // its whole backlog, claim after claim, handing every job back.
    const tried = hung.received.length;
    expect([2, 3]).toContain(tried);
    expect(result).toMatchObject({ attempted: 6 + tried, delivered: 6, retrying: tried });
    expect(claimedHung.size).toBeLessThanOrEqual(110);
    expect([...claimedHung.values()].every((times) => times === 1)).toBe(true);
    const deferrals = lines.filter((line) => String(line.msg).startsWith('webhooks deferred'));
    expect(deferrals).toHaveLength(1);
    expect(deferrals[0]).toMatchObject({ mailbox: 'mb', endpoint: 'hung', count: result.deferred });
    expect(deferrals[0]).toMatchObject({ retryInMs: expect.any(Number), moreUids: result.deferred - 20 });
    expect(deferrals[0]!.uids).toHaveLength(20);
    // Every job of the silent endpoint not attempted is still pending: handed back or never claimed.
    const jobs = await state.listDeliveries({ mailbox: 'mb' });
    expect(jobs.filter((j) => j.endpointId === 'hung' && j.status === 'pending')).toHaveLength(306 - tried);
  });

  it('a refilling round stops claiming when its signal aborts, and ends once its requests have', async () => {
    const { fine, d } = await silentAndAnswering(500);
    await seed(['hung'], 'u0');
    const stop = new AbortController();
    const round = deliverDue(d, { concurrency: 4, refill: { intervalMs: 50, signal: stop.signal } });
    await new Promise((resolve) => setTimeout(resolve, 100));
    stop.abort();
    const [late] = await seed(['fine'], 'late');
    const result = await round;
    expect(result).toMatchObject({ attempted: 1, retrying: 1, delivered: 0 });
    expect(fine.received).toHaveLength(0);
    expect(await state.listDueDeliveries(Date.now(), 10)).toEqual([
      expect.objectContaining({ webhookId: late!.webhookId }),
    ]);
  });

  it('410 Gone disables the endpoint for the mailbox: later jobs for it are not sent', async () => {
    const gone = await receiver((_req, res) => res.writeHead(410).end());
    servers.push(gone.server);
    await seed(['g'], 'u1');
    await seed(['g'], 'u2');
    const d = deps({ g: { id: 'g', url: gone.url, secrets: [SECRET], allowHttp: true } }, { random: () => 0.5 });
    await deliverDue({ ...d }, { concurrency: 1 });
    expect(gone.received).toHaveLength(1);
    const jobs = await state.listDeliveries({ mailbox: 'mb' });
    expect(jobs.map((j) => j.status)).toEqual(['disabled', 'disabled']);
    expect((await state.getMailboxState('mb'))?.disabledEndpoints?.map((e) => e.id)).toEqual(['g']);
  });

  it("reads the mailbox's disabled endpoints once per round, not once per delivery", async () => {
    const ok = await receiver((_req, res) => res.writeHead(204).end());
    servers.push(ok.server);
    for (let i = 0; i < 20; i++) await seed(['a'], `u${i}`);
    let reads = 0;
    const read = state.getMailboxState.bind(state);
    // This test's store only (a new one per test): counts the reads.
    state.getMailboxState = (mailbox) => {
      reads += 1;
      return read(mailbox);
    };
    const d = deps({ a: { id: 'a', url: ok.url, secrets: [SECRET], allowHttp: true } });
    expect(await deliverDue(d, { concurrency: 4 })).toMatchObject({ delivered: 20 });
    expect(reads).toBe(1);
  });

  it('429 with Retry-After is retried no sooner than asked', async () => {
    const busy = await receiver((_req, res) => res.writeHead(429, { 'retry-after': '120' }).end());
    servers.push(busy.server);
    await seed(['r']);
    const before = Date.now();
    await deliverDue(deps({ r: { id: 'r', url: busy.url, secrets: [SECRET], allowHttp: true } }));
    const [job] = await state.listDeliveries({ mailbox: 'mb' });
    expect(job?.status).toBe('failed');
    expect(job!.nextAttemptAt - before).toBeGreaterThanOrEqual(119_000);
  });

  it('a redirect (here to the cloud metadata address) is never followed', async () => {
    let metadataHits = 0;
    const metadata = await receiver((_req, res) => {
      metadataHits += 1;
      res.writeHead(200).end('secret');
    });
    const redirector = await receiver((_req, res) =>
      res.writeHead(302, { location: `http://169.254.169.254/latest/meta-data/?via=${metadata.url}` }).end(),
    );
    servers.push(metadata.server, redirector.server);
    await seed(['x']);
    await deliverDue(deps({ x: { id: 'x', url: redirector.url, secrets: [SECRET], allowHttp: true } }));
    const [job] = await state.listDeliveries({ mailbox: 'mb' });
    expect(job).toMatchObject({ status: 'failed', lastStatus: 302 });
    expect(job?.lastError).toContain('WEBHOOK_ERR_REDIRECT');
    expect(metadataHits).toBe(0);
  });

  it('a loopback receiver not on the allow-list is refused by the SSRF guard and dead at once', async () => {
    const hidden = await receiver((_req, res) => res.writeHead(200).end());
    servers.push(hidden.server);
    await seed(['h']);
    const url = hidden.url.replace('127.0.0.1', 'localhost');
    await deliverDue(deps({ h: { id: 'h', url, secrets: [SECRET], allowHttp: true } }, { allow: new AllowList([]) }));
    expect(hidden.received).toHaveLength(0);
    const [job] = await state.listDeliveries({ mailbox: 'mb' });
    expect(job).toMatchObject({ status: 'dead' });
    expect(job?.lastError).toContain('WEBHOOK_ERR_BLOCKED');
  });

  it('http is refused unless the endpoint allows it', async () => {
    const plain = await receiver((_req, res) => res.writeHead(200).end());
    servers.push(plain.server);
    await seed(['p']);
    await deliverDue(deps({ p: { id: 'p', url: plain.url, secrets: [SECRET], allowHttp: false } }));
    expect(plain.received).toHaveLength(0);
    expect((await state.listDeliveries({ mailbox: 'mb' }))[0]?.status).toBe('dead');
  });

  it('filters: a message that does not match an endpoint is not sent to it', async () => {
    const ok = await receiver((_req, res) => res.writeHead(200).end());
    servers.push(ok.server);
    await seed(['yes', 'no']);
    await deliverDue(
      deps({
        yes: {
          id: 'yes',
          url: ok.url,
          secrets: [SECRET],
          allowHttp: true,
          filters: { subject: ['/^invoice \\d+$/i'] },
        },
        no: { id: 'no', url: ok.url, secrets: [SECRET], allowHttp: true, filters: { from: ['*@other.test'] } },
      }),
    );
    expect(ok.received).toHaveLength(1);
    const byEndpoint = Object.fromEntries(
      (await state.listDeliveries({ mailbox: 'mb' })).map((j) => [j.endpointId, j.status]),
    );
    expect(byEndpoint).toEqual({ yes: 'delivered', no: 'disabled' });
  });

  it('outcomes are written in batches of one updateDeliveries, every one before deliverDue resolves', async () => {
    const ok = await receiver((_req, res) => res.writeHead(200).end());
    servers.push(ok.server);
    for (let i = 0; i < 60; i += 1) await seed(['a', 'b'], `u${i}`);
    // The real store underneath; only the calls are counted.
    const batches: number[] = [];
    const counted = withOverrides(state, {
      updateDelivery: () => Promise.reject(new Error('the engine must batch its outcome writes')),
      updateDeliveries: (patches: Parameters<StateStore['updateDeliveries']>[0]) => {
        batches.push(patches.length);
        return state.updateDeliveries(patches);
      },
    });
    const endpoint = (id: string) => ({ id, url: ok.url, secrets: [SECRET], allowHttp: true });
    const result = await deliverDue(
      deps(
        { a: endpoint('a'), b: endpoint('b') },
        { state: counted, outcomeBuffer: { maxItems: 50, maxDelayMs: 60_000 } },
      ),
      { limit: 200 },
    );
    expect(result).toMatchObject({ attempted: 120, delivered: 120 });
    // 50 + 50 by size, the last 20 by the final flush: three writes instead of 120.
    expect(batches).toEqual([50, 50, 20]);
    expect(await state.countDeliveries('mb')).toMatchObject({ delivered: 120, pending: 0 });
  });

  it('a buffered outcome is flushed by time while the run is still going, not only at its end', async () => {
    await seed(['a'], 'u1');
    await seed(['a'], 'u2');
    // The first request is answered at once, the second after 400 ms: that keeps the run open (concurrency 1)
    // well past the 10 ms flush timer of the first outcome.
    const hook = await receiver((_req, res) => {
      if (hook.received.length === 2) setTimeout(() => res.writeHead(200).end(), 400);
      else res.writeHead(200).end();
    });
    servers.push(hook.server);
    const d = deps(
      { a: { id: 'a', url: hook.url, secrets: [SECRET], allowHttp: true } },
      { outcomeBuffer: { maxItems: 50, maxDelayMs: 10 } },
    );
    let finished = false;
    const run = deliverDue(d, { concurrency: 1 }).finally(() => {
      finished = true;
    });
    for (let i = 0; i < 100 && hook.received.length < 2; i += 1) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, 100));
    expect(finished).toBe(false);
    const [first, slow] = hook.received.map((r) => String(r.headers['webhook-id']));
    expect((await state.getDelivery(first!))?.status).toBe('delivered');
    expect((await state.getDelivery(slow!))?.status).toBe('pending');
    expect(await run).toMatchObject({ delivered: 2 });
    expect((await state.getDelivery(slow!))?.status).toBe('delivered');
  });

  it('an outcome write that fails makes the run reject with it; the claimed jobs come due again', async () => {
    const ok = await receiver((_req, res) => res.writeHead(200).end());
    servers.push(ok.server);
    const jobs = [...(await seed(['a'], 'u1')), ...(await seed(['a'], 'u2'))];
    let now = 1_000;
    const failing = withOverrides(state, {
      updateDeliveries: async () => {
        throw new BridgeError('STATE_ERR_IO', 'state store updateDeliveries failed');
      },
    });
    const d = deps(
      { a: { id: 'a', url: ok.url, secrets: [SECRET], allowHttp: true } },
      { state: failing, now: () => now },
    );
    await expect(deliverDue(d, { visibilityMs: 60_000 })).rejects.toMatchObject({ code: 'STATE_ERR_IO' });
    expect(ok.received).toHaveLength(2);
    // Nothing recorded, nothing lost: both are due again once the claim's visibility has passed, same ids.
    expect(await state.listDueDeliveries(now + 59_999, 10)).toEqual([]);
    now += 60_000;
    const again = await deliverDue(
      deps({ a: { id: 'a', url: ok.url, secrets: [SECRET], allowHttp: true } }, { now: () => now }),
    );
    expect(again).toMatchObject({ attempted: 2, delivered: 2 });
    expect(ok.received.map((r) => r.headers['webhook-id']).sort()).toEqual(
      [...jobs, ...jobs].map((j) => j.webhookId).sort(),
    );
  });
});
