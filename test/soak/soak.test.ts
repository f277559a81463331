/**
 * The soak, small and seeded, for CI: the same run as bench/soak.ts (see
 * docs/soak.md) with fewer messages and higher fault rates so every fault kind
 * fires, in local mode and in AWS mode (moto behind the fault proxy). Then one
 * deliberately broken engine, to show the verification pass can fail.
 *
 * SOAK_SEED=<n> reruns a failing seed; the seed is in every failure message.
 * About 40 s in all on a quiet machine; the timeouts leave room for a loaded one
 * (kill children start a Node process each, moto is one Python process).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { webhookIdFor } from '../../functions/core/webhook-id.js';
import { FolderRawStore } from '../../functions/local/folder-raw-store.js';
import { SqliteStateStore } from '../../functions/local/sqlite-state-store.js';
import { FAULT_KINDS, FaultPlan, type FaultRates } from './fault-plan.js';
import { outcomeLines, soakTable } from './report-table.js';
import { runSoak, type SoakReport } from './run-soak.js';
import { combineSegments, segmentSeeds } from './segments.js';
import { verifySoak } from './verify.js';
import type { ReceivedWebhook } from './webhook-receivers.js';

const SEED = Number(process.env.SOAK_SEED ?? 6_2026);

const CI_RATES: FaultRates = {
  retrDrop: 0.05,
  retrStall: 0.03,
  sysTemp: 0.05,
  inUse: 0.1,
  kill: 0.2,
  deadline: 0.2,
  aws: 0.04,
  webhook: 0.15,
  forceAfter: 4,
};

function expectPromisesKept(report: SoakReport): void {
  const context = `seed ${report.seed} (rerun with SOAK_SEED=${report.seed})\n${soakTable([report])}\n${outcomeLines([report])}\n${report.crashDetails.join('\n')}\n${report.untyped.join('\n')}`;
  expect(report.finished, `did not drain: ${context}`).toBe(true);
  expect(report.verdict.lost, `lost: ${context}`).toEqual([]);
  expect(report.verdict.deleBeforeDurable, `DELE before durable: ${context}`).toBe(0);
  expect(report.verdict.duplicateIds, `duplicate ids: ${context}`).toBe(0);
  expect(report.verdict.undelivered, `undelivered: ${context}`).toEqual([]);
  expect(report.verdict.badSignatures, context).toBe(0);
  expect(report.verdict.crashes, `crashes: ${context}`).toBe(0);
  expect(report.untyped, `untyped errors: ${context}`).toEqual([]);
  expect(report.deadJobs, context).toBe(0);
  expect(report.verdict.retryAfterIgnored, `Retry-After ignored: ${context}`).toBe(0);
  // Every message went through at least one RETR, and the faults made the engine fetch some again.
  expect(report.retrs, context).toBeGreaterThan(report.verdict.messages);
}

describe('soak under faults (seeded)', () => {
  it('local mode: no message lost, no early DELE, one webhook-id per (message, endpoint), no crash', async () => {
    const report = await runSoak({
      mode: 'local',
      seed: SEED,
      messages: 120,
      batch: 40,
      rates: CI_RATES,
      maxRounds: 400,
    });
    expectPromisesKept(report);
    const local = FAULT_KINDS.filter((k) => !k.startsWith('s3') && !k.startsWith('dynamodb') && !k.startsWith('aws'));
    for (const kind of local) expect(report.faults.get(kind), `${kind} never fired, seed ${SEED}`).toBeGreaterThan(0);
  }, 120_000);

  it('AWS mode (moto behind the fault proxy): the same promises with S3 and DynamoDB failing', async () => {
    const report = await runSoak({ mode: 'aws', seed: SEED, messages: 40, batch: 20, rates: CI_RATES, maxRounds: 300 });
    expectPromisesKept(report);
    // The memory watch saw moto (bench/soak.ts reports the peak and caps it).
    expect(report.motoPeakRssMb, `moto peak RSS, seed ${SEED}`).toBeGreaterThan(10);
    for (const kind of [
      's3: 503 SlowDown',
      'dynamodb: throttling',
      'dynamodb: 5xx',
      'aws: connection dropped',
    ] as const) {
      expect(report.faults.get(kind), `${kind} never fired, seed ${SEED}`).toBeGreaterThan(0);
    }
  }, 180_000);

  it('the verification catches a broken engine: records skipped, then DELEd, shows as lost and early DELE', async () => {
    const report = await runSoak({
      mode: 'local',
      seed: SEED,
      messages: 20,
      batch: 20,
      rates: { retrDrop: 0, retrStall: 0, sysTemp: 0, inUse: 0, kill: 0, deadline: 0, aws: 0, webhook: 0 },
      maxRounds: 3,
      sabotage: 'skip-record',
    });
    expect(report.verdict.lost).toHaveLength(4);
    expect(report.verdict.deleBeforeDurable).toBe(4);
    expect(report.verdict.undelivered).toHaveLength(4 * 2);
    // Summed as segments (bench/soak.ts, AWS mode), a broken segment stays visible in the total.
    const both = combineSegments([report, report]);
    expect(both.segments).toBe(2);
    expect(both.verdict.messages).toBe(40);
    expect(both.verdict.lost).toHaveLength(8);
    expect(both.verdict.deleBeforeDurable).toBe(8);
    expect(both.verdict.undelivered).toHaveLength(16);
    expect(both.retrs).toBe(2 * report.retrs);
    expect(soakTable([both])).toMatch(/local \(2 segments, seeds \d+\.\.\d+\)/);
  }, 30_000);

  it('segments: seed + i each, the last one takes the remainder', () => {
    expect(segmentSeeds(100, 1010, 500)).toEqual([
      { seed: 100, messages: 500 },
      { seed: 101, messages: 500 },
      { seed: 102, messages: 10 },
    ]);
    expect(segmentSeeds(7, 5000, 250)).toHaveLength(20);
  });

  it('fault kinds: a small run picks each covered kind first, per stream; a long run picks at random', () => {
    const small = new FaultPlan(SEED, CI_RATES);
    // After the cover, the stream's own random draws (the cover consumed none of them).
    const firstDraw = new FaultPlan(SEED, CI_RATES).int('s3', 0, 5);
    expect([0, 1, 2, 3].map(() => small.pick('s3', 0, 5, [0, 1, 5]))).toEqual([0, 1, 5, firstDraw]);
    // Another stream starts its own cover, whatever the first one did.
    expect(small.pick('dynamodb', 0, 5, [0, 1, 5])).toBe(0);
    const { forceAfter: _, ...longRates } = CI_RATES;
    const long = new FaultPlan(SEED, longRates);
    const picks = Array.from({ length: 600 }, () => long.pick('s3', 0, 5, [0, 1, 5]));
    for (let kind = 0; kind <= 5; kind += 1) expect(picks.filter((p) => p === kind).length).toBeGreaterThan(60);
  });

  it('AWS mode stops moto and fails without a verdict when moto passes its memory cap', async () => {
    const run = runSoak({
      mode: 'aws',
      seed: SEED,
      messages: 20,
      batch: 20,
      rates: { retrDrop: 0, retrStall: 0, sysTemp: 0, inUse: 0, kill: 0, deadline: 0, aws: 0, webhook: 0 },
      maxRounds: 50,
      // A running moto_server is tens of MiB: over the cap at the first sample.
      motoRssCapMb: 1,
    });
    await expect(run).rejects.toThrow(/moto_server reached \d+ MiB \(cap 1 MiB\).*stopped without a verdict/);
  }, 60_000);

  it('the verification counts a second webhook-id, an early retry after 429 and a bad signature', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'pop3-bridge-soak-verify-'));
    const state = new SqliteStateStore(path.join(dir, 'state.db'));
    try {
      const id = (uid: string, endpoint: string) => webhookIdFor('soak', uid, endpoint);
      const at = 1_000_000;
      const log: ReceivedWebhook[] = [
        { endpoint: 'hook-a', webhookId: id('u1', 'hook-a'), uid: 'u1', answer: 429, signatureOk: true, at },
        { endpoint: 'hook-a', webhookId: id('u1', 'hook-a'), uid: 'u1', answer: 200, signatureOk: true, at: at + 50 },
        { endpoint: 'hook-a', webhookId: 'msg_other', uid: 'u2', answer: 200, signatureOk: false, at },
      ];
      const verdict = await verifySoak({
        mailbox: 'soak',
        messages: [
          { uidl: 'u1', sha256: 'a'.repeat(64) },
          { uidl: 'u2', sha256: 'b'.repeat(64) },
        ],
        onServer: new Set(['u1', 'u2']),
        state,
        store: new FolderRawStore(path.join(dir, 'mail')),
        log,
        normalEndpoints: ['hook-a'],
        goneEndpoint: 'hook-gone',
        goneAt: undefined,
        audit: { dele: 0, early: [] },
        crashes: 0,
      });
      expect(verdict).toMatchObject({
        lost: [],
        duplicateIds: 1,
        retryAfterIgnored: 1,
        badSignatures: 1,
        undelivered: [],
      });
    } finally {
      await state.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
