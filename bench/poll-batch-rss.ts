/**
 * Peak memory of the bundled poll handler while it fetches a batch of 10
 * mailboxes at once (the event source's batch size), each with one large
 * message, beside one invocation with a single such mailbox: the check behind
 * poll's 512 MB (infra/bridge-stack.ts), on this machine's Node and on Node 24, the functions' Lambda
 * runtime (fetched by scripts/lambda-node.sh). Real Dovecot (implicit TLS), S3 and
 * DynamoDB on moto. Each invocation runs in its own plain `node` process that
 * imports only the bundle, as Lambda does (no tsx, no fixtures in memory): it
 * warms up on a small mailbox, then reports its resident memory before the
 * measured invocation and the peak during it (VmHWM, reset just before it
 * through /proc/self/clear_refs).
 *
 *   npx tsx bench/poll-batch-rss.ts [--quick] [--n MiB]   (message size, default 24 MiB; --quick 8 MiB)
 */
import { randomBytes } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { bundleHandlers } from '../test/support/bundle-handlers.js';
import { startDovecot } from '../test/support/dovecot.js';
import { bigMessage } from '../test/support/fixtures.js';
import { startMoto } from '../test/support/moto.js';
import { addMailbox, provisionBenchAws, type RegistryHandler } from './aws-env.js';
import { sqsEvent, startHandlerChild } from './handler-child.js';
import { lambdaNodeBinary, load, MiB, machineLine, moveToTrash, parseArgs, table } from './support.js';

const args = parseArgs();
const messageMiB = args.n ?? (args.quick ? 8 : 24);
const BATCH = 10;

const [bundles, moto, dovecot] = await Promise.all([
  bundleHandlers(),
  startMoto(),
  startDovecot({ disposeDir: moveToTrash }),
]);
try {
  const aws = await provisionBenchAws(moto, 'rss');
  const env = {
    ...process.env,
    ...aws.handlerEnv({ endpoint: moto.endpoint, logLevel: 'WARN' }),
  };
  // The registry handler (in this process: its module scope reads the environment) registers and seals each
  // mailbox from the change event SSM would send EventBridge; poll reads the sealed config.
  Object.assign(process.env, env);
  const { handler: registry } = (await import(pathToFileURL(bundles.handlers.registry.path).href)) as {
    handler: RegistryHandler;
  };

  const secret = `whsec_${randomBytes(32).toString('base64')}`;
  const fields = { mode: 'leave', webhooks: [{ id: 'receiver', url: 'https://receiver.example.test/hook', secret }] };
  const add = (name: string, messages: Buffer[]) => addMailbox(aws, registry, dovecot, name, messages, fields);
  const size = messageMiB * MiB;
  await add('warm', [bigMessage(64 * 1024, 999)]);
  // Leave mode: a mailbox polled once has nothing new, so each runtime gets its own.
  const runtimes = [
    { label: `Node ${process.versions.node}`, bin: process.execPath },
    { label: 'Node 24 (Lambda)', bin: lambdaNodeBinary() },
  ];
  for (const r of runtimes.keys()) {
    await add(`single-${r}`, [bigMessage(size, 100 * r)]);
    for (let i = 1; i <= BATCH; i += 1) await add(`batch-${r}-${i}`, [bigMessage(size, 100 * r + i)]);
  }

  const polls = (mailboxes: ReadonlyArray<string>) => sqsEvent(mailboxes.map((m) => JSON.stringify({ mailbox: m })));
  /** One measured invocation in a fresh child, after a warm-up poll of the small mailbox. */
  const run = async (bin: string, mailboxes: string[]) => {
    const child = await startHandlerChild(bin, bundles.handlers.poll.path, env);
    try {
      await child.invoke(polls(['warm']));
      return await child.invoke(polls(mailboxes), true);
    } finally {
      child.stop();
    }
  };
  const rows: string[][] = [];
  for (const [r, runtime] of runtimes.entries()) {
    const single = await run(runtime.bin, [`single-${r}`]);
    const batch = await run(
      runtime.bin,
      Array.from({ length: BATCH }, (_, i) => `batch-${r}-${i + 1}`),
    );
    for (const [i, result] of [single, batch].entries()) {
      rows.push([
        i === 0 ? '1 mailbox' : `${BATCH} mailboxes at once`,
        runtime.label,
        result.before.toFixed(1),
        result.peak.toFixed(1),
        (result.peak - result.before).toFixed(1),
        (result.ms / 1000).toFixed(1),
      ]);
    }
  }

  console.log(`\npoll handler (bundle), one ${messageMiB} MiB message per mailbox`);
  console.log(`${machineLine()}, load average ${load()}`);
  console.log(
    table(['invocation', 'runtime', 'RSS before (MiB)', 'peak RSS (MiB)', 'added (MiB)', 'duration (s)'], rows),
  );
} finally {
  await Promise.allSettled([moto.stop(), dovecot.stop(), bundles.cleanup()]);
}
