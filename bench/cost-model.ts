/**
 * The measurements behind docs/cost-model.md: what one idle poll and one
 * dispatch cost in AWS requests, Lambda time and log bytes.
 *
 * The bundled registry, dispatch and poll handlers (the artifacts a deploy ships, built
 * with the CDK construct's esbuild options) run in this process against moto,
 * the mailboxes are real accounts on a private Dovecot over implicit TLS.
 * Every AWS request goes through a counting loopback proxy in front of moto,
 * so the counts are what the handlers really send (SDK retries included), not
 * what the code seems to send. DynamoDB capacity units are estimated from the
 * item sizes on the wire (rounded up per 4 KB read / 1 KB written, as billed).
 *
 * Steps: M mailboxes (leave mode, K messages each) are put in SSM, each
 * followed by the change event SSM sends EventBridge, handed to the registry
 * handler (moto emits none), which registers and seals it; two
 * 5-minute intervals of dispatch runs, each run's jobs polled at once, fetch
 * everything (warm-up, not counted); then R idle intervals: dispatch once a
 * minute (each mailbox is due in the minute of its slot, so once per
 * interval), and the interval's poll jobs handed to the poll handler as the
 * event source does (infra/bridge-stack.ts: batches of up to 10, in the order
 * received), each invocation counted and timed on its own (warm container:
 * module init is measured by handlers-cold-init.ts). Then dispatch runs once
 * a minute for 10 more minutes, to count what it asks SSM, KMS and the table
 * for when nothing changed, and the registry reconciles once (the hourly run).
 * Last, one parameter is edited (a new version), its change event handed to
 * the registry, and one more interval counts what an edit costs.
 *
 *   npx tsx bench/cost-model.ts [--quick] [--summary FILE]
 *     --quick: 10 mailboxes, 3 rounds (default 20 mailboxes: two SSM pages, two full batches; 5 rounds);
 *     --n: messages each (5)
 *
 * The ten polls of a batch run at once in this one process, so on loopback an invocation's duration
 * is CPU time (ten TLS handshakes on a shared 2-core machine), not the network wait it is with
 * remote servers: docs/cost-model.md costs both.
 *
 * Few messages per mailbox on purpose: an idle poll reads no per-message state
 * (measured: no S3 and no per-uid DynamoDB read), and first fetches of a few
 * hundred messages in all hit a moto 5.2 race (TransactWriteItems deep-copies
 * the table while a concurrent write changes it: HTTP 500, "dictionary changed
 * size during iteration" in moto's log).
 */
import { randomBytes } from 'node:crypto';
import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import { DeleteMessageBatchCommand, type Message, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { GetParameterCommand, PutParameterCommand } from '@aws-sdk/client-ssm';
import { bundleHandlers } from '../test/support/bundle-handlers.js';
import { mailboxConfigFor, startDovecot } from '../test/support/dovecot.js';
import { startMoto } from '../test/support/moto.js';
import { provisionBenchAws } from './aws-env.js';
import {
  load,
  machineLine,
  markdownTable,
  median,
  moveToTrash,
  parseArgs,
  type SummaryRow,
  table,
  writeSummary,
} from './support.js';

// ---------------------------------------------------------------------------------------------------------------
// Counting proxy: service and operation of every request, and DynamoDB capacity estimated from item sizes.

interface Counted {
  /** `dynamodb.GetItem`, `s3.GET object`, `sqs.SendMessageBatch`, … → count. */
  readonly ops: Map<string, number>;
  readUnits: number;
  writeUnits: number;
  /** SecureString values SSM decrypted for us: each is one kms:Decrypt billed to the account. */
  decrypts: number;
}

const newCounted = (): Counted => ({ ops: new Map(), readUnits: 0, writeUnits: 0, decrypts: 0 });

/** How many SecureString values one SSM response carried decrypted (every parameter here is a SecureString). */
function ssmDecrypts(req: Record<string, unknown>, res: Record<string, unknown>): number {
  if (req.WithDecryption !== true) return 0;
  if (res.Parameter !== undefined) return 1;
  return ((res.Parameters as unknown[] | undefined) ?? []).length;
}

/** DynamoDB's item size (attribute names + values), from the wire's typed JSON. */
function attributeBytes(value: Record<string, unknown>): number {
  const [type, v] = Object.entries(value)[0] ?? ['NULL', null];
  switch (type) {
    case 'S':
      return Buffer.byteLength(String(v));
    case 'N':
      return Math.ceil(String(v).replace(/^-/, '').length / 2) + 1;
    case 'B':
      return Buffer.from(String(v), 'base64').length;
    case 'SS':
    case 'NS':
    case 'BS':
      return (v as unknown[]).reduce<number>((n, item) => n + attributeBytes({ [type.slice(0, 1)]: item }), 0);
    case 'M':
      return 3 + itemBytes(v as Record<string, Record<string, unknown>>);
    case 'L':
      return 3 + (v as Record<string, unknown>[]).reduce<number>((n, item) => n + 1 + attributeBytes(item), 0);
    default:
      return 1;
  }
}

function itemBytes(item: Record<string, Record<string, unknown>>): number {
  let n = 0;
  for (const [name, value] of Object.entries(item)) n += Buffer.byteLength(name) + attributeBytes(value);
  return n;
}

type Item = Record<string, Record<string, unknown>>;

/** Read and write units one DynamoDB call is billed (on-demand), from its request and response bodies. */
function dynamoUnits(op: string, req: Record<string, unknown>, res: Record<string, unknown>): [number, number] {
  const readUnits = (bytes: number, consistent: boolean) =>
    Math.max(1, Math.ceil(bytes / 4096)) * (consistent ? 1 : 0.5);
  const consistent = req.ConsistentRead === true;
  switch (op) {
    case 'GetItem':
      return [readUnits(res.Item ? itemBytes(res.Item as Item) : 0, consistent), 0];
    case 'Query': {
      // A Query is billed on the sum of the items it read, rounded up once per call.
      const items = (res.Items as Item[] | undefined) ?? [];
      return [
        readUnits(
          items.reduce((n, i) => n + itemBytes(i), 0),
          consistent,
        ),
        0,
      ];
    }
    case 'BatchGetItem': {
      const tables = (res.Responses as Record<string, Item[]> | undefined) ?? {};
      const per = Object.values(tables).flat();
      return [per.reduce((n, i) => n + readUnits(itemBytes(i), false), 0), 0];
    }
    case 'PutItem':
      return [0, Math.max(1, Math.ceil(itemBytes(req.Item as Item) / 1024))];
    case 'UpdateItem':
    case 'DeleteItem': {
      // Billed on the larger of the item before and after; ALL_NEW/ALL_OLD returns it when asked, else ≥ 1.
      const attrs = res.Attributes as Item | undefined;
      return [0, Math.max(1, Math.ceil((attrs ? itemBytes(attrs) : 0) / 1024))];
    }
    case 'TransactWriteItems': {
      // Transactions cost two units per item and KB.
      const items = (req.TransactItems as Array<Record<string, { Item?: Item }>> | undefined) ?? [];
      return [0, items.reduce((n, t) => n + 2 * Math.max(1, Math.ceil(itemBytes(t.Put?.Item ?? {}) / 1024)), 0)];
    }
    case 'BatchWriteItem': {
      const writes = Object.values((req.RequestItems as Record<string, Array<{ PutRequest?: { Item: Item } }>>) ?? {});
      return [
        0,
        writes.flat().reduce((n, w) => n + Math.max(1, Math.ceil(itemBytes(w.PutRequest?.Item ?? {}) / 1024)), 0),
      ];
    }
    default:
      return [0, 0];
  }
}

/** `Credential=AKID/20261127/us-east-1/dynamodb/aws4_request` → `dynamodb`. */
function serviceOf(req: IncomingMessage): string {
  const auth = req.headers.authorization ?? '';
  return /Credential=[^/]+\/[^/]+\/[^/]+\/([^/]+)\//.exec(auth)?.[1] ?? 'unknown';
}

function operationOf(service: string, req: IncomingMessage): string {
  const target = req.headers['x-amz-target'];
  if (typeof target === 'string') return target.slice(target.lastIndexOf('.') + 1);
  if (service === 's3') {
    const url = new URL(req.url ?? '/', 'http://x');
    const isObject = url.pathname.split('/').filter(Boolean).length > 1;
    const sub = [...url.searchParams.keys()].find((k) => ['uploads', 'uploadId', 'list-type'].includes(k));
    return `${req.method} ${isObject ? 'object' : 'bucket'}${sub ? `?${sub}` : ''}`;
  }
  const action = new URL(req.url ?? '/', 'http://x').searchParams.get('Action');
  return action ?? `${req.method} ${req.url}`;
}

const originalStderr = process.stderr.write.bind(process.stderr);

interface CountingProxy {
  readonly endpoint: string;
  current: Counted;
  close(): Promise<void>;
}

async function startCountingProxy(target: string): Promise<CountingProxy> {
  const upstream = new URL(target);
  const proxy: CountingProxy = { endpoint: '', current: newCounted(), close: async () => {} };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const service = serviceOf(req);
      const op = operationOf(service, req);
      const counted = proxy.current;
      const key = `${service}.${op}`;
      counted.ops.set(key, (counted.ops.get(key) ?? 0) + 1);
      const out = httpRequest(
        {
          host: upstream.hostname,
          port: upstream.port,
          method: req.method,
          path: req.url,
          headers: { ...req.headers, host: upstream.host },
        },
        (up) => {
          const back: Buffer[] = [];
          up.on('data', (c: Buffer) => back.push(c));
          up.on('end', () => {
            const payload = Buffer.concat(back);
            if ((up.statusCode ?? 500) >= 400 && process.env.COST_DEBUG) {
              originalStderr(`${key} ${up.statusCode}: ${payload.toString('utf8').slice(0, 300)}\n`);
            }
            if (service === 'dynamodb' && (up.statusCode ?? 500) < 300) {
              const [r, w] = dynamoUnits(
                op,
                JSON.parse(body.toString('utf8') || '{}') as Record<string, unknown>,
                JSON.parse(payload.toString('utf8') || '{}') as Record<string, unknown>,
              );
              counted.readUnits += r;
              counted.writeUnits += w;
            }
            if (service === 'ssm' && (up.statusCode ?? 500) < 300) {
              counted.decrypts += ssmDecrypts(
                JSON.parse(body.toString('utf8') || '{}') as Record<string, unknown>,
                JSON.parse(payload.toString('utf8') || '{}') as Record<string, unknown>,
              );
            }
            res.writeHead(up.statusCode ?? 502, up.headers);
            res.end(payload);
          });
        },
      );
      out.on('error', (error) => {
        res.writeHead(502).end(String(error));
      });
      out.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(proxy, {
    endpoint: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Handler output: counted (CloudWatch Logs ingestion is billed per byte) and kept off the terminal.

const captured = { bytes: 0, emfLines: 0, problems: [] as string[] };
async function quietly<T>(fn: () => Promise<T>): Promise<T> {
  const originals = { out: process.stdout.write, err: process.stderr.write };
  const capture = (chunk: unknown): boolean => {
    const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8');
    captured.bytes += Buffer.byteLength(text);
    captured.emfLines += text.split('\n').filter((l) => l.includes('"_aws"')).length;
    // Kept for the failure message: a mailbox's own poll errors do not fail the job, they back it off.
    for (const line of text.split('\n')) if (/"level":"(WARN|ERROR)"/.test(line)) captured.problems.push(line);
    return true;
  };
  process.stdout.write = capture as typeof process.stdout.write;
  process.stderr.write = capture as typeof process.stderr.write;
  try {
    return await fn();
  } finally {
    process.stdout.write = originals.out;
    process.stderr.write = originals.err;
  }
}

// ---------------------------------------------------------------------------------------------------------------

type SqsHandler = (
  event: { Records: Array<{ messageId: string; body: string }> },
  context: { getRemainingTimeInMillis(): number },
) => Promise<{ batchItemFailures: unknown[] }>;
type DispatchHandler = (event: { time: string }) => Promise<{ dispatched: number; deliveriesDue: boolean }>;
type RegistryHandler = (event: Record<string, unknown>) => Promise<Record<string, unknown>>;

const args = parseArgs();
const mailboxCount = args.quick ? 10 : 20;
/** The poll event source's batch size (infra/bridge-stack.ts POLL_BATCH_SIZE). */
const BATCH_SIZE = 10;
const messagesEach = args.n ?? 5;
const rounds = args.quick ? 3 : 5;
const POLL_INTERVAL_S = 300;

/**
 * The handlers' clock (the global Date), moved on 5 minutes per round: dispatch's due check and
 * any time-based cache (Powertools' parameter cache, maxAge 60 s, still used for jobs without a
 * version) then see what they see in production 5 minutes apart, so SSM reads are counted as they
 * happen there rather than served from a cache that would have expired.
 */
const RealDate = Date;
let clockOffsetMs = 0;
/** `Date.now()` and `new Date()` both: Powertools sets a cache entry's expiry with one and checks it with the other. */
class ShiftedDate extends RealDate {
  constructor(...args: ConstructorParameters<DateConstructor> | []) {
    if (args.length === 0) super(RealDate.now() + clockOffsetMs);
    else super(...(args as ConstructorParameters<DateConstructor>));
  }
  static override now(): number {
    return RealDate.now() + clockOffsetMs;
  }
}
globalThis.Date = ShiftedDate as DateConstructor;

/**
 * The minute each dispatch run stands for, as EventBridge's scheduled `time` gives it: one minute
 * after the last, whatever time the polls in between took (the shifted clock alone would skip a
 * minute, and its mailboxes, whenever real time crossed a minute boundary during a run).
 */
let scheduledMinute = Math.floor(RealDate.now() / 60_000) * 60_000;
const nextDispatchEvent = (): { time: string } => {
  scheduledMinute += 60_000;
  return { time: new RealDate(scheduledMinute).toISOString() };
};

function message(box: number, i: number): Buffer {
  return Buffer.from(
    `From: sender${i}@example.test\r\nTo: box${box}@example.test\r\nSubject: message ${i}\r\n` +
      `Message-ID: <cost-${box}-${i}@example.test>\r\nDate: Tue, 14 Nov 2023 22:13:20 +0000\r\n\r\n` +
      `body ${i}\r\n`,
  );
}

const [bundles, moto, dovecot] = await Promise.all([
  bundleHandlers(),
  startMoto(),
  startDovecot({ disposeDir: moveToTrash }),
]);
const proxy = await startCountingProxy(moto.endpoint);
try {
  const aws = await provisionBenchAws(moto, 'cost');
  const { clients, ssm, path, pollQueue, deliveryQueue } = aws;
  Object.assign(process.env, aws.handlerEnv({ endpoint: proxy.endpoint, logLevel: 'INFO' }));
  const load$ = async <T>(name: 'dispatch' | 'poll' | 'registry'): Promise<T> =>
    ((await import(pathToFileURL(bundles.handlers[name].path).href)) as { handler: T }).handler;
  const dispatch = await quietly(() => load$<DispatchHandler>('dispatch'));
  const poll = await quietly(() => load$<SqsHandler>('poll'));
  const registry = await quietly(() => load$<RegistryHandler>('registry'));
  const context = { getRemainingTimeInMillis: () => 300_000 };
  /** The event SSM sends EventBridge after put-parameter, handed to the registry as the stack's rule would. */
  const changeEvent = (name: string) => ({
    source: 'aws.ssm',
    'detail-type': 'Parameter Store Change',
    detail: { name: `${path}/${name}`, operation: 'Update', type: 'SecureString' },
  });
  /** Every registration's requests (first put of each mailbox: one event each). */
  const registrations: Counted[] = [];

  const secret = `whsec_${randomBytes(32).toString('base64')}`;
  for (let box = 0; box < mailboxCount; box += 1) {
    const account = await dovecot.createMailbox(Array.from({ length: messagesEach }, (_, i) => message(box, i)));
    const config = mailboxConfigFor(`box-${box}`, dovecot.facts, account, {
      mode: 'leave',
      // The modelled interval: the bench's clock moves 5 minutes per round, so each is due once per round.
      pollIntervalSeconds: POLL_INTERVAL_S,
      webhooks: [{ id: 'receiver', url: 'https://receiver.example.test/hook', secret }],
    });
    await ssm.send(
      new PutParameterCommand({
        Name: `${path}/box-${box}`,
        Type: 'SecureString',
        Value: JSON.stringify(config),
        Overwrite: true,
      }),
    );
    proxy.current = newCounted();
    const registered = await quietly(() => registry(changeEvent(`box-${box}`)));
    if (registered.outcome !== 'written')
      throw new Error(`box-${box} was not registered: ${JSON.stringify(registered)}`);
    registrations.push(proxy.current);
  }

  /** The poll jobs dispatch queued (received and deleted directly on moto: the event source's calls are modelled). */
  const takeJobs = async (queueUrl: string): Promise<Message[]> => {
    const all: Message[] = [];
    for (let round = 0; round < 50; round += 1) {
      const page = await clients.sqs.send(
        new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }),
      );
      const messages = page.Messages ?? [];
      if (messages.length === 0) return all;
      all.push(...messages);
      await clients.sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl: queueUrl,
          Entries: messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle })),
        }),
      );
    }
    throw new Error('poll queue did not drain in 50 rounds');
  };

  /** `cpuMs`: this process's CPU time during the invocation (the handler, plus the counting proxy's small share). */
  type Invocation = { ms: number; cpuMs: number; jobs: number; c: Counted; logBytes: number; emf: number };
  /** Hands `jobs` to the poll handler `batchSize` at a time, as the event source does; each invocation counted. */
  const pollInBatches = async (jobs: ReadonlyArray<Message>, batchSize: number): Promise<Invocation[]> => {
    const invocations: Invocation[] = [];
    for (let first = 0; first < jobs.length; first += batchSize) {
      const batch = jobs.slice(first, first + batchSize);
      proxy.current = newCounted();
      const before = { ...captured };
      const start = performance.now();
      const cpu = process.cpuUsage();
      const response = await quietly(() =>
        poll({ Records: batch.map((job) => ({ messageId: job.MessageId ?? '', body: job.Body ?? '' })) }, context),
      );
      const ms = performance.now() - start;
      const used = process.cpuUsage(cpu);
      const cpuMs = (used.user + used.system) / 1000;
      if (response.batchItemFailures.length > 0) throw new Error('a poll job failed');
      invocations.push({
        ms,
        cpuMs,
        jobs: batch.length,
        c: proxy.current,
        logBytes: captured.bytes - before.bytes,
        emf: captured.emfLines - before.emfLines,
      });
    }
    return invocations;
  };

  /**
   * One poll interval: dispatch once a minute (each mailbox is due in the minute holding its slot:
   * core/poll/schedule.ts). `each-minute` polls every run's jobs right away, one per invocation (the
   * warm-up: a mailbox never polled is due at every run until its first poll); `batched` gathers the
   * interval's jobs and polls them in batches of 10, as the event source does with the 2,000 jobs a
   * minute of 10,000 mailboxes (here a minute holds only a few).
   */
  const runRound = async (
    mode: 'each-minute' | 'batched',
    batchSize = BATCH_SIZE,
  ): Promise<{ dispatches: Array<{ c: Counted; ms: number; due: number }>; invocations: Invocation[] }> => {
    const dispatches: Array<{ c: Counted; ms: number; due: number }> = [];
    const invocations: Invocation[] = [];
    const gathered: Message[] = [];
    for (let minute = 0; minute < POLL_INTERVAL_S / 60; minute += 1) {
      clockOffsetMs += 60_000;
      proxy.current = newCounted();
      const t0 = performance.now();
      const result = await quietly(() => dispatch(nextDispatchEvent()));
      dispatches.push({ c: proxy.current, ms: performance.now() - t0, due: result.dispatched });
      const jobs = await takeJobs(pollQueue);
      if (jobs.length !== result.dispatched) throw new Error(`${jobs.length} poll jobs for ${result.dispatched} due`);
      if (mode === 'each-minute') invocations.push(...(await pollInBatches(jobs, 1)));
      else gathered.push(...jobs);
    }
    if (mode === 'batched') {
      const names = gathered.map((j) => JSON.parse(j.Body ?? '{}').mailbox as string);
      if (names.length !== mailboxCount || new Set(names).size !== mailboxCount) {
        throw new Error(
          `an interval dispatched ${names.length} jobs for ${new Set(names).size} of ${mailboxCount} mailboxes:\n` +
            captured.problems.join('\n'),
        );
      }
      invocations.push(...(await pollInBatches(gathered, batchSize)));
    }
    await takeJobs(deliveryQueue);
    return { dispatches, invocations };
  };

  // Two warm-up rounds: the first fetches every message, the second catches one that was not yet visible.
  // One job per invocation here: concurrent first fetches meet moto 5.2's TransactWriteItems race (header comment);
  // idle polls write nothing, so the measured rounds run in batches as deployed.
  const warmUp = [];
  for (let w = 0; w < 2; w += 1) warmUp.push(await runRound('each-minute'));
  // The poll container's config reads: each mailbox's sealed item once, and KMS once per data key.
  const warmUpPolls = warmUp.flatMap((r) => r.invocations.map((i) => i.c));

  const idle = [];
  for (let r = 0; r < rounds; r += 1) idle.push(await runRound('batched'));
  // For comparison, one interval as before batching: one job per invocation.
  const single = (await runRound('batched', 1)).invocations.filter((p) => (p.c.ops.get('s3.PUT object') ?? 0) === 0);
  const allInvocations = idle.flatMap((r) => r.invocations);
  // Idle = stored nothing. An invocation that did store (a straggler) is left out of the idle figures and said so.
  const invocations = allInvocations.filter((p) => (p.c.ops.get('s3.PUT object') ?? 0) === 0);
  if (invocations.length === 0) throw new Error('no idle invocation in the measured rounds');
  /** Idle polls measured: the jobs of the idle invocations. */
  const pollCount = invocations.reduce((n, i) => n + i.jobs, 0);
  const perIdlePoll = (total: number) => (total / pollCount).toFixed(2);
  const sumOps = (list: ReadonlyArray<Counted>) => {
    const total = new Map<string, number>();
    for (const c of list) for (const [k, v] of c.ops) total.set(k, (total.get(k) ?? 0) + v);
    return total;
  };
  // Dispatch as scheduled, once a minute for 10 minutes: how often it really goes back to SSM (and KMS).
  const MINUTE_RUNS = 10;
  const minuteRuns: Counted[] = [];
  for (let m = 0; m < MINUTE_RUNS; m += 1) {
    clockOffsetMs += 60_000;
    proxy.current = newCounted();
    await quietly(() => dispatch(nextDispatchEvent()));
    minuteRuns.push(proxy.current);
    await takeJobs(pollQueue);
    await takeJobs(deliveryQueue);
  }
  // The hourly reconcile, nothing changed: names and versions from SSM (not decrypted) against one registry Query.
  proxy.current = newCounted();
  const reconciled = await quietly(() => registry({ kind: 'reconcile' }));
  if (reconciled.written !== 0 || reconciled.deleted !== 0)
    throw new Error(`reconcile changed ${JSON.stringify(reconciled)}`);
  const reconcile = proxy.current;
  // One edit (same content, new version): the registry reads, validates and seals it; the next dispatch names the
  // new version, and that mailbox's poll reads the sealed item once.
  const edited = await ssm.send(new GetParameterCommand({ Name: `${path}/box-0`, WithDecryption: true }));
  await ssm.send(
    new PutParameterCommand({
      Name: `${path}/box-0`,
      Type: 'SecureString',
      Value: edited.Parameter?.Value ?? '',
      Overwrite: true,
    }),
  );
  proxy.current = newCounted();
  await quietly(() => registry(changeEvent('box-0')));
  const editRegistry = proxy.current;
  // The next interval: every mailbox is due once in its five dispatch runs (the minute runs' jobs were dropped unpolled).
  const edit = await runRound('batched');
  const sumAll = (c: Counted, prefix: string) =>
    [...c.ops].filter(([k]) => k.startsWith(prefix)).reduce((n, [, v]) => n + v, 0);
  const perPoll = sumOps(invocations.map((p) => p.c));
  const runs = idle.flatMap((r) => r.dispatches);
  const perDispatch = sumOps(runs.map((r) => r.c));
  const dispatchLabel = `dispatch run (${(runs.reduce((n, r) => n + r.due, 0) / runs.length).toFixed(1)} due)`;

  console.log(
    `\nCost model inputs: ${mailboxCount} mailboxes × ${messagesEach} messages, ${rounds} rounds: ` +
      `${pollCount} idle polls in ${invocations.length} poll invocations of up to ${BATCH_SIZE} jobs ` +
      `(${allInvocations.length - invocations.length} invocations that stored mail left out)`,
  );
  console.log(`${machineLine()}, load average ${load()}`);
  const rows: string[][] = [];
  for (const [op, n] of [...perPoll].sort()) rows.push(['idle poll', op, perIdlePoll(n)]);
  rows.push([
    'idle poll',
    'dynamodb read units (est.)',
    perIdlePoll(invocations.reduce((n, p) => n + p.c.readUnits, 0)),
  ]);
  rows.push([
    'idle poll',
    'dynamodb write units (est.)',
    perIdlePoll(invocations.reduce((n, p) => n + p.c.writeUnits, 0)),
  ]);
  rows.push(['idle poll', 'log bytes', perIdlePoll(invocations.reduce((n, p) => n + p.logBytes, 0))]);
  rows.push(['idle poll', 'EMF metric lines', perIdlePoll(invocations.reduce((n, p) => n + p.emf, 0))]);
  const full = invocations.filter((i) => i.jobs === BATCH_SIZE);
  const fullMs = full.map((p) => p.ms);
  rows.push([`poll invocation (${BATCH_SIZE} idle jobs)`, 'invocations measured', String(full.length)]);
  if (full.length > 0) {
    rows.push([`poll invocation (${BATCH_SIZE} idle jobs)`, 'duration median (ms)', median(fullMs).toFixed(1)]);
    rows.push([`poll invocation (${BATCH_SIZE} idle jobs)`, 'duration max (ms)', Math.max(...fullMs).toFixed(1)]);
    rows.push([
      `poll invocation (${BATCH_SIZE} idle jobs)`,
      'CPU time median (ms)',
      median(full.map((p) => p.cpuMs)).toFixed(1),
    ]);
    rows.push([
      `poll invocation (${BATCH_SIZE} idle jobs)`,
      'log bytes',
      (full.reduce((n, p) => n + p.logBytes, 0) / full.length).toFixed(0),
    ]);
  }
  const pollMs = fullMs.length > 0 ? fullMs : invocations.map((p) => p.ms);
  if (single.length > 0) {
    const singleMs = single.map((p) => p.ms);
    rows.push(['poll invocation (1 idle job)', 'invocations measured', String(single.length)]);
    rows.push(['poll invocation (1 idle job)', 'duration median (ms)', median(singleMs).toFixed(1)]);
    rows.push(['poll invocation (1 idle job)', 'duration max (ms)', Math.max(...singleMs).toFixed(1)]);
    rows.push(['poll invocation (1 idle job)', 'CPU time median (ms)', median(single.map((p) => p.cpuMs)).toFixed(1)]);
  }
  for (const [op, n] of [...perDispatch].sort()) rows.push([dispatchLabel, op, (n / runs.length).toFixed(2)]);
  rows.push([
    dispatchLabel,
    'dynamodb read units (est.)',
    (runs.reduce((n, r) => n + r.c.readUnits, 0) / runs.length).toFixed(2),
  ]);
  rows.push([dispatchLabel, 'duration median (ms)', median(runs.map((r) => r.ms)).toFixed(1)]);
  const perMinuteRun = (prefix: string) =>
    (minuteRuns.reduce((n, c) => n + sumAll(c, prefix), 0) / MINUTE_RUNS).toFixed(2);
  const minuteLabel = `dispatch, every minute × ${MINUTE_RUNS}`;
  rows.push([minuteLabel, 'ssm requests', perMinuteRun('ssm.')]);
  rows.push([minuteLabel, 'kms requests', perMinuteRun('kms.')]);
  rows.push([minuteLabel, 'dynamodb.Query', perMinuteRun('dynamodb.Query')]);
  rows.push([
    'idle poll',
    'decrypted values (kms:Decrypt)',
    perIdlePoll(invocations.reduce((n, p) => n + p.c.decrypts + sumAll(p.c, 'kms.'), 0)),
  ]);
  /** A counted request list as `op × n, …` (`-` when none). */
  const opsOf = (list: ReadonlyArray<Counted>, prefixes: readonly string[]) => {
    const total = sumOps(list);
    const shown = [...total].filter(([k]) => prefixes.some((p) => k.startsWith(p))).sort();
    return shown.length === 0 ? '-' : shown.map(([k, v]) => `${k} × ${v}`).join(', ');
  };
  const CONFIG_OPS = ['ssm.', 'kms.', 'dynamodb.'];
  rows.push([
    `registration of ${registrations.length} new mailboxes (change events)`,
    'requests, all registrations',
    opsOf(registrations, CONFIG_OPS),
  ]);
  rows.push([
    'warm-up polls (first poll of each mailbox in the container)',
    'ssm and kms requests, all polls',
    opsOf(warmUpPolls, ['ssm.', 'kms.']),
  ]);
  rows.push(['reconcile, nothing changed', 'requests', opsOf([reconcile], CONFIG_OPS)]);
  rows.push(['one edit: registry (change event)', 'requests', opsOf([editRegistry], CONFIG_OPS)]);
  rows.push(['one edit: registry (change event)', 'decrypted values (SSM)', String(editRegistry.decrypts)]);
  const nextDispatch = edit.dispatches[0]?.c ?? newCounted();
  rows.push(['one edit: next dispatch', 'ssm and kms requests', opsOf([nextDispatch], ['ssm.', 'kms.'])]);
  rows.push([
    "one edit: the round's polls",
    'ssm and kms requests (all polls)',
    opsOf(
      edit.invocations.map((p) => p.c),
      ['ssm.', 'kms.'],
    ),
  ]);
  rows.push([
    "one edit: the round's polls",
    "dynamodb.GetItem (all polls: the edited mailbox's sealed config)",
    String(edit.invocations.reduce((n, p) => n + (p.c.ops.get('dynamodb.GetItem') ?? 0), 0)),
  ]);
  const headers = ['what', 'request / figure', 'per invocation'];
  console.log(table(headers, rows));

  const summary: SummaryRow[] = [
    {
      bench: 'cost-model',
      figure: `poll invocation of ${BATCH_SIZE} idle jobs (warm, loopback Dovecot, median)`,
      value: `${median(pollMs).toFixed(0)} ms`,
      target: 'input to docs/cost-model.md',
      met: true,
    },
    {
      bench: 'cost-model',
      figure: 'AWS requests per idle poll',
      value: perIdlePoll([...perPoll.values()].reduce((a, b) => a + b, 0)),
      target: 'input to docs/cost-model.md',
      met: true,
    },
  ];
  await writeSummary(args, summary, markdownTable(headers, rows));
} finally {
  await proxy.close();
  await Promise.allSettled([moto.stop(), dovecot.stop(), bundles.cleanup()]);
}
