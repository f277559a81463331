/**
 * The measurements behind docs/cost-model.md: what one idle poll and one
 * dispatch cost in AWS requests, Lambda time and log bytes.
 *
 * The bundled dispatch and poll handlers (the artifacts a deploy ships, built
 * with the CDK construct's esbuild options) run in this process against moto,
 * the mailboxes are real accounts on a private Dovecot over implicit TLS.
 * Every AWS request goes through a counting loopback proxy in front of moto,
 * so the counts are what the handlers really send (SDK retries included), not
 * what the code seems to send. DynamoDB capacity units are estimated from the
 * item sizes on the wire (rounded up per 4 KB read / 1 KB written, as billed).
 *
 * Steps: M mailboxes (leave mode, K messages each) are put in SSM; one
 * dispatch + poll round fetches everything (warm-up, not counted); then R
 * idle rounds: dispatch (all M due) and one poll invocation per job, each
 * counted and timed on its own (warm container: module init is measured by
 * handlers-cold-init.ts). Then dispatch runs once a minute for 10 minutes, to
 * count what it asks SSM for when nothing changed. Last, one parameter is
 * edited (a new version) and one more dispatch + poll round counts what an
 * edit costs: the decrypts that follow it.
 *
 *   npx tsx bench/cost-model.ts [--quick] [--summary FILE]
 *     --quick: 5 mailboxes, 3 rounds (default 12 mailboxes: two SSM pages; 5 rounds); --n: messages each (5)
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
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import {
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  type Message,
  ReceiveMessageCommand,
} from '@aws-sdk/client-sqs';
import { GetParameterCommand, PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { createAwsClients } from '../functions/aws/clients.js';
import { createTable } from '../functions/aws/table-schema.js';
import { bundleHandlers } from '../test/support/bundle-handlers.js';
import { startDovecot } from '../test/support/dovecot.js';
import { startMoto, uniqueName } from '../test/support/moto.js';
import {
  load,
  machineLine,
  markdownTable,
  median,
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
type DispatchHandler = () => Promise<{ dispatched: number; deliveriesDue: boolean }>;

const args = parseArgs();
const mailboxCount = args.quick ? 5 : 12;
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

function message(box: number, i: number): Buffer {
  return Buffer.from(
    `From: sender${i}@example.test\r\nTo: box${box}@example.test\r\nSubject: message ${i}\r\n` +
      `Message-ID: <cost-${box}-${i}@example.test>\r\nDate: Tue, 14 Nov 2023 22:13:20 +0000\r\n\r\n` +
      `body ${i}\r\n`,
  );
}

const [bundles, moto, dovecot] = await Promise.all([bundleHandlers(), startMoto(), startDovecot()]);
const proxy = await startCountingProxy(moto.endpoint);
try {
  const clients = createAwsClients({
    region: moto.region,
    endpoint: moto.endpoint,
    forcePathStyle: true,
    credentials: moto.credentials,
  });
  const ssm = new SSMClient({ region: moto.region, endpoint: moto.endpoint, credentials: moto.credentials });
  const names = { table: uniqueName('cost'), bucket: uniqueName('cost') };
  const path = `/cost-${randomBytes(3).toString('hex')}/mailboxes`;
  await clients.s3.send(new CreateBucketCommand({ Bucket: names.bucket }));
  await createTable(clients.dynamo, names.table);
  const pollQueue = (await clients.sqs.send(new CreateQueueCommand({ QueueName: uniqueName('poll') }))).QueueUrl ?? '';
  const deliveryQueue =
    (await clients.sqs.send(new CreateQueueCommand({ QueueName: uniqueName('delivery') }))).QueueUrl ?? '';

  const secret = `whsec_${randomBytes(32).toString('base64')}`;
  for (let box = 0; box < mailboxCount; box += 1) {
    const account = await dovecot.createMailbox(Array.from({ length: messagesEach }, (_, i) => message(box, i)));
    const config = {
      name: `box-${box}`,
      host: dovecot.facts.host,
      port: dovecot.facts.tlsPort,
      tls: 'implicit',
      ca: dovecot.facts.caPem,
      servername: dovecot.facts.servername,
      username: account.user,
      password: account.password,
      mode: 'leave',
      // The modelled interval: the bench's clock moves 5 minutes per round, so each is due once per round.
      pollIntervalSeconds: POLL_INTERVAL_S,
      webhooks: [{ id: 'receiver', url: 'https://receiver.example.test/hook', secret }],
    };
    await ssm.send(
      new PutParameterCommand({
        Name: `${path}/box-${box}`,
        Type: 'SecureString',
        Value: JSON.stringify(config),
        Overwrite: true,
      }),
    );
  }

  Object.assign(process.env, {
    AWS_REGION: moto.region,
    AWS_ACCESS_KEY_ID: moto.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: moto.credentials.secretAccessKey,
    AWS_ENDPOINT_URL: proxy.endpoint,
    POP3_BRIDGE_S3_FORCE_PATH_STYLE: '1',
    TABLE_NAME: names.table,
    BUCKET_NAME: names.bucket,
    POLL_QUEUE_URL: pollQueue,
    DELIVERY_QUEUE_URL: deliveryQueue,
    MAILBOX_PARAMETER_PATH: path,
    POWERTOOLS_SERVICE_NAME: 'pop3-bridge',
    POWERTOOLS_LOG_LEVEL: 'INFO',
    POWERTOOLS_METRICS_NAMESPACE: 'Pop3Bridge',
  });
  const load$ = async <T>(name: 'dispatch' | 'poll'): Promise<T> =>
    ((await import(pathToFileURL(bundles.handlers[name].path).href)) as { handler: T }).handler;
  const dispatch = await quietly(() => load$<DispatchHandler>('dispatch'));
  const poll = await quietly(() => load$<SqsHandler>('poll'));
  const context = { getRemainingTimeInMillis: () => 300_000 };

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

  const runRound = async (): Promise<{
    dispatch: Counted;
    dispatchMs: number;
    polls: Array<{ ms: number; c: Counted; logBytes: number; emf: number }>;
  }> => {
    clockOffsetMs += POLL_INTERVAL_S * 1000;
    proxy.current = newCounted();
    const t0 = performance.now();
    const result = await quietly(() => dispatch());
    const dispatchMs = performance.now() - t0;
    const dispatchCounted = proxy.current;
    if (result.dispatched !== mailboxCount)
      throw new Error(`dispatch queued ${result.dispatched} of ${mailboxCount}:\n${captured.problems.join('\n')}`);
    const jobs = await takeJobs(pollQueue);
    if (jobs.length !== mailboxCount) throw new Error(`${jobs.length} poll jobs for ${mailboxCount} mailboxes`);
    const polls = [];
    for (const job of jobs) {
      proxy.current = newCounted();
      const before = { ...captured };
      const start = performance.now();
      const response = await quietly(() =>
        poll({ Records: [{ messageId: job.MessageId ?? '', body: job.Body ?? '' }] }, context),
      );
      const ms = performance.now() - start;
      if (response.batchItemFailures.length > 0) throw new Error('a poll job failed');
      polls.push({
        ms,
        c: proxy.current,
        logBytes: captured.bytes - before.bytes,
        emf: captured.emfLines - before.emfLines,
      });
    }
    await takeJobs(deliveryQueue);
    return { dispatch: dispatchCounted, dispatchMs, polls };
  };

  // Two warm-up rounds: the first fetches every message, the second catches one that was not yet visible.
  for (let w = 0; w < 2; w += 1) await runRound();

  const idle = [];
  for (let r = 0; r < rounds; r += 1) idle.push(await runRound());
  const allPolls = idle.flatMap((r) => r.polls);
  // Idle = stored nothing. A poll that did store (a straggler) is left out of the idle figures and said so.
  const polls = allPolls.filter((p) => (p.c.ops.get('s3.PUT object') ?? 0) === 0);
  if (polls.length === 0) throw new Error('no idle poll in the measured rounds');
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
    await quietly(() => dispatch());
    minuteRuns.push(proxy.current);
    await takeJobs(pollQueue);
    await takeJobs(deliveryQueue);
  }
  // One edit (same content, new version): the next dispatch decrypts that parameter, and its poll reads it once.
  const edited = await ssm.send(new GetParameterCommand({ Name: `${path}/box-0`, WithDecryption: true }));
  await ssm.send(
    new PutParameterCommand({
      Name: `${path}/box-0`,
      Type: 'SecureString',
      Value: edited.Parameter?.Value ?? '',
      Overwrite: true,
    }),
  );
  // runRound moves the clock another interval on: every mailbox is due (the minute runs' jobs were dropped unpolled).
  const edit = await runRound();
  const sumAll = (c: Counted, prefix: string) =>
    [...c.ops].filter(([k]) => k.startsWith(prefix)).reduce((n, [, v]) => n + v, 0);
  const perPoll = sumOps(polls.map((p) => p.c));
  const perDispatch = sumOps(idle.map((r) => r.dispatch));

  console.log(
    `\nCost model inputs: ${mailboxCount} mailboxes × ${messagesEach} messages, ${rounds} rounds: ` +
      `${polls.length} idle polls (${allPolls.length - polls.length} that stored mail left out)`,
  );
  console.log(`${machineLine()}, load average ${load()}`);
  const rows: string[][] = [];
  for (const [op, n] of [...perPoll].sort()) rows.push(['idle poll', op, (n / polls.length).toFixed(2)]);
  rows.push([
    'idle poll',
    'dynamodb read units (est.)',
    (polls.reduce((n, p) => n + p.c.readUnits, 0) / polls.length).toFixed(2),
  ]);
  rows.push([
    'idle poll',
    'dynamodb write units (est.)',
    (polls.reduce((n, p) => n + p.c.writeUnits, 0) / polls.length).toFixed(2),
  ]);
  rows.push(['idle poll', 'log bytes', (polls.reduce((n, p) => n + p.logBytes, 0) / polls.length).toFixed(0)]);
  rows.push(['idle poll', 'EMF metric lines', (polls.reduce((n, p) => n + p.emf, 0) / polls.length).toFixed(2)]);
  const pollMs = polls.map((p) => p.ms);
  rows.push(['idle poll', 'duration median (ms)', median(pollMs).toFixed(1)]);
  rows.push(['idle poll', 'duration max (ms)', Math.max(...pollMs).toFixed(1)]);
  for (const [op, n] of [...perDispatch].sort())
    rows.push([`dispatch (${mailboxCount} due)`, op, (n / rounds).toFixed(2)]);
  rows.push([
    `dispatch (${mailboxCount} due)`,
    'dynamodb read units (est.)',
    (idle.reduce((n, r) => n + r.dispatch.readUnits, 0) / rounds).toFixed(2),
  ]);
  rows.push([
    `dispatch (${mailboxCount} due)`,
    'duration median (ms)',
    median(idle.map((r) => r.dispatchMs)).toFixed(1),
  ]);
  const perMinuteRun = (key: string) =>
    (minuteRuns.reduce((n, c) => n + (c.ops.get(key) ?? 0), 0) / MINUTE_RUNS).toFixed(2);
  rows.push([
    `dispatch, every minute × ${MINUTE_RUNS}`,
    'ssm.GetParametersByPath',
    perMinuteRun('ssm.GetParametersByPath'),
  ]);
  rows.push([`dispatch, every minute × ${MINUTE_RUNS}`, 'ssm.GetParameters', perMinuteRun('ssm.GetParameters')]);
  rows.push([
    `dispatch, every minute × ${MINUTE_RUNS}`,
    'decrypted values (kms:Decrypt)',
    (minuteRuns.reduce((n, c) => n + c.decrypts, 0) / MINUTE_RUNS).toFixed(2),
  ]);
  rows.push([
    'idle poll',
    'decrypted values (kms:Decrypt)',
    (polls.reduce((n, p) => n + p.c.decrypts, 0) / polls.length).toFixed(2),
  ]);
  rows.push([
    `dispatch (${mailboxCount} due)`,
    'decrypted values (kms:Decrypt)',
    (idle.reduce((n, r) => n + r.dispatch.decrypts, 0) / rounds).toFixed(2),
  ]);
  rows.push(['one edit: next dispatch', 'ssm requests', String(sumAll(edit.dispatch, 'ssm.'))]);
  rows.push(['one edit: next dispatch', 'decrypted values (kms:Decrypt)', String(edit.dispatch.decrypts)]);
  rows.push([
    "one edit: the round's polls",
    'ssm requests (all polls)',
    String(edit.polls.reduce((n, p) => n + sumAll(p.c, 'ssm.'), 0)),
  ]);
  rows.push([
    "one edit: the round's polls",
    'decrypted values (all polls)',
    String(edit.polls.reduce((n, p) => n + p.c.decrypts, 0)),
  ]);
  const headers = ['what', 'request / figure', 'per invocation'];
  console.log(table(headers, rows));

  const summary: SummaryRow[] = [
    {
      bench: 'cost-model',
      figure: 'idle poll duration (warm, loopback Dovecot, median)',
      value: `${median(pollMs).toFixed(0)} ms`,
      target: 'input to docs/cost-model.md',
      met: true,
    },
    {
      bench: 'cost-model',
      figure: 'AWS requests per idle poll',
      value: ([...perPoll.values()].reduce((a, b) => a + b, 0) / polls.length).toFixed(1),
      target: 'input to docs/cost-model.md',
      met: true,
    },
  ];
  await writeSummary(args, summary, markdownTable(headers, rows));
} finally {
  await proxy.close();
  await Promise.allSettled([moto.stop(), dovecot.stop(), bundles.cleanup()]);
}
