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
import { pathToFileURL } from 'node:url';
import { ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { bundleHandlers } from '../test/support/bundle-handlers.js';
import { startDovecot } from '../test/support/dovecot.js';
import { bigMessage } from '../test/support/fixtures.js';
import { startMoto } from '../test/support/moto.js';
import { addMailbox, provisionBenchAws, type RegistryHandler } from './aws-env.js';
import { RECEIVER_SECRET, startReceiver } from './e2e-delivery.js';
import { type ChildResult, sqsEvent, startHandlerChild } from './handler-child.js';
import {
  lambdaNodeBinary,
  load,
  MiB,
  machineLine,
  markdownTable,
  moveToTrash,
  parseArgs,
  table,
  writeSummary,
} from './support.js';

const TARGET_MIB = 160;

const args = parseArgs();
const messageMiB = args.n ?? (args.quick ? 20 : 124);
const nodes = [
  { label: `Node ${process.versions.node} (this machine)`, bin: process.execPath },
  { label: 'Node 24 (Lambda runtime)', bin: lambdaNodeBinary() },
];

const [bundles, moto, dovecot, receiver] = await Promise.all([
  bundleHandlers(),
  startMoto(),
  startDovecot({ disposeDir: moveToTrash }),
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
  const fields = {
    mode: 'delete',
    webhooks: [{ id: 'receiver', url: receiver.url, secret: RECEIVER_SECRET, allowHttp: true }],
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
  const message = bigMessage(messageMiB * MiB, 7);
  await addMailbox(aws, registry, dovecot, 'warm', [bigMessage(64 * 1024, 8)], fields);
  const rows: string[][] = [];
  const peaks: number[] = [];
  for (const [i, node] of nodes.entries()) {
    const mailbox = `big-${i}`;
    await addMailbox(aws, registry, dovecot, mailbox, [message], fields);
    const before = await receiver.count();
    // Each child warms up on an invocation with nothing to do before the measured one, as a warm Lambda has.
    const [poller, deliverer] = [
      await startHandlerChild(node.bin, bundles.handlers.poll.path, env),
      await startHandlerChild(node.bin, bundles.handlers.deliver.path, env),
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
