/**
 * CPU profile of our side of a benchmark, to find where the time goes: the
 * V8 sampling profiler (the one `node --cpu-prof` uses) runs only around the
 * timed part, the profile is written to bench/.work/<scenario>.cpuprofile
 * (open it in Chrome DevTools) and summarised here as self time by area and
 * by function.
 *
 *   npx tsx bench/profile.ts fetch [--n N]   client: login, uidl, retrEach into files
 *   npx tsx bench/profile.ts poll  [--n N]   engine: first poll in local mode
 *   npx tsx bench/profile.ts idle  [--n N]   engine: idle poll of an N-message mailbox
 *   npx tsx bench/profile.ts deliver [--n N] [--workers N]  engine: delivery of N polled messages to a
 *                                            verifying receiver (its own process); event builders in
 *                                            N worker threads (default as the CLI; 0: main thread)
 */
import { createWriteStream } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { pollMailbox } from '../functions/core/poll/poll-mailbox.js';
import { deliverDue } from '../functions/delivery/delivery-engine.js';
import { FolderRawStore } from '../functions/local/folder-raw-store.js';
import { SqliteStateStore } from '../functions/local/sqlite-state-store.js';
import { startDovecot } from '../test/support/dovecot.js';
import { connectOurs, rawIdleFloor } from './contenders.js';
import { benchDeliveryDeps, benchEventPool, DELIVERY_OPTIONS, startReceiver, workersArg } from './e2e-delivery.js';
import { LEAVE_TARGET } from './local-poll.js';
import { fillMailbox, mixedMessage, tinyMessage } from './mailbox.js';
import { BENCH_DIR, fmt, load, moveToTrash, REPO_DIR, settle, table, tempDir, timed } from './support.js';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

function area(frame: CallFrame): string {
  const url = frame.url;
  if (url === '') return frame.functionName.startsWith('(') ? frame.functionName : 'native / V8 builtins';
  if (url.includes('/functions/pop3/')) return 'ours: functions/pop3';
  if (url.includes('/functions/local/')) return 'ours: functions/local';
  if (url.includes('/functions/core/')) return 'ours: functions/core';
  if (url.includes('/functions/delivery/')) return 'ours: functions/delivery';
  if (url.includes('/functions/events/')) return 'ours: functions/events';
  if (url.includes('/node_modules/mailparser/') || url.includes('/node_modules/mailsplit/')) return 'mailparser';
  if (url.includes('/node_modules/libmime/') || url.includes('/node_modules/iconv-lite/')) return 'libmime';
  if (url.includes('/node_modules/standardwebhooks/') || url.includes('/node_modules/@stablelib/'))
    return 'standardwebhooks';
  if (url.includes('/node_modules/fast-sha256/')) return 'standardwebhooks (fast-sha256)';
  if (url.includes('/node_modules/html-to-text/') || url.includes('/node_modules/htmlparser2/')) return 'html-to-text';
  if (url.includes('better-sqlite3')) return 'better-sqlite3 (JS side)';
  if (url.includes('/node_modules/')) return 'other node_modules';
  if (url.startsWith('node:') || !url.includes('/')) return `node: ${url.replace(/^node:/, '').split('/')[1] ?? url}`;
  return 'other';
}

export function summarise(profile: CpuProfile, top = 25): string {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i += 1) {
    const id = profile.samples[i]!;
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const byArea = new Map<string, number>();
  const byFunction = new Map<string, number>();
  for (const [id, us] of self) {
    const frame = byId.get(id)!.callFrame;
    byArea.set(area(frame), (byArea.get(area(frame)) ?? 0) + us);
    const where =
      frame.url === ''
        ? ''
        : ` ${path.relative(REPO_DIR, frame.url.replace(/^file:\/\//, ''))}:${frame.lineNumber + 1}`;
    const key = `${frame.functionName || '(anonymous)'}${where}`;
    byFunction.set(key, (byFunction.get(key) ?? 0) + us);
  }
  const rows = (m: Map<string, number>, limit: number) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, limit)
      .map(([k, us]) => [k, fmt.ms(us / 1000), `${((100 * us) / total).toFixed(1)}%`]);
  return [
    table(['area (self time)', 'time', 'share'], rows(byArea, 20)),
    '',
    table(['function (self time)', 'time', 'share'], rows(byFunction, top)),
  ].join('\n');
}

async function profiled<T>(name: string, fn: () => Promise<T>): Promise<T> {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 200 });
  await session.post('Profiler.start');
  const cpuBefore = process.cpuUsage();
  const { ms, value } = await timed(fn);
  const cpu = process.cpuUsage(cpuBefore);
  const { profile } = (await session.post('Profiler.stop')) as { profile: CpuProfile };
  session.disconnect();
  const out = path.join(BENCH_DIR, '.work', `${name}.cpuprofile`);
  await mkdir(path.dirname(out), { recursive: true });
  await writeFile(out, JSON.stringify(profile));
  // CPU time of this process is much less sensitive than wall time to other load on a shared machine.
  console.log(
    `\n${name}: ${fmt.ms(ms)} wall, ${fmt.ms((cpu.user + cpu.system) / 1000)} CPU ` +
      `(user ${fmt.ms(cpu.user / 1000)}, sys ${fmt.ms(cpu.system / 1000)}), load ${load()}; ` +
      `profile in ${path.relative(REPO_DIR, out)}\n`,
  );
  console.log(summarise(profile));
  return value;
}

const [scenario = 'fetch', ...rest] = process.argv.slice(2);
const nAt = rest.indexOf('--n');
const dovecot = await startDovecot({ disposeDir: moveToTrash });
const work = await tempDir('profile', { afterDeletionsAged: true });
try {
  if (scenario === 'fetch' || scenario === 'poll') {
    const n = nAt === -1 ? 2000 : Number.parseInt(rest[nAt + 1]!, 10);
    const mailbox = await fillMailbox(dovecot, n, (i) => mixedMessage(i, 1));
    const warm = await connectOurs(dovecot.facts, mailbox);
    await warm.uidl();
    await warm.quit();
    await settle();
    if (scenario === 'fetch') {
      await profiled(`fetch-${n}`, async () => {
        const client = await connectOurs(dovecot.facts, mailbox);
        const entries = await client.uidl();
        await client.retrEach(
          entries.map((e) => e.msg),
          (msg, body) => pipeline(body, createWriteStream(path.join(work, `${msg}.eml`))),
        );
        await client.quit();
      });
    } else {
      const state = new SqliteStateStore(path.join(work, 'state.db'));
      const store = new FolderRawStore(path.join(work, 'store'));
      const result = await profiled(`poll-${n}`, () =>
        pollMailbox(
          LEAVE_TARGET,
          { state, store, openSession: () => connectOurs(dovecot.facts, mailbox) },
          { force: true },
        ),
      );
      const stats = state.stats();
      console.log(
        `\nfetched ${result.fetched}, state round trips ${stats.roundTrips}, record groups ${stats.recordGroups}`,
      );
      await state.close();
    }
  } else if (scenario === 'idle') {
    const n = nAt === -1 ? 20_000 : Number.parseInt(rest[nAt + 1]!, 10);
    const mailbox = await fillMailbox(dovecot, n, (i) => tinyMessage(i, 7));
    const state = new SqliteStateStore(path.join(work, 'state.db'));
    const store = new FolderRawStore(path.join(work, 'store'));
    const deps = { state, store, openSession: () => connectOurs(dovecot.facts, mailbox) };
    await pollMailbox(LEAVE_TARGET, deps, { force: true });
    const result = await profiled(`idle-${n}`, () => pollMailbox(LEAVE_TARGET, deps, { force: true }));
    console.log(`\npath ${result.path}`);
    for (let i = 0; i < 3; i += 1) {
      const floor = await timed(() => rawIdleFloor(dovecot.facts, mailbox));
      const again = await timed(() => pollMailbox(LEAVE_TARGET, deps, { force: true }));
      console.log(`raw floor ${fmt.ms(floor.ms)}; ours (unprofiled) ${fmt.ms(again.ms)}`);
    }
    await state.close();
  } else if (scenario === 'deliver') {
    const n = nAt === -1 ? 1000 : Number.parseInt(rest[nAt + 1]!, 10);
    const mailbox = await fillMailbox(dovecot, n, (i) => mixedMessage(i, 1));
    const state = new SqliteStateStore(path.join(work, 'state.db'));
    const store = new FolderRawStore(path.join(work, 'store'));
    await pollMailbox(
      LEAVE_TARGET,
      { state, store, openSession: () => connectOurs(dovecot.facts, mailbox) },
      { force: true },
    );
    const receiver = await startReceiver();
    try {
      const workers = workersArg();
      const pool = await benchEventPool(store.dir, workers);
      const deps = benchDeliveryDeps(state, store, receiver.url, pool);
      console.log(`event workers: ${workers} (their CPU is in the process figure, not in the main-thread profile)`);
      await settle();
      await profiled(`deliver-${n}`, async () => {
        for (let round = 0; round < 10_000; round += 1) {
          const result = await deliverDue(deps, DELIVERY_OPTIONS);
          if (result.attempted === 0) break;
        }
      });
      const counted = await receiver.count();
      console.log(`\nreceiver verified ${counted.verified} of ${n}, ${counted.bad} bad`);
      await pool?.close();
    } finally {
      receiver.stop();
      await state.close();
    }
  } else {
    throw new Error('usage: profile.ts fetch|poll|idle|deliver [--n N]');
  }
} finally {
  await dovecot.stop();
  await moveToTrash(work);
}
