/**
 * The fault-injection soak: messages keep arriving at a misbehaving scripted
 * POP3 server while the real engine polls (in-process, or in a child process
 * it SIGKILLs mid-poll, or with a deadline that runs out mid-batch) and
 * delivers to receivers that fail on purpose, with S3 and DynamoDB behind a
 * fault proxy in AWS mode. At the end, a verification pass from ground truth.
 *
 * Used by test/soak/soak.test.ts (small, in CI) and bench/soak.ts (full size).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { isBridgeError } from '../../functions/core/errors.js';
import { silentLogger } from '../../functions/core/logger.js';
import { type PollProbePoint, pollMailbox } from '../../functions/core/poll/poll-mailbox.js';
import { pollTargetOf } from '../../functions/core/poll/target.js';
import { deliverDue } from '../../functions/delivery/delivery-engine.js';
import type { Pop3Limits } from '../../functions/pop3/limits.js';
import { type Mailbox, startScriptedServer } from '../../functions/scripted-server/index.js';
import { sha256Hex } from '../support/bytes.js';
import { DYNAMODB_FAULTS, type FaultProxy, S3_FAULTS, startFaultProxy } from '../support/fault-proxy.js';
import { type Moto, startMoto, uniqueName } from '../support/moto.js';
import {
  AwsDurabilityWitness,
  type Backend,
  type BackendSpec,
  localDurability,
  openBackend,
  provisionAws,
} from './backends.js';
import { type FaultKind, FaultPlan, type FaultRates } from './fault-plan.js';
import type { KillPlan } from './kill-child.js';
import { type DeleAudit, pop3Faults } from './pop3-faults.js';
import { type MemoryWatch, watchGroupMemory } from './process-memory.js';
import { type SoakMessage, type Verdict, verifySoak } from './verify.js';
import { startReceivers } from './webhook-receivers.js';

export interface SoakOptions {
  readonly mode: 'local' | 'aws';
  readonly seed: number;
  readonly messages: number;
  /** Messages that arrive at the server before each poll. */
  readonly batch: number;
  readonly rates: FaultRates;
  /** Upper bound on poll + deliver rounds (the loop always ends). */
  readonly maxRounds: number;
  /**
   * For checking the checker only: a broken engine variant. `skip-record` makes
   * every 5th recordMessage claim success without writing.
   */
  readonly sabotage?: 'skip-record';
  readonly progress?: (line: string) => void;
  /**
   * AWS mode: moto_server is SIGKILLed and the run fails without a verdict when
   * its resident memory passes this many MiB (default 4096). moto keeps every
   * model instance it ever created, so its memory grows with the square of the
   * messages stored (docs/soak.md); the cap keeps a too-large run from
   * driving a shared machine into thrashing.
   */
  readonly motoRssCapMb?: number;
}

export interface SoakReport {
  readonly mode: 'local' | 'aws';
  readonly seed: number;
  readonly faults: ReadonlyMap<FaultKind, number>;
  readonly totalFaults: number;
  readonly verdict: Verdict;
  readonly polls: number;
  /** Poll outcomes by status / error code (typed errors only; anything else is counted in `untyped`). */
  readonly pollOutcomes: Record<string, number>;
  /** Errors thrown by poll or delivery that are not BridgeErrors. */
  readonly untyped: ReadonlyArray<string>;
  /** Uncaught exceptions, unhandled rejections and kill children that died another way: what happened. */
  readonly crashDetails: ReadonlyArray<string>;
  readonly webhookRequests: number;
  /** Webhook requests beyond the first per webhook-id. */
  readonly webhookRetries: number;
  readonly deadJobs: number;
  readonly retrs: number;
  readonly dele: number;
  readonly rounds: number;
  readonly finished: boolean;
  readonly elapsedMs: number;
  /** AWS mode: moto_server's peak resident memory (MiB), sampled every 2 s; undefined in local mode. */
  readonly motoPeakRssMb?: number | undefined;
  /** How many independent runs this report sums (bench/soak.ts --segment-size); 1 for a single run. */
  readonly segments?: number;
}

const KILL_POINTS: ReadonlyArray<PollProbePoint | 'mid-retr'> = [
  'connected',
  'listed',
  'mid-retr',
  'after-store',
  'after-record',
  'after-dele',
  'before-quit',
  'after-quit',
];
const CHILD = path.join(import.meta.dirname, 'kill-child.ts');
const NORMAL_ENDPOINTS = ['hook-a', 'hook-b'] as const;
const GONE_ENDPOINT = 'hook-gone';
const WEBHOOK_TIMEOUT_MS = 250;
/** Short, so a run finishes, and long enough that a 10 % fault rate practically never dead-letters. */
const RETRY_SCHEDULE = [0, 20, 50, 100, 200, 300, 500, 500, 500, 500, 500, 500];
const LEASE_TTL_MS = 300;

/** Deterministic test mail: mostly small, every tenth one 20–120 KB so drops land mid-body. */
export function soakMessages(seed: number, count: number, plan: FaultPlan): Array<{ uidl: string; body: Buffer }> {
  return Array.from({ length: count }, (_, i) => {
    const large = plan.random('content') < 0.1;
    const lines = large ? plan.int('content', 300, 1800) : plan.int('content', 5, 60);
    const text = Array.from({ length: lines }, (_, l) => `line ${l} of soak message ${i}, seed ${seed}\r\n`).join('');
    const body = Buffer.from(
      `From: sender${i % 17}@example.test\r\nTo: inbox@example.test\r\nSubject: soak ${i}\r\n` +
        `Message-ID: <soak-${seed}-${i}@example.test>\r\nDate: Fri, 27 Nov 2026 03:00:00 +0000\r\n\r\n${text}`,
    );
    return { uidl: `soak-${seed}-${String(i).padStart(6, '0')}`, body };
  });
}

function limitsFor(mode: 'local' | 'aws'): Partial<Pop3Limits> {
  // Stalls must end in POP3_ERR_TIMEOUT within the soak; AWS mode gets more room for the SDK's own retries.
  const ms = mode === 'local' ? 500 : 2_000;
  return { connectTimeoutMs: 2_000, greetingTimeoutMs: 2_000, commandTimeoutMs: ms, idleTimeoutMs: ms };
}

function runChild(plan: KillPlan): Promise<{ signal: NodeJS.Signals | null; status: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', CHILD, JSON.stringify(plan)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString('utf8')).slice(-4000);
    });
    child.stdout?.resume();
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.once('exit', (status, signal) => {
      clearTimeout(timer);
      resolve({ signal, status, stderr });
    });
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function runSoak(options: SoakOptions): Promise<SoakReport> {
  const started = Date.now();
  const plan = new FaultPlan(options.seed, options.rates);
  const say = options.progress ?? (() => {});
  const dir = await mkdtemp(path.join(tmpdir(), `pop3-bridge-soak-${options.mode}-`));
  const cleanups: Array<() => Promise<void> | void> = [() => rm(dir, { recursive: true, force: true })];
  const crashes: string[] = [];
  const onCrash = (error: unknown) =>
    crashes.push(error instanceof Error ? (error.stack ?? error.message) : String(error));
  process.on('uncaughtException', onCrash);
  process.on('unhandledRejection', onCrash);
  try {
    const all = soakMessages(options.seed, options.messages, plan);
    const shaOf = new Map(all.map((m) => [m.uidl, sha256Hex(m.body)]));
    const receivers = await startReceivers(plan, {
      normal: NORMAL_ENDPOINTS,
      gone: GONE_ENDPOINT,
      timeoutMs: WEBHOOK_TIMEOUT_MS,
      goneAfter: Math.max(3, Math.floor(options.messages / 10)),
    });
    cleanups.push(() => receivers.close());

    const audit: DeleAudit = { dele: 0, early: [] };
    // Set below, once the backend exists; no DELE can arrive before the first poll.
    let isDurable: (uid: string, sha256: string) => boolean = () => false;
    const password = `soak-${options.seed}-pw`;
    // The hooks need the server's maildrop, which exists only once the server does.
    let maildrop: Mailbox | undefined;
    const faults = pop3Faults(
      plan,
      () => maildrop!,
      (uid, sha) => isDurable(uid, sha),
      (uid) => shaOf.get(uid) ?? '',
      audit,
    );
    const server = await startScriptedServer({ users: [{ username: 'soak', password }], faults });
    maildrop = server.mailbox;
    cleanups.push(() => server.close());

    const rawConfig = {
      store: { dir: path.join(dir, 'store') },
      webhookAllowList: ['127.0.0.1'],
      mailboxes: [
        {
          name: 'soak',
          host: server.host,
          port: server.port,
          tls: 'none',
          allowInsecureAuth: true,
          username: 'soak',
          password,
          method: 'user',
          mode: 'delete',
          webhooks: receivers.receivers.map((r) => ({ id: r.id, url: r.url, secret: r.secret, allowHttp: true })),
        },
      ],
    };

    let spec: BackendSpec;
    let verifyBackend: Backend;
    let motoMemory: MemoryWatch | undefined;
    let overCap: string | undefined;
    if (options.mode === 'local') {
      spec = { mode: 'local', rawConfig };
      const local = localDurability(path.join(dir, 'store'), 'soak');
      isDurable = local.isDurable;
      cleanups.push(() => local.close());
    } else {
      const moto: Moto = await startMoto();
      cleanups.push(() => moto.stop());
      const capMb = options.motoRssCapMb ?? 4096;
      const watch = watchGroupMemory(moto.processGroup, {
        capMb,
        onOverCap: (mb) => {
          overCap = `moto_server reached ${Math.round(mb)} MiB (cap ${capMb} MiB)`;
          // At once, not at the end of the round: a round can take long enough to exhaust the machine.
          void moto.stop();
        },
      });
      motoMemory = watch;
      cleanups.push(() => watch.stop());
      const table = uniqueName('soak');
      const bucket = uniqueName('soak');
      await provisionAws(moto.endpoint, moto.region, table, bucket);
      const witness = new AwsDurabilityWitness();
      isDurable = witness.isDurable;
      const proxy: FaultProxy = await startFaultProxy({
        target: moto.endpoint,
        onExchange: witness.observe,
        decide: (request) => {
          // One stream per service: which requests fail then depends only on how many requests each service
          // got, not on how S3's and DynamoDB's requests interleaved (timing). Picks 0, 1 and 5 are the three
          // kinds of each service (SlowDown or throttling, 5xx, dropped connection): a small run covers them first.
          const service = request.service === 's3' ? 's3' : 'dynamodb';
          if (!plan.chance(`aws-${service}`, options.rates.aws)) return undefined;
          const pick = plan.pick(`aws-kind-${service}`, 0, 5, [0, 1, 5]);
          if (pick === 5) {
            plan.count('aws: connection dropped');
            return { kind: plan.chance('aws-drop', 0.5) ? 'drop' : 'drop-after' };
          }
          if (request.service === 's3') {
            const slow = pick % 2 === 0;
            plan.count(slow ? 's3: 503 SlowDown' : 's3: 5xx');
            const f = slow ? S3_FAULTS.slowDown : pick === 1 ? S3_FAULTS.internal : S3_FAULTS.unavailable;
            return { kind: 'error', ...f };
          }
          const throttle = pick % 2 === 0;
          plan.count(throttle ? 'dynamodb: throttling' : 'dynamodb: 5xx');
          const f = throttle
            ? pick === 0
              ? DYNAMODB_FAULTS.throttling
              : DYNAMODB_FAULTS.throughput
            : pick === 1
              ? DYNAMODB_FAULTS.internal
              : DYNAMODB_FAULTS.unavailable;
          return { kind: 'error', ...f };
        },
      });
      cleanups.push(() => proxy.close());
      const common = { rawConfig, region: moto.region, table, bucket } as const;
      spec = { mode: 'aws', endpoint: proxy.endpoint, ...common };
      verifyBackend = openBackend({ mode: 'aws', endpoint: moto.endpoint, ...common });
      cleanups.push(() => verifyBackend.close());
    }

    const backend = openBackend(spec);
    cleanups.push(() => backend.close());
    verifyBackend ??= backend;
    const target = pollTargetOf(backend.mailbox);
    const limits = limitsFor(options.mode);
    const pollDeps = backend.pollDeps(silentLogger, limits, sabotaged(backend, options.sabotage));
    const deliveryDeps = backend.deliveryDeps(silentLogger, {
      schedule: RETRY_SCHEDULE,
      timeoutMs: WEBHOOK_TIMEOUT_MS,
      random: () => plan.random('jitter'),
    });
    const outcomes: Record<string, number> = {};
    const untyped: string[] = [];
    const tally = (key: string) => {
      outcomes[key] = (outcomes[key] ?? 0) + 1;
    };
    const typedOrNote = (error: unknown, where: string): string => {
      if (isBridgeError(error)) return error.code;
      untyped.push(`${where}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
      return 'UNTYPED';
    };

    let added = 0;
    let polls = 0;
    let rounds = 0;
    let finished = false;
    for (; rounds < options.maxRounds && !finished && overCap === undefined; rounds += 1) {
      for (let i = 0; i < options.batch && added < all.length; i += 1, added += 1) {
        server.mailbox.add({ body: all[added]!.body, uidl: all[added]!.uidl });
      }
      // Poll: in a child killed mid-poll, with a deadline that runs out mid-batch, or plainly.
      const roll = plan.random('poll-kind');
      polls += 1;
      const force = (kind: FaultKind) =>
        options.rates.forceAfter !== undefined && polls >= options.rates.forceAfter && plan.counts.get(kind) === 0;
      const kill = roll < options.rates.kill || (options.rates.kill > 0 && force('poll: SIGKILL mid-poll'));
      if (server.mailbox.messages.length > 0 && kill) {
        const point = KILL_POINTS[plan.int('kill-point', 0, KILL_POINTS.length - 1)]!;
        const occurrence = point === 'mid-retr' ? plan.int('kill-at', 1, 40) : plan.int('kill-at', 1, 3);
        const child = await runChild({ spec, limits, point, occurrence, leaseTtlMs: LEASE_TTL_MS });
        if (child.signal === 'SIGKILL') {
          plan.count('poll: SIGKILL mid-poll');
          tally('killed');
        } else if (child.status === 0) {
          tally('child finished before its kill point');
        } else {
          crashes.push(`kill child exited ${child.status}: ${child.stderr}`);
        }
        // The killed poll still holds the lease: the next one waits it out, as after a real crash.
        await sleep(LEASE_TTL_MS + 20);
      } else {
        const withDeadline =
          (roll >= options.rates.kill && roll < options.rates.kill + options.rates.deadline) ||
          (options.rates.deadline > 0 && force('poll: deadline mid-batch'));
        const deadline = withDeadline ? Date.now() + plan.int('deadline', 2, 40) : undefined;
        try {
          const result = await pollMailbox(target, pollDeps, {
            force: true,
            leaseTtlMs: LEASE_TTL_MS,
            ...(deadline !== undefined && { deadline }),
          });
          if (withDeadline && result.status === 'ok' && result.remaining > 0) plan.count('poll: deadline mid-batch');
          tally(result.status === 'error' ? `error ${typedOrNote(result.error, 'poll result')}` : result.status);
        } catch (error) {
          tally(`threw ${typedOrNote(error, 'poll')}`);
        }
      }

      // Deliver what is due; a store fault ends a run early, the next round carries on. Not once moto is
      // stopped over its cap: each run would only wait out the SDK's retries against a closed port.
      for (let runs = 0; runs < 50 && overCap === undefined; runs += 1) {
        try {
          // Every other round refills as `pop3-bridge run`'s do (claims while it waits on requests in flight),
          // so both kinds of round meet the faults.
          const r = await deliverDue(deliveryDeps, {
            limit: 200,
            concurrency: 8,
            visibilityMs: 2_000,
            ...(runs % 2 === 1 && { refill: { intervalMs: 50, forMs: 5_000 } }),
          });
          if (r.attempted === 0) break;
        } catch (error) {
          tally(`delivery threw ${typedOrNote(error, 'delivery')}`);
        }
      }
      if (added === all.length && server.mailbox.messages.length === 0) {
        const counts = await verifyBackend.state.countDeliveries('soak').catch((error: unknown) => {
          // moto stopped over its memory cap: reported below, not as a state-store failure.
          if (overCap === undefined) throw error;
          return undefined;
        });
        finished = counts !== undefined && counts.pending === 0 && counts.failed === 0;
        if (!finished) await sleep(100);
      }
      if (rounds % 20 === 0) {
        say(
          `[${options.mode} seed ${options.seed}] round ${rounds}: ${added}/${all.length} arrived, ` +
            `${server.mailbox.messages.length} on server, ${plan.total} faults, ${receivers.log.length} webhook requests`,
        );
      }
    }

    // The timer samples every 2 s; a run can end before its first sample.
    await motoMemory?.check();
    if (overCap !== undefined) {
      throw new Error(`${overCap} with ${added} of ${all.length} messages arrived: stopped without a verdict`);
    }
    const verdict = await verifySoak({
      mailbox: 'soak',
      messages: all.map((m): SoakMessage => ({ uidl: m.uidl, sha256: shaOf.get(m.uidl)! })),
      onServer: new Set(server.mailbox.messages.map((m) => m.uidl)),
      state: verifyBackend.state,
      store: verifyBackend.store,
      log: receivers.log,
      normalEndpoints: NORMAL_ENDPOINTS,
      goneEndpoint: GONE_ENDPOINT,
      goneAt: receivers.goneAt,
      audit,
      crashes: crashes.length,
    });
    const counts = await verifyBackend.state.countDeliveries('soak');
    await motoMemory?.stop();
    const ids = new Set(receivers.log.map((e) => e.webhookId));
    for (const c of crashes) say(`crash: ${c}`);
    for (const u of untyped.slice(0, 5)) say(`untyped error: ${u}`);
    return {
      mode: options.mode,
      seed: options.seed,
      faults: plan.counts,
      totalFaults: plan.total,
      verdict,
      polls,
      pollOutcomes: outcomes,
      untyped,
      crashDetails: crashes,
      webhookRequests: receivers.log.length,
      webhookRetries: receivers.log.length - ids.size,
      deadJobs: counts.dead,
      retrs: server.count('RETR'),
      dele: audit.dele,
      rounds,
      finished,
      elapsedMs: Date.now() - started,
      motoPeakRssMb: motoMemory?.peakMb(),
      segments: 1,
    };
  } finally {
    process.off('uncaughtException', onCrash);
    process.off('unhandledRejection', onCrash);
    for (const cleanup of cleanups.reverse()) await cleanup();
  }
}

/** The broken variant for checking the checker (see SoakOptions.sabotage). */
function sabotaged(backend: Backend, sabotage: SoakOptions['sabotage']) {
  if (sabotage !== 'skip-record') return {};
  let n = 0;
  const state = backend.state;
  return {
    state: new Proxy(state, {
      get(target, key, receiver) {
        if (key === 'recordMessage') {
          return (...args: Parameters<typeof state.recordMessage>) =>
            ++n % 5 === 0 ? Promise.resolve('created' as const) : target.recordMessage(...args);
        }
        const value = Reflect.get(target, key, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    }),
  };
}
