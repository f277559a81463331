/**
 * Peak memory of the AWS mode's poll and deliver handlers, as bundled for Lambda, storing and then
 * delivering one large message (default 124 MiB, whose attachment decodes to ≈ 90.6 MiB), on Node 20 (this
 * machine) and on Node 24 (the functions' Lambda runtime, Runtime.NODEJS_24_X, fetched by
 * scripts/lambda-node.sh). rss-delivery.ts measures local mode's CLI, which runs on the machine's Node only
 * (its SQLite module is built for it); this is the same path through S3, DynamoDB and SQS on moto.
 *
 * Each handler runs in its own plain `node` process that imports only its bundle, as Lambda does: it
 * warms up on an invocation with nothing to do, then reports its resident memory before the measured
 * invocation and the peak during it (VmHWM, reset through /proc/self/clear_refs just before). Per Node
 * version: a new mailbox with the message on the real Dovecot (implicit TLS), registered and sealed by the
 * registry handler; poll fetches it (raw MIME streamed to S3, record and delivery job in DynamoDB, a wake-up
 * on the delivery queue); deliver, woken by that message, builds the event (attachment streamed to S3) and
 * POSTs it to a loopback receiver that verifies every signature. Both must succeed, or the run fails.
 *
 *   npx tsx bench/rss-aws-handlers.ts [--quick] [--n MiB]   (--quick: a 20 MiB message)
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import { ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { bundleHandlers } from '../test/support/bundle-handlers.js';
import { mailboxConfigFor, startDovecot } from '../test/support/dovecot.js';
import { bigMessage } from '../test/support/fixtures.js';
import { startMoto } from '../test/support/moto.js';
import { provisionBenchAws, type RegistryHandler, registerMailbox } from './aws-env.js';
import { RECEIVER_SECRET, startReceiver } from './e2e-delivery.js';
import { lambdaNodeBinary, load, MiB, machineLine, markdownTable, parseArgs, table, writeSummary } from './support.js';

const TARGET_MIB = 160;
/** Lambda's own limit for poll (5 min); deliver's is 2 min. */
const INVOCATION_TIMEOUT_MS = 5 * 60_000;

/**
 * The child: the bundle's handler, then one invocation per line of stdin (a JSON event); for each it writes one
 * JSON line to stdout. An invocation marked `measure` first reports resident memory, then resets the peak
 * (VmHWM, /proc/self/clear_refs) and reports the peak during it.
 */
const CHILD = `
import { readFileSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
const status = (field) => Number(readFileSync('/proc/self/status', 'utf8').split('\\n').find((l) => l.startsWith(field + ':')).replace(/[^0-9]/g, '')) / 1024;
const { handler } = await import(process.env.BENCH_BUNDLE_URL);
const context = { getRemainingTimeInMillis: () => 300000 };
process.stdout.write('BENCH {"ready":true}\\n');
for await (const line of createInterface({ input: process.stdin })) {
  const { event, measure } = JSON.parse(line);
  const before = status('VmRSS');
  if (measure) writeFileSync('/proc/self/clear_refs', '5');
  const max = { arrayBuffers: 0, heapUsed: 0, heapTotal: 0 };
  const sampler = setInterval(() => { const m = process.memoryUsage(); for (const k of Object.keys(max)) max[k] = Math.max(max[k], m[k] / 1048576); }, 20);
  const start = performance.now();
  const response = await handler(event, context);
  const ms = performance.now() - start;
  clearInterval(sampler);
  process.stdout.write('BENCH ' + JSON.stringify({ before, peak: status('VmHWM'), ms, max, failed: response?.batchItemFailures?.length ?? 0 }) + '\\n');
}
`;

interface ChildResult {
  readonly before: number;
  readonly peak: number;
  readonly ms: number;
  /** Highest `process.memoryUsage()` figures (MiB) sampled every 20 ms during the invocation. */
  readonly max: { readonly arrayBuffers: number; readonly heapUsed: number; readonly heapTotal: number };
}

const sqsEvent = (bodies: ReadonlyArray<string>) => ({
  Records: bodies.map((body, i) => ({ messageId: `job-${i}`, body })),
});

const args = parseArgs();
const messageMiB = args.n ?? (args.quick ? 20 : 124);
const nodes = [
  { label: `Node ${process.versions.node} (this machine)`, bin: process.execPath },
  { label: 'Node 24 (Lambda runtime)', bin: lambdaNodeBinary() },
];

const [bundles, moto, dovecot, receiver] = await Promise.all([
  bundleHandlers(),
  startMoto(),
  startDovecot(),
  startReceiver(),
]);
try {
  const aws = await provisionBenchAws(moto, 'rssaws');
  const env = {
    ...process.env,
    ...aws.handlerEnv({ endpoint: moto.endpoint, logLevel: 'WARN' }),
    // The receiver listens on loopback, which the SSRF guard refuses unless allowed.
    WEBHOOK_ALLOW_LIST: '127.0.0.1',
  };
  // The registry handler (in this process: its module scope reads the environment) registers and seals each
  // mailbox from the change event SSM would send EventBridge; poll and deliver read the sealed config.
  Object.assign(process.env, env);
  const { handler: registry } = (await import(pathToFileURL(bundles.handlers.registry.path).href)) as {
    handler: RegistryHandler;
  };
  const addMailbox = async (name: string, message: Buffer): Promise<void> => {
    const account = await dovecot.createMailbox([message]);
    await registerMailbox(
      aws,
      registry,
      name,
      mailboxConfigFor(name, dovecot.facts, account, {
        mode: 'delete',
        webhooks: [{ id: 'receiver', url: receiver.url, secret: RECEIVER_SECRET, allowHttp: true }],
      }),
    );
  };
  const wakeUps = async (): Promise<string[]> => {
    const bodies: string[] = [];
    for (let round = 0; round < 10; round += 1) {
      const page = await aws.clients.sqs.send(
        new ReceiveMessageCommand({ QueueUrl: aws.deliveryQueue, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }),
      );
      if ((page.Messages ?? []).length === 0) break;
      for (const m of page.Messages ?? []) bodies.push(m.Body ?? '');
    }
    return bodies;
  };
  /** One handler's child process: `invoke` sends it an event and waits for its report. */
  const startChild = async (bin: string, bundle: string) => {
    const child = spawn(bin, ['--input-type=module', '-e', CHILD], {
      env: { ...env, BENCH_BUNDLE_URL: pathToFileURL(bundle).href },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const lines = createInterface({ input: child.stdout });
    const waiters: Array<(line: string | undefined) => void> = [];
    // The handlers log to stdout too (Powertools); the child's own lines start with BENCH.
    lines.on('line', (line) => {
      if (line.startsWith('BENCH ')) waiters.shift()?.(line.slice('BENCH '.length));
    });
    lines.on('close', () => {
      for (const waiter of waiters.splice(0)) waiter(undefined);
    });
    const next = async (): Promise<string> => {
      const line = await new Promise<string | undefined>((resolve) => {
        waiters.push(resolve);
      });
      if (line === undefined) throw new Error(`${path.basename(path.dirname(bundle))} child exited: ${stderr}`);
      return line;
    };
    await next();
    return {
      async invoke(event: unknown, measure = false): Promise<ChildResult> {
        const reply = next();
        child.stdin.write(`${JSON.stringify({ event, measure })}\n`);
        // A handler that hangs must not hang the benchmark: killing the child ends `next` with an error.
        const timer = setTimeout(() => child.kill('SIGKILL'), INVOCATION_TIMEOUT_MS);
        const result = JSON.parse(await reply.finally(() => clearTimeout(timer))) as ChildResult & { failed: number };
        if (result.failed > 0) throw new Error(`${path.basename(path.dirname(bundle))}: a record failed: ${stderr}`);
        return result;
      },
      stop: () => child.kill('SIGTERM'),
    };
  };

  const message = bigMessage(messageMiB * MiB, 7);
  await addMailbox('warm', bigMessage(64 * 1024, 8));
  const rows: string[][] = [];
  const peaks: number[] = [];
  for (const [i, node] of nodes.entries()) {
    const mailbox = `big-${i}`;
    await addMailbox(mailbox, message);
    const before = await receiver.count();
    // Each child warms up on an invocation with nothing to do before the measured one, as a warm Lambda has.
    const [poller, deliverer] = [
      await startChild(node.bin, bundles.handlers.poll.path),
      await startChild(node.bin, bundles.handlers.deliver.path),
    ];
    let poll: ChildResult;
    let deliver: ChildResult;
    try {
      await poller.invoke(sqsEvent([JSON.stringify({ mailbox: 'warm' })]));
      await deliverer.invoke(sqsEvent([JSON.stringify({ kind: 'deliver-due' })]));
      await wakeUps();
      poll = await poller.invoke(sqsEvent([JSON.stringify({ mailbox })]), true);
      const woken = await wakeUps();
      if (woken.length === 0) throw new Error(`${node.label}: poll queued no delivery wake-up`);
      deliver = await deliverer.invoke(sqsEvent(woken), true);
    } finally {
      poller.stop();
      deliverer.stop();
    }
    const after = await receiver.count();
    if (after.bad > before.bad) throw new Error(`${node.label}: the receiver refused a signature`);
    if (after.verified <= before.verified) throw new Error(`${node.label}: nothing was delivered`);
    for (const [name, r] of [
      ['poll', poll],
      ['deliver', deliver],
    ] as const) {
      peaks.push(r.peak);
      rows.push([
        name,
        node.label,
        r.before.toFixed(1),
        r.peak.toFixed(1),
        (r.peak - r.before).toFixed(1),
        r.max.arrayBuffers.toFixed(1),
        r.max.heapUsed.toFixed(1),
        (r.ms / 1000).toFixed(1),
      ]);
    }
  }
  console.log(
    `\nAWS handlers (bundles, moto), one ${messageMiB} MiB message with a ${((message.length * 57) / 78 / MiB).toFixed(1)} MiB attachment (decoded, approx.)`,
  );
  console.log(`${machineLine()}, load average ${load()}`);
  const headers = ['handler', 'runtime', 'RSS before (MiB)', 'peak RSS (MiB)', 'added (MiB)'];
  console.log(table([...headers, 'array buffers, max (MiB)', 'JS heap, max (MiB)', 'duration (s)'], rows));
  const worst = Math.max(...peaks);
  console.log(
    `highest peak ${worst.toFixed(1)} MiB: ${worst <= TARGET_MIB ? 'within' : 'over'} the ${TARGET_MIB} MiB target`,
  );
  await writeSummary(
    args,
    [
      {
        bench: 'rss-aws-handlers',
        figure: `AWS mode: peak RSS of the poll and deliver bundles, ${messageMiB} MiB message, Node 20 and 24`,
        value: rows.map((r) => `${r[0]} ${r[1]?.split(' (')[0]}: ${r[3]} MiB`).join('; '),
        target: `≤ ${TARGET_MIB} MiB each`,
        met: worst <= TARGET_MIB,
      },
    ],
    [
      '',
      `AWS handlers, one ${messageMiB} MiB message`,
      '',
      markdownTable([...headers, 'array buffers, max (MiB)', 'JS heap, max (MiB)', 'duration (s)'], rows),
    ].join('\n'),
  );
} finally {
  receiver.stop();
  await Promise.allSettled([moto.stop(), dovecot.stop(), bundles.cleanup()]);
}
