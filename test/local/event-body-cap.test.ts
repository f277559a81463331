/**
 * `events.maxBodyBytes` reaches every place local mode builds an event: the
 * event worker pool, the in-process builder (workers 0) and `events show`
 * (runtime.eventDeps). A 40 KB text fits the default 256 KiB body and becomes
 * a link under a 32 KiB cap.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { parseConfig } from '../../functions/config/validate.js';
import { silentLogger } from '../../functions/core/logger.js';
import { eventBodyForJob } from '../../functions/delivery/event-source.js';
import { openLocalRuntime } from '../../functions/local/runtime.js';
import { seedDeliveries } from '../support/seed-deliveries.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'pop3-bridge-body-cap-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const TEXT = 'Minutes of the meeting, item by item. '.repeat(1100);

function configWith(events: Record<string, unknown> | undefined) {
  const { config, problems } = parseConfig({
    store: { dir: 'state' },
    ...(events && { events }),
    mailboxes: [
      {
        name: 'mb',
        host: 'pop.example.test',
        username: 'u',
        password: 'p',
        webhooks: [{ id: 'hook', url: 'https://hooks.example.test/in', secret: `whsec_${'A'.repeat(32)}` }],
      },
    ],
  });
  expect(problems).toEqual([]);
  return config;
}

async function bodies(events: Record<string, unknown> | undefined, eventWorkers: number) {
  const runtime = openLocalRuntime(configWith(events), { baseDir: dir, eventWorkers });
  try {
    const raw = Buffer.from(`From: a@example.test\r\nSubject: minutes\r\n\r\n${TEXT}\r\n`);
    const stored = await runtime.store.put(Readable.from([raw]), 'raw');
    const [job] = await seedDeliveries(runtime.state, `u-${events ? 'capped' : 'default'}-${eventWorkers}`, ['hook'], {
      mailbox: 'mb',
      sha256: stored.sha256,
    });
    const built = await runtime.deliveryDeps(silentLogger).eventFor(job!);
    const delivered = typeof built.body === 'string' ? built.body : Buffer.from(built.body).toString('utf8');
    const shown = (await eventBodyForJob(job!, runtime.eventDeps)).body;
    return { delivered, shown };
  } finally {
    await runtime.close();
  }
}

it.each([0, 1])(
  'the body cap of the config applies to delivered and shown events (event workers: %i)',
  async (workers) => {
    const small = await bodies({ maxBodyBytes: 32_768 }, workers);
    for (const body of [small.delivered, small.shown]) {
      expect(Buffer.byteLength(body)).toBeLessThanOrEqual(32_768);
      const { data } = JSON.parse(body);
      expect(data.text).toBeNull();
      expect(data.textUrl).toMatch(/\/objects\/att\//);
      expect(data.truncated.text).toBe(true);
    }
    const byDefault = await bodies(undefined, workers);
    for (const body of [byDefault.delivered, byDefault.shown]) {
      const { data } = JSON.parse(body);
      expect(data.text).toContain('Minutes of the meeting');
      expect(data.textUrl).toBeNull();
    }
  },
);
