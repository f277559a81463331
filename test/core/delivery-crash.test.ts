/**
 * Crash safety of buffered delivery outcomes: a delivery run (its own process,
 * SQLite state) is SIGKILLed while some outcomes are written and others are
 * still in its buffer. Afterwards every job is still queued under its original
 * webhook-id and is either delivered or due again (the claim's visibility
 * timeout); a second run then delivers every one of them. A lost "delivered"
 * costs a repeat under the same webhook-id, never a lost message.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, expect, it } from 'vitest';
import type { DeliveryJob } from '../../functions/core/ports.js';
import { deliverDue } from '../../functions/delivery/delivery-engine.js';
import { AllowList } from '../../functions/delivery/ssrf-guard.js';
import { SqliteStateStore } from '../../functions/local/sqlite-state-store.js';
import { seedDeliveries } from '../support/seed-deliveries.js';

const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const MESSAGES = 30;
const ENDPOINTS = ['a', 'b'];
/** The receiver stops answering at this request and the run is killed: outcomes 31.. are only buffered. */
const KILL_AT = 37;
const VISIBILITY_MS = 60_000;
const FLUSH_EVERY = 10;

const module = (rel: string): string => JSON.stringify(new URL(rel, import.meta.url).href);

/** The delivery run in the child: real engine, real SQLite store, outcomes flushed every 10 (never by time). */
const CHILD = `
import { deliverDue } from ${module('../../functions/delivery/delivery-engine.ts')};
import { AllowList } from ${module('../../functions/delivery/ssrf-guard.ts')};
import { SqliteStateStore } from ${module('../../functions/local/sqlite-state-store.ts')};
const [file, url] = process.argv.slice(2);
const state = new SqliteStateStore(file);
await deliverDue(
  {
    state,
    endpointFor: (_mb, id) => ({ id, url, secrets: [${JSON.stringify(SECRET)}], allowHttp: true }),
    eventFor: async (job) => ({
      body: JSON.stringify({ type: 'email.received', data: { mailbox: job.mailbox, uid: job.uid } }),
      filterSubject: { from: [], to: [], cc: [], subject: '' },
    }),
    allow: new AllowList(['127.0.0.1']),
    schedule: [0, 1, 1, 1, 1, 1, 1, 1],
    outcomeBuffer: { maxItems: ${FLUSH_EVERY}, maxDelayMs: 600_000 },
  },
  { limit: 100, concurrency: 4, visibilityMs: ${VISIBILITY_MS} },
);
console.error('the run finished: it should have been killed first');
`;

let dir: string | undefined;
let server: Server | undefined;
let child: ChildProcess | undefined;
afterEach(async () => {
  if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  server?.closeAllConnections();
  await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function seed(file: string): Promise<DeliveryJob[]> {
  const state = new SqliteStateStore(file);
  const all: DeliveryJob[] = [];
  for (let i = 0; i < MESSAGES; i += 1) {
    const jobs = await seedDeliveries(state, `u${i}`, ENDPOINTS, { sha256: i.toString(16).padStart(64, '0') });
    all.push(...jobs);
  }
  await state.close();
  return all;
}

it('a delivery run SIGKILLed with buffered outcomes loses nothing: every job delivered or due again, same webhook-id', async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'pop3-bridge-delivery-crash-'));
  const file = path.join(dir, 'state.db');
  const jobs = await seed(file);
  const script = path.join(dir, 'deliver-and-be-killed.mts');
  await writeFile(script, CHILD);

  /** Every request: its webhook-id and the status it was answered with (undefined: killed before an answer). */
  const requests: Array<{ id: string; status?: number }> = [];
  let killNow: () => void = () => {};
  let crashed = true; // the first run: answers until KILL_AT, then kills the child; afterwards answers 200
  server = createServer((req, res) => {
    const entry: { id: string; status?: number } = { id: String(req.headers['webhook-id']) };
    requests.push(entry);
    req.resume();
    req.on('end', () => {
      if (crashed && requests.length >= KILL_AT) {
        killNow();
        return;
      }
      // Every fifth request fails in the first run: its "failed, attempts + 1" outcome is buffered too.
      entry.status = crashed && requests.length % 5 === 0 ? 500 : 200;
      res.writeHead(entry.status).end();
    });
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;

  const root = fileURLToPath(new URL('../..', import.meta.url));
  child = spawn(process.execPath, ['--import', 'tsx', script, file, url], {
    cwd: root,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  killNow = () => child?.kill('SIGKILL');
  let stderr = '';
  child.stderr?.on('data', (d) => {
    stderr += String(d);
  });
  const signal = await new Promise<NodeJS.Signals | null>((resolve) => child!.on('exit', (_code, sig) => resolve(sig)));
  expect(signal, stderr).toBe('SIGKILL');
  const killedAt = Date.now();
  crashed = false;

  // What the crash left: every job, under its original webhook-id; delivered only if a 2xx was received for it.
  const state = new SqliteStateStore(file);
  try {
    const answered = new Map(requests.filter((r) => r.status !== undefined).map((r) => [r.id, r.status]));
    let recordedDelivered = 0;
    let lostDelivered = 0;
    for (const original of jobs) {
      const now = await state.getDelivery(original.webhookId);
      expect(now, original.webhookId).toMatchObject({
        webhookId: original.webhookId,
        mailbox: original.mailbox,
        uid: original.uid,
        endpointId: original.endpointId,
      });
      if (now!.status === 'delivered') {
        expect(answered.get(original.webhookId)).toBe(200);
        recordedDelivered += 1;
        continue;
      }
      // Not delivered: pending or failed, and due again no later than the claim's visibility timeout.
      expect(['pending', 'failed']).toContain(now!.status);
      expect(now!.nextAttemptAt).toBeLessThanOrEqual(killedAt + VISIBILITY_MS);
      if (answered.get(original.webhookId) === 200) lostDelivered += 1;
    }
    // The run really had both: outcomes flushed (10, 20, 30) and 2xx outcomes still buffered when it died.
    expect(recordedDelivered).toBeGreaterThanOrEqual(FLUSH_EVERY);
    expect(lostDelivered).toBeGreaterThanOrEqual(1);

    // A run after the visibility timeout delivers every job not recorded as delivered, under the same ids.
    const later = () => Date.now() + VISIBILITY_MS + 1_000;
    const firstRun = requests.length;
    const deps = {
      state,
      endpointFor: (_mb: string, id: string) => ({ id, url, secrets: [SECRET], allowHttp: true }),
      eventFor: async (job: DeliveryJob) => ({
        body: JSON.stringify({ type: 'email.received', data: { mailbox: job.mailbox, uid: job.uid } }),
        filterSubject: { from: [], to: [], cc: [], subject: '' },
      }),
      allow: new AllowList(['127.0.0.1']),
      now: later,
    };
    for (let round = 0; round < 5; round += 1) {
      if ((await deliverDue(deps, { limit: 100 })).attempted === 0) break;
    }
    expect(await state.countDeliveries('mb')).toMatchObject({ delivered: jobs.length, pending: 0, failed: 0, dead: 0 });
    const ids = new Set(jobs.map((j) => j.webhookId));
    expect(requests.every((r) => ids.has(r.id))).toBe(true);
    const redelivered = requests.slice(firstRun);
    expect(redelivered.length).toBe(jobs.length - recordedDelivered);
    // Each 2xx the first run got but did not record is sent again, once, with its original webhook-id.
    expect(new Set(redelivered.map((r) => r.id)).size).toBe(redelivered.length);
  } finally {
    await state.close();
  }
}, 60_000);
