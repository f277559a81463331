/**
 * AWS mode end to end, on the artifacts a deploy ships: the three handlers are
 * bundled with the CDK construct's esbuild options (test/support/bundle-handlers.ts)
 * and the bundles themselves are imported with Node's own loader and invoked
 * in-process with the events Lambda would pass (a scheduled call, SQS
 * records). Every AWS API is moto; the mailbox is on the test Dovecot over
 * implicit TLS; the webhook receiver is on loopback and verifies every
 * signature with the official `standardwebhooks` package.
 *
 * A message travels Dovecot → S3 (raw/) → DynamoDB (record + delivery job) →
 * SQS wake-up → webhook; in delete mode it is gone from Dovecot, and a second
 * dispatch + poll fetches and delivers nothing.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { type AddressInfo, createServer as createTcpServer, type Socket, connect as tcpConnect } from 'node:net';
import { pathToFileURL } from 'node:url';
import vm from 'node:vm';
import { CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import {
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  type Message,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { DeleteParameterCommand, PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type AwsClients, createAwsClients } from '../../functions/aws/clients.js';
import { DynamoStateStore } from '../../functions/aws/dynamo-state-store.js';
import { listRegistry } from '../../functions/aws/mailbox-registry.js';
import { createTable } from '../../functions/aws/table-schema.js';
import type { HandlerBundles, HandlerName } from '../support/bundle-handlers.js';
import { bundleHandlers } from '../support/bundle-handlers.js';
import { dovecotFromInjected, mailboxConfigFor } from '../support/dovecot.js';
import { DYNAMODB_FAULTS, startFaultProxy } from '../support/fault-proxy.js';
import { type Moto, startMoto, uniqueName } from '../support/moto.js';

// ---------------------------------------------------------------------------------------------------------------
// What the handlers look like from outside (the bundles are plain JS: these are the shapes Lambda relies on).

interface SqsRecord {
  readonly messageId: string;
  readonly body: string;
}
interface SqsEvent {
  readonly Records: ReadonlyArray<SqsRecord>;
}
interface BatchResponse {
  readonly batchItemFailures: ReadonlyArray<{ itemIdentifier: string }>;
}
interface LambdaContext {
  getRemainingTimeInMillis(): number;
}
type DispatchHandler = () => Promise<{ dispatched: number; deliveriesDue: boolean }>;
type RegistryHandler = (event: Record<string, unknown>) => Promise<Record<string, unknown>>;
type SqsHandler = (event: SqsEvent, context: LambdaContext) => Promise<BatchResponse>;

interface Handlers {
  readonly dispatch: DispatchHandler;
  readonly poll: SqsHandler;
  readonly deliver: SqsHandler;
  readonly registry: RegistryHandler;
}

/**
 * Node's own `import()`, not the test runner's: vitest would otherwise transform
 * the bundle and run it in its module runner. Compiled in the main context with
 * Node's default loader, so the bundle is loaded exactly as the Lambda runtime
 * loads `index.mjs` (a real `import.meta.url` for the createRequire banner).
 */
const nativeImport = vm.runInThisContext('(specifier) => import(specifier)', {
  importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
}) as (specifier: string) => Promise<unknown>;

let generation = 0;
/** Imports a bundle as a fresh module instance (its module scope reads process.env and builds its clients now). */
async function importHandler<T>(bundles: HandlerBundles, name: HandlerName): Promise<T> {
  generation += 1;
  const url = `${pathToFileURL(bundles.handlers[name].path).href}?instance=${generation}`;
  const mod = (await nativeImport(url)) as { handler?: unknown };
  if (typeof mod.handler !== 'function') throw new Error(`${name} bundle exports no handler function`);
  return mod.handler as T;
}

const CONTEXT: LambdaContext = { getRemainingTimeInMillis: () => 60_000 };

// ---------------------------------------------------------------------------------------------------------------
// Output capture: Powertools writes JSON log lines and EMF metrics straight to stdout/stderr.

interface LogLine {
  readonly level?: string;
  readonly message?: string;
  readonly [key: string]: unknown;
}

const output: string[] = [];
let restoreOutput: (() => void) | undefined;
const originalStderrWrite = process.stderr.write.bind(process.stderr);

function captureOutput(): void {
  const originals = { out: process.stdout.write, err: process.stderr.write };
  const capture = (chunk: unknown): boolean => {
    output.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8'));
    return true;
  };
  process.stdout.write = capture as typeof process.stdout.write;
  process.stderr.write = capture as typeof process.stderr.write;
  restoreOutput = () => {
    process.stdout.write = originals.out;
    process.stderr.write = originals.err;
  };
}

/** Every JSON object line written since `from` (an index into `output`). */
function jsonLines(from = 0): LogLine[] {
  const lines: LogLine[] = [];
  for (const chunk of output.slice(from)) {
    for (const line of chunk.split('\n')) {
      if (!line.startsWith('{')) continue;
      try {
        lines.push(JSON.parse(line) as LogLine);
      } catch {
        // not a JSON line
      }
    }
  }
  return lines;
}

/** The values of one EMF metric published since `from`. */
function metricValues(name: string, from: number): number[] {
  return jsonLines(from)
    .filter((l) => typeof l._aws === 'object' && name in l)
    .map((l) => Number(l[name]));
}

// ---------------------------------------------------------------------------------------------------------------
// The webhook receiver.

interface Received {
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
  readonly event: EventPayload;
}
interface EventPayload {
  readonly type: string;
  readonly data: {
    readonly mailbox: string;
    readonly uid: string;
    readonly messageId: string | null;
    readonly subject: string | null;
    readonly raw: { readonly size: number; readonly sha256: string; readonly url: string };
  };
}

interface Receiver {
  readonly url: string;
  readonly received: Received[];
  /** Requests whose signature did not verify (answered 401). */
  readonly rejected: string[];
  close(): Promise<void>;
}

async function startReceiver(secret: string): Promise<Receiver> {
  const webhook = new Webhook(secret);
  const received: Received[] = [];
  const rejected: string[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      let event: EventPayload;
      try {
        event = webhook.verify(body, req.headers as Record<string, string>) as EventPayload;
      } catch (error) {
        rejected.push(String(error));
        res.writeHead(401).end();
        return;
      }
      received.push({ headers: req.headers, body, event });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hooks/support`,
    received,
    rejected,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// A loopback proxy in front of moto that counts the SSM, KMS and DynamoDB operations a handler sends (X-Amz-Target),
// so a test sees what the bundle really asks SSM, KMS and the state table for, not what its code seems to ask.

interface SsmCounter {
  readonly endpoint: string;
  /** `GetParameter` → count, since the last reset. */
  readonly ssm: Map<string, number>;
  /** `Decrypt`, `GenerateDataKey` → count, since the last reset. */
  readonly kms: Map<string, number>;
  /** `Query`, `PutItem`, … → count, since the last reset. */
  readonly dynamodb: Map<string, number>;
  /** GetItem requests for a sealed config (`CFG#<name>` key), since the last reset of `dynamodb`. */
  sealedReads(): number;
  close(): Promise<void>;
}

const SEALED_READS = 'GetItem of a sealed config';

async function startSsmCounter(target: string): Promise<SsmCounter> {
  const ssm = new Map<string, number>();
  const kms = new Map<string, number>();
  const dynamodb = new Map<string, number>();
  const proxy = await startFaultProxy({
    target,
    onExchange: ({ service, operation, body }) => {
      const counts = service === 'ssm' ? ssm : service === 'kms' ? kms : service === 'dynamodb' ? dynamodb : undefined;
      if (counts !== undefined && operation !== undefined) counts.set(operation, (counts.get(operation) ?? 0) + 1);
      if (service === 'dynamodb' && operation === 'GetItem' && body.includes('"CFG#')) {
        dynamodb.set(SEALED_READS, (dynamodb.get(SEALED_READS) ?? 0) + 1);
      }
    },
  });
  return {
    endpoint: proxy.endpoint,
    ssm,
    kms,
    dynamodb,
    sealedReads: () => dynamodb.get(SEALED_READS) ?? 0,
    close: () => proxy.close(),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// The world: moto, Dovecot, receiver, bundles, and the handler environment.

const dovecot = dovecotFromInjected();
const MAILBOX = 'support';
const PREFIX = `e2e-${randomBytes(4).toString('hex')}`;
const PARAMETER_PATH = `/${PREFIX}/mailboxes`;
/** Secrets of the broken parameters: they must never reach a log line. */
const BROKEN_JSON_SECRET = 'hunter2-broken-json-secret';
const BAD_PORT_SECRET = 'swordfish-bad-port-secret';

/** CRLF line endings and a final CRLF, so RETR returns exactly these bytes (see dovecot.ts). */
const MESSAGES: Buffer[] = [
  Buffer.from(
    'From: Alice <alice@example.test>\r\nTo: support@example.test\r\nSubject: first\r\n' +
      'Message-ID: <e2e-1@example.test>\r\nDate: Tue, 14 Nov 2023 22:13:20 +0000\r\n\r\nhello from alice\r\n',
  ),
  Buffer.from(
    'From: Bob <bob@example.test>\r\nTo: support@example.test\r\nSubject: dots\r\n' +
      'Message-ID: <e2e-2@example.test>\r\nDate: Tue, 14 Nov 2023 22:13:21 +0000\r\n\r\n' +
      '.leading dot\r\n..two dots\r\n.\r\nafter a lone dot\r\n',
  ),
  Buffer.concat([
    Buffer.from(
      'From: Carol <carol@example.test>\r\nTo: support@example.test\r\nSubject: binary body\r\n' +
        'Message-ID: <e2e-3@example.test>\r\nDate: Tue, 14 Nov 2023 22:13:22 +0000\r\n' +
        'MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n',
    ),
    Buffer.from('Grüße aus Köln — ünïcödé\r\n', 'utf8'),
    Buffer.from(`${'x'.repeat(998)}\r\n`.repeat(200)),
  ]),
];

const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

let moto: Moto;
let clients: AwsClients;
let ssm: SSMClient;
let receiver: Receiver;
let bundles: HandlerBundles;
let handlers: Handlers;
let state: DynamoStateStore;
let account: { user: string; password: string };
let webhookSecret: string;
let configKeyArn: string;
const names = { table: uniqueName('e2e'), bucket: uniqueName('e2e') };
const queues = { poll: '', delivery: '' };
const savedEnv = { ...process.env };

function mailboxConfig(receiverUrl: string, secret: string): Record<string, unknown> {
  return mailboxConfigFor(MAILBOX, dovecot.facts, account, {
    mode: 'delete',
    // The schema's minimum; with dispatch's 30 s slack the mailbox is due on every dispatch.
    pollIntervalSeconds: 30,
    webhooks: [{ id: 'receiver', url: receiverUrl, secret, allowHttp: true }],
  });
}

/**
 * The event SSM sends to EventBridge for a change to parameter `name` (moto emits none, so the tests hand it to
 * the registry handler as the stack's rule would). Only `source`, `detail-type` and `detail.name` are read.
 */
function parameterChangeEvent(name: string, operation: 'Create' | 'Update' | 'Delete'): Record<string, unknown> {
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': 'Parameter Store Change',
    source: 'aws.ssm',
    account: '123456789012',
    time: new Date().toISOString(),
    region: moto.region,
    resources: [`arn:aws:ssm:${moto.region}:123456789012:parameter${PARAMETER_PATH}/${name}`],
    detail: { operation, name: `${PARAMETER_PATH}/${name}`, type: 'SecureString', description: '' },
  };
}

/** put-parameter, then the change event reaches the registry (as the EventBridge rule delivers it). */
async function putMailbox(name: string, value: string): Promise<void> {
  await ssm.send(
    new PutParameterCommand({ Name: `${PARAMETER_PATH}/${name}`, Type: 'SecureString', Value: value, Overwrite: true }),
  );
  expect(await handlers.registry(parameterChangeEvent(name, 'Update'))).toMatchObject({
    kind: 'refresh',
    mailbox: name,
  });
}

/** delete-parameter, then its change event reaches the registry. */
async function deleteMailbox(name: string): Promise<void> {
  await ssm.send(new DeleteParameterCommand({ Name: `${PARAMETER_PATH}/${name}` }));
  expect(await handlers.registry(parameterChangeEvent(name, 'Delete'))).toMatchObject({ outcome: 'deleted' });
}

/** Receives (and deletes, as the Lambda event source would) every message on a queue, until it is empty. */
async function drain(sqs: SQSClient, queueUrl: string): Promise<Message[]> {
  const all: Message[] = [];
  for (let round = 0; round < 20; round += 1) {
    const page = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }),
    );
    const messages = page.Messages ?? [];
    if (messages.length === 0) return all;
    all.push(...messages);
    await sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle })),
      }),
    );
  }
  throw new Error(`queue ${queueUrl} did not drain in 20 rounds`);
}

function sqsEvent(messages: ReadonlyArray<Message>): SqsEvent {
  return { Records: messages.map((m) => ({ messageId: m.MessageId ?? '', body: m.Body ?? '' })) };
}

async function rawKeys(): Promise<string[]> {
  const page = await clients.s3.send(new ListObjectsV2Command({ Bucket: names.bucket, Prefix: 'raw/' }));
  return (page.Contents ?? []).map((o) => o.Key ?? '').sort();
}

beforeAll(async () => {
  // Bundling (esbuild, ~2 s) and moto's start (~1 s) overlap.
  const [bundled, started] = await Promise.all([bundleHandlers(), startMoto()]);
  bundles = bundled;
  moto = started;
  clients = createAwsClients({
    region: moto.region,
    endpoint: moto.endpoint,
    forcePathStyle: true,
    credentials: moto.credentials,
  });
  ssm = new SSMClient({ region: moto.region, endpoint: moto.endpoint, credentials: moto.credentials });

  await clients.s3.send(new CreateBucketCommand({ Bucket: names.bucket }));
  await createTable(clients.dynamo, names.table);
  queues.poll =
    (await clients.sqs.send(new CreateQueueCommand({ QueueName: uniqueName('poll') }))).QueueUrl ?? 'missing';
  queues.delivery =
    (await clients.sqs.send(new CreateQueueCommand({ QueueName: uniqueName('delivery') }))).QueueUrl ?? 'missing';
  state = new DynamoStateStore(clients, { table: names.table, bucket: names.bucket });
  // The stack's mailbox key: the registry seals configs under data keys of it, poll and deliver open them.
  const kms = new KMSClient({ region: moto.region, endpoint: moto.endpoint, credentials: moto.credentials });
  configKeyArn = (await kms.send(new CreateKeyCommand({ Description: 'mailbox configs' }))).KeyMetadata?.Arn ?? '';
  kms.destroy();

  const secret = `whsec_${randomBytes(32).toString('base64')}`;
  webhookSecret = secret;
  receiver = await startReceiver(secret);
  // The environment the stack gives the functions (docs/aws.md), pointed at moto.
  Object.assign(process.env, {
    AWS_REGION: moto.region,
    AWS_ENDPOINT_URL: moto.endpoint,
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    AWS_SESSION_TOKEN: 'test',
    POP3_BRIDGE_S3_FORCE_PATH_STYLE: '1',
    TABLE_NAME: names.table,
    BUCKET_NAME: names.bucket,
    POLL_QUEUE_URL: queues.poll,
    DELIVERY_QUEUE_URL: queues.delivery,
    MAILBOX_PARAMETER_PATH: PARAMETER_PATH,
    CONFIG_KEY_ARN: configKeyArn,
    WEBHOOK_ALLOW_LIST: '127.0.0.1',
    MAX_EVENT_BODY_BYTES: '262144',
    POWERTOOLS_SERVICE_NAME: 'pop3-bridge',
    POWERTOOLS_LOG_LEVEL: 'INFO',
    POWERTOOLS_METRICS_NAMESPACE: 'Pop3Bridge',
  });
  delete process.env.AWS_PROFILE;

  captureOutput();
  handlers = {
    dispatch: await importHandler<DispatchHandler>(bundles, 'dispatch'),
    poll: await importHandler<SqsHandler>(bundles, 'poll'),
    deliver: await importHandler<SqsHandler>(bundles, 'deliver'),
    registry: await importHandler<RegistryHandler>(bundles, 'registry'),
  };
  account = await dovecot.createMailbox(MESSAGES);
  await putMailbox(MAILBOX, JSON.stringify(mailboxConfig(receiver.url, secret)));
  // Two broken parameters beside it: not JSON at all, and a valid document with an impossible port.
  await putMailbox('broken', `{"name": "broken", "password": "${BROKEN_JSON_SECRET}",`);
  await putMailbox(
    'badport',
    JSON.stringify({
      ...mailboxConfig(receiver.url, secret),
      name: 'badport',
      port: 70_000,
      password: BAD_PORT_SECRET,
    }),
  );
});

afterAll(async () => {
  restoreOutput?.();
  for (const key of Object.keys(process.env)) if (!(key in savedEnv)) delete process.env[key];
  Object.assign(process.env, savedEnv);
  await receiver?.close();
  clients?.s3.destroy();
  clients?.dynamo.destroy();
  clients?.sqs.destroy();
  ssm?.destroy();
  await moto?.stop();
  await bundles?.cleanup();
});

// A failing test shows what the handlers logged while it ran.
beforeEach(({ onTestFailed }) => {
  const mark = output.length;
  onTestFailed(() => {
    originalStderrWrite(`--- handler output during this test ---\n${output.slice(mark).join('')}\n`);
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe('AWS mode end to end (bundled handlers, moto, Dovecot)', () => {
  it('Dovecot → S3 → DynamoDB → signed webhook; delete mode empties the mailbox; a second run fetches nothing', async () => {
    // dispatch: one poll job, for the one valid mailbox of three parameters.
    const dispatched = await handlers.dispatch();
    expect(dispatched).toEqual({ dispatched: 1, deliveriesDue: false });
    const pollJobs = await drain(clients.sqs, queues.poll);
    // Name and parameter version only (the first put-parameter is version 1): never the config.
    expect(pollJobs.map((m) => JSON.parse(m.Body ?? ''))).toEqual([{ mailbox: MAILBOX, version: 1 }]);

    // poll: every message to S3 + DynamoDB, DELE'd on Dovecot, and one wake-up for deliver.
    let mark = output.length;
    const polled = await handlers.poll(sqsEvent(pollJobs), CONTEXT);
    expect(polled).toEqual({ batchItemFailures: [] });
    expect(metricValues('MessagesFetched', mark)).toEqual([MESSAGES.length]);
    expect(metricValues('BytesFetched', mark)).toEqual([MESSAGES.reduce((n, m) => n + m.length, 0)]);
    expect(await dovecot.mailboxFiles(account.user)).toEqual([]);
    expect(await rawKeys()).toHaveLength(MESSAGES.length);
    const pending = await state.listDeliveries({ mailbox: MAILBOX });
    expect(pending.map((j) => j.status)).toEqual(MESSAGES.map(() => 'pending'));
    const wakeUps = await drain(clients.sqs, queues.delivery);
    expect(wakeUps.map((m) => JSON.parse(m.Body ?? ''))).toEqual([{ kind: 'deliver-due' }]);
    expect(receiver.received).toHaveLength(0);

    // deliver: every message reaches the receiver, signed.
    mark = output.length;
    expect(await handlers.deliver(sqsEvent(wakeUps), CONTEXT)).toEqual({ batchItemFailures: [] });
    expect(receiver.rejected).toEqual([]);
    expect(receiver.received).toHaveLength(MESSAGES.length);
    expect(metricValues('DeliveryLatencyMs', mark)).toHaveLength(MESSAGES.length);
    const delivered = await state.listDeliveries({ mailbox: MAILBOX });
    expect(delivered.map((j) => j.status)).toEqual(MESSAGES.map(() => 'delivered'));

    const bySubject = new Map(receiver.received.map((r) => [r.event.data.subject, r]));
    expect([...bySubject.keys()].sort()).toEqual(['binary body', 'dots', 'first']);
    expect(new Set(receiver.received.map((r) => r.headers['webhook-id'])).size).toBe(MESSAGES.length);
    for (const [i, subject] of ['first', 'dots', 'binary body'].entries()) {
      const original = MESSAGES[i] as Buffer;
      const { event } = bySubject.get(subject) as Received;
      expect(event.type).toBe('email.received');
      expect(event.data.mailbox).toBe(MAILBOX);
      expect(event.data.messageId).toBe(`<e2e-${i + 1}@example.test>`);
      expect(event.data.raw).toMatchObject({ size: original.length, sha256: sha256(original) });
      // raw.url: a presigned GET on moto's S3 that returns exactly the bytes Dovecot held.
      const url = new URL(event.data.raw.url);
      expect(url.origin).toBe(moto.endpoint);
      expect(url.pathname).toMatch(new RegExp(`^/${names.bucket}/raw/`));
      expect(url.searchParams.get('X-Amz-Signature')).toMatch(/^[0-9a-f]{64}$/);
      const response = await fetch(url, { signal: AbortSignal.timeout(10_000) });
      expect(response.status).toBe(200);
      expect(Buffer.from(await response.arrayBuffer()).equals(original)).toBe(true);
      // …and it is the object in raw/ (not a copy somewhere else).
      const key = decodeURIComponent(url.pathname.slice(`/${names.bucket}/`.length));
      const object = await clients.s3.send(new GetObjectCommand({ Bucket: names.bucket, Key: key }));
      expect(Buffer.from((await object.Body?.transformToByteArray()) ?? []).equals(original)).toBe(true);
    }
    expect(await dovecot.mailboxFiles(account.user)).toEqual([]);

    // A second run: dispatch sends a job (the mailbox is due again), poll fetches nothing and wakes nobody.
    expect(await handlers.dispatch()).toEqual({ dispatched: 1, deliveriesDue: false });
    const secondJobs = await drain(clients.sqs, queues.poll);
    expect(secondJobs).toHaveLength(1);
    mark = output.length;
    expect(await handlers.poll(sqsEvent(secondJobs), CONTEXT)).toEqual({ batchItemFailures: [] });
    // An idle poll publishes no per-mailbox metric (each Mailbox value is a billed custom metric).
    expect(metricValues('MessagesFetched', mark)).toEqual([]);
    expect(metricValues('BytesFetched', mark)).toEqual([]);
    expect(await drain(clients.sqs, queues.delivery)).toEqual([]);
    // Even a stray wake-up delivers nothing new.
    expect(await handlers.deliver(sqsEvent([{ MessageId: 'stray', Body: '{"kind":"deliver-due"}' }]), CONTEXT)).toEqual(
      { batchItemFailures: [] },
    );
    expect(receiver.received).toHaveLength(MESSAGES.length);
    expect(await rawKeys()).toHaveLength(MESSAGES.length);
    const status = await state.getMailboxState(MAILBOX);
    expect(status?.failing ?? false).toBe(false);
  });

  it('skips a parameter that is not JSON and one with a bad port, naming the parameter and field, never a secret', async () => {
    const mark = output.length;
    // A fresh dispatch module: a cold container.
    const dispatch = await importHandler<DispatchHandler>(bundles, 'dispatch');
    const result = await dispatch();
    // The valid mailbox still runs.
    expect(result.dispatched).toBe(1);
    expect((await drain(clients.sqs, queues.poll)).map((m) => JSON.parse(m.Body ?? ''))).toEqual([
      { mailbox: MAILBOX, version: 1 },
    ]);

    // The registry recorded each problem when the parameter was put; dispatch reports it on every run.
    const problems = jsonLines(mark).filter((l) => l.message === 'mailbox config problem: mailbox skipped');
    const byParameter = new Map(problems.map((l) => [l.parameter, l]));
    expect(problems).toHaveLength(2);
    expect(byParameter.get(`${PARAMETER_PATH}/broken`)).toMatchObject({
      level: 'ERROR',
      mailbox: 'broken',
      path: '(document)',
      problem: 'not valid JSON',
    });
    expect(byParameter.get(`${PARAMETER_PATH}/badport`)).toMatchObject({
      level: 'ERROR',
      mailbox: 'badport',
      path: 'port',
      problem: 'expected 1..65535',
    });
    expect(metricValues('InvalidMailboxes', mark)).toEqual([2]);
    const everything = output.slice(mark).join('');
    expect(everything).not.toContain(BROKEN_JSON_SECRET);
    expect(everything).not.toContain(BAD_PORT_SECRET);
    expect(everything).not.toContain(account.password);
  });

  it('registry: ignores events outside the mailbox path; a reconcile registers a parameter whose event never came and removes one deleted without an event', async () => {
    expect(
      await handlers.registry({ ...parameterChangeEvent('x', 'Update'), detail: { name: '/elsewhere/x' } }),
    ).toEqual({
      kind: 'ignored',
    });
    expect(
      await handlers.registry({ ...parameterChangeEvent('x', 'Update'), detail: { name: `${PARAMETER_PATH}/a/b` } }),
    ).toEqual({ kind: 'ignored' });
    // Put and deleted behind the registry's back (no events).
    const config = { ...mailboxConfig(receiver.url, webhookSecret), name: 'unannounced', enabled: false };
    await ssm.send(
      new PutParameterCommand({
        Name: `${PARAMETER_PATH}/unannounced`,
        Type: 'SecureString',
        Value: JSON.stringify(config),
      }),
    );
    expect(await handlers.registry({ kind: 'reconcile' })).toMatchObject({ kind: 'reconcile', written: 1, deleted: 0 });
    const registered = async () => (await listRegistry({ doc: clients.doc, table: names.table })).map((e) => e.name);
    expect(await registered()).toContain('unannounced');
    await ssm.send(new DeleteParameterCommand({ Name: `${PARAMETER_PATH}/unannounced` }));
    // The deploy trigger's invocation carries no payload: a reconcile too.
    expect(await handlers.registry({})).toMatchObject({ kind: 'reconcile', written: 0, deleted: 1 });
    expect(await registered()).not.toContain('unannounced');
  });

  it('drops a poll job for an unknown mailbox or an invalid one, without failing the batch', async () => {
    const mark = output.length;
    const event: SqsEvent = {
      Records: [
        { messageId: 'unknown', body: JSON.stringify({ mailbox: 'nobody-here' }) },
        { messageId: 'invalid', body: JSON.stringify({ mailbox: 'badport' }) },
        { messageId: 'bad-name', body: JSON.stringify({ mailbox: '../support' }) },
      ],
    };
    expect(await handlers.poll(event, CONTEXT)).toEqual({ batchItemFailures: [] });
    const dropped = jsonLines(mark).filter((l) => l.message === 'poll job for an unknown or disabled mailbox: dropped');
    // The records are polled concurrently, so their log lines come in any order.
    expect(dropped.map((l) => l.mailbox).sort()).toEqual(['../support', 'badport', 'nobody-here']);
    expect(metricValues('MessagesFetched', mark)).toEqual([]);
    expect(await drain(clients.sqs, queues.delivery)).toEqual([]);
  });

  it('a mailbox removed while its deliveries are pending: deliver disables them and still delivers the others', async () => {
    const goneMessage = Buffer.from(
      'From: Dan <dan@example.test>\r\nSubject: for a mailbox about to go\r\nMessage-ID: <e2e-gone@example.test>\r\n\r\nbye\r\n',
    );
    const newMessage = Buffer.from(
      'From: Eve <eve@example.test>\r\nSubject: late arrival\r\nMessage-ID: <e2e-late@example.test>\r\n\r\nhi\r\n',
    );
    const goneAccount = await dovecot.createMailbox([goneMessage]);
    await putMailbox(
      'gone',
      JSON.stringify({
        ...mailboxConfig(receiver.url, webhookSecret),
        name: 'gone',
        username: goneAccount.user,
        password: goneAccount.password,
      }),
    );
    await dovecot.appendMessages(account.user, [newMessage]);
    const before = receiver.received.length;

    // Cold containers: no parameter cached from the earlier tests.
    const dispatch = await importHandler<DispatchHandler>(bundles, 'dispatch');
    const poll = await importHandler<SqsHandler>(bundles, 'poll');
    const deliver = await importHandler<SqsHandler>(bundles, 'deliver');
    expect((await dispatch()).dispatched).toBe(2);
    const jobs = await drain(clients.sqs, queues.poll);
    expect(jobs.map((m) => JSON.parse(m.Body ?? '').mailbox).sort()).toEqual(['gone', MAILBOX]);
    expect(await poll(sqsEvent(jobs), CONTEXT)).toEqual({ batchItemFailures: [] });
    const wakeUps = await drain(clients.sqs, queues.delivery);
    // Both mailboxes stored mail in one invocation: deliver is woken once for both.
    expect(wakeUps).toHaveLength(1);

    // The operator removes the mailbox before its delivery went out.
    await deleteMailbox('gone');
    expect(await deliver(sqsEvent(wakeUps), CONTEXT)).toEqual({ batchItemFailures: [] });

    expect(receiver.rejected).toEqual([]);
    const fresh = receiver.received.slice(before).map((r) => r.event.data);
    expect(fresh.map((d) => [d.mailbox, d.subject])).toEqual([[MAILBOX, 'late arrival']]);
    expect(Buffer.from(await (await fetch(fresh[0]?.raw.url ?? '')).arrayBuffer()).equals(newMessage)).toBe(true);
    expect((await state.listDeliveries({ mailbox: 'gone' })).map((j) => j.status)).toEqual(['disabled']);
    expect(await dovecot.mailboxFiles(account.user)).toEqual([]);
  });
  it('dispatch reads no SSM; poll reads sealed configs (no SSM; one KMS Decrypt per data key); idle polls read no config; an edit reaches the next dispatch + poll; jobs carry no secret', async () => {
    const counter = await startSsmCounter(moto.endpoint);
    try {
      // Cold containers whose AWS endpoint is the counting proxy (module scope reads the environment).
      process.env.AWS_ENDPOINT_URL = counter.endpoint;
      const dispatch = await importHandler<DispatchHandler>(bundles, 'dispatch');
      // At DEBUG: the poll handler logs an idle poll's result at DEBUG, and this test reads that line.
      process.env.POWERTOOLS_LOG_LEVEL = 'DEBUG';
      const poll = await importHandler<SqsHandler>(bundles, 'poll');
      process.env.POWERTOOLS_LOG_LEVEL = 'INFO';
      process.env.AWS_ENDPOINT_URL = moto.endpoint;

      // An empty mailbox: every poll is idle (login, UIDL, nothing new, quit).
      const cachedAccount = await dovecot.createMailbox([]);
      const config = {
        ...mailboxConfig(receiver.url, webhookSecret),
        name: 'cached',
        mode: 'leave',
        username: cachedAccount.user,
        password: cachedAccount.password,
      };
      await putMailbox('cached', JSON.stringify(config));
      const secrets = [cachedAccount.password, account.password, webhookSecret, BROKEN_JSON_SECRET, BAD_PORT_SECRET];

      /** One dispatch run: the SSM and DynamoDB operations it sent and the poll job for `cached`, read back from moto's queue. */
      const dispatchRun = async () => {
        counter.ssm.clear();
        counter.dynamodb.clear();
        await dispatch();
        const ssmOps = Object.fromEntries(counter.ssm);
        // The registry, the mailbox states, the due deliveries: one Query each (one page at this size).
        expect(Object.fromEntries(counter.dynamodb)).toEqual({ Query: 3 });
        const jobs = await drain(clients.sqs, queues.poll);
        for (const job of jobs) for (const secret of secrets) expect(job.Body).not.toContain(secret);
        return { ssmOps, job: jobs.find((m) => JSON.parse(m.Body ?? '').mailbox === 'cached') };
      };
      /** One poll of `job`: the config reads it sent (SSM, KMS, and the sealed item's DynamoDB GetItem). */
      const pollRun = async (job: Message) => {
        counter.ssm.clear();
        counter.kms.clear();
        counter.dynamodb.clear();
        expect(await poll(sqsEvent([job]), CONTEXT)).toEqual({ batchItemFailures: [] });
        const sealed = counter.sealedReads();
        return {
          ...Object.fromEntries([...counter.ssm].map(([op, n]) => [`ssm:${op}`, n])),
          ...Object.fromEntries([...counter.kms].map(([op, n]) => [`kms:${op}`, n])),
          ...(sealed > 0 && { 'dynamodb:GetItem': sealed }),
        };
      };

      // Dispatch reads the registry the change event wrote (registry.ts), never SSM: no listing, no decryption.
      const first = await dispatchRun();
      expect(first.ssmOps).toEqual({});
      expect(JSON.parse(first.job?.Body ?? '')).toEqual({ mailbox: 'cached', version: 1 });
      // The first poll in a container reads its sealed config once, and asks KMS once for its data key.
      expect(await pollRun(first.job as Message)).toEqual({ 'dynamodb:GetItem': 1, 'kms:Decrypt': 1 });
      const afterFirst = await state.getMailboxState('cached');
      expect(afterFirst?.lastOkAt).toBeGreaterThan(0);

      // Unchanged: dispatch again reads no SSM, and the idle poll reads no config at all (no SSM, no KMS).
      const second = await dispatchRun();
      expect(second.ssmOps).toEqual({});
      expect(JSON.parse(second.job?.Body ?? '')).toEqual({ mailbox: 'cached', version: 1 });
      const idleMark = output.length;
      expect(await pollRun(second.job as Message)).toEqual({});
      // The bundled handler's idle poll sends the state table one Query (state and lease) and writes nothing.
      expect(Object.fromEntries(counter.dynamodb)).toEqual({ Query: 1 });
      // …and it did poll (its log says so), idle: it wrote nothing, so the state is as the first poll left it.
      const finished = jsonLines(idleMark).filter((l) => l.message === 'poll finished' && l.mailbox === 'cached');
      expect(finished.map((l) => [l.path, l.level])).toEqual([['idle', 'DEBUG']]);
      const afterSecond = await state.getMailboxState('cached');
      expect(afterSecond).toEqual(afterFirst);
      expect(afterSecond?.lastError).toBeUndefined();

      // The operator changes the password (a new version): its change event updates the registry, the next
      // dispatch's job carries version 2; poll reads it again and uses it (Dovecot now refuses the login).
      await putMailbox('cached', JSON.stringify({ ...config, password: 'not-the-password-any-more' }));
      secrets.push('not-the-password-any-more');
      const edited = await dispatchRun();
      expect(edited.ssmOps).toEqual({});
      expect(JSON.parse(edited.job?.Body ?? '')).toEqual({ mailbox: 'cached', version: 2 });
      // Sealed by the same registry container under the same data key: no KMS request this time.
      expect(await pollRun(edited.job as Message)).toEqual({ 'dynamodb:GetItem': 1 });
      const afterEdit = await state.getMailboxState('cached');
      expect(afterEdit?.lastError?.code).toBe('POP3_ERR_AUTH');
      expect(afterEdit?.lastOkAt).toBe(afterSecond?.lastOkAt);

      // A job queued before versions existed (in flight during a deploy) still works, reading the sealed config.
      expect(await pollRun({ MessageId: 'old-format', Body: JSON.stringify({ mailbox: 'cached' }) })).toEqual({
        'dynamodb:GetItem': 1,
      });

      // Disabled (version 3): a job at that version makes poll read it again and drop the job.
      await putMailbox('cached', JSON.stringify({ ...config, enabled: false }));
      const beforeDisabled = await state.getMailboxState('cached');
      const mark = output.length;
      const disabledJob = { MessageId: 'disabled', Body: JSON.stringify({ mailbox: 'cached', version: 3 }) };
      expect(await pollRun(disabledJob)).toEqual({ 'dynamodb:GetItem': 1 });
      const dropped = jsonLines(mark).filter(
        (l) => l.message === 'poll job for an unknown or disabled mailbox: dropped',
      );
      expect(dropped.map((l) => l.mailbox)).toEqual(['cached']);
      expect((await state.getMailboxState('cached'))?.lastPollAt).toBe(beforeDisabled?.lastPollAt);
    } finally {
      process.env.AWS_ENDPOINT_URL = moto.endpoint;
      await deleteMailbox('cached');
      await counter.close();
    }
  });

  it('deliver tries a webhook that never answers in one round of an invocation, not round after round, and keeps its deliveries due', async () => {
    const name = `silent-${randomBytes(3).toString('hex')}`;
    let requests = 0;
    const silent = createServer(() => {
      requests += 1;
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const silentUrl = `http://127.0.0.1:${(silent.address() as AddressInfo).port}/hook`;
    const COUNT = 30;
    const silentAccount = await dovecot.createMailbox(
      Array.from({ length: COUNT }, (_, i) =>
        Buffer.from(
          `From: <s${i}@example.test>\r\nSubject: unanswered ${i}\r\nMessage-ID: <silent${i}@x>\r\n\r\nhi\r\n`,
        ),
      ),
    );
    try {
      await putMailbox(
        name,
        JSON.stringify({
          ...mailboxConfig(receiver.url, webhookSecret),
          name,
          username: silentAccount.user,
          password: silentAccount.password,
          webhooks: [{ id: 'silent', url: silentUrl, secret: webhookSecret, allowHttp: true, timeoutSeconds: 1 }],
        }),
      );
      const dispatch = await importHandler<DispatchHandler>(bundles, 'dispatch');
      const poll = await importHandler<SqsHandler>(bundles, 'poll');
      const deliver = await importHandler<SqsHandler>(bundles, 'deliver');
      await dispatch();
      expect(await poll(sqsEvent(await drain(clients.sqs, queues.poll)), CONTEXT)).toEqual({ batchItemFailures: [] });
      expect((await state.listDeliveries({ mailbox: name })).length).toBe(COUNT);

      const started = Date.now();
      expect(await deliver(sqsEvent(await drain(clients.sqs, queues.delivery)), CONTEXT)).toEqual({
        batchItemFailures: [],
      });
      // One round of 25: four requests (the round's slots) timed out after 1 s, the other 21 jobs were handed
      // back (due again in ~5 s), and the next round skipped the endpoint. Before, the next round claimed the
      // five left and tried it again (8 requests here); at the default 15 s timeout the handed-back jobs were due
      // again before the round ended, so rounds went on trying it until the invocation's time ran short.
      expect(Date.now() - started).toBeLessThan(4_000);
      expect(requests).toBe(4);
      const jobs = await state.listDeliveries({ mailbox: name });
      expect(jobs.filter((job) => job.attempts === 1 && job.status === 'failed')).toHaveLength(4);
      expect(jobs.filter((job) => job.attempts === 0 && job.status === 'pending')).toHaveLength(COUNT - 4);
    } finally {
      await deleteMailbox(name);
      // Nothing of this mailbox may stay due: dispatch would wake deliver for it in the tests after this one.
      for (const job of await state.listDeliveries({ mailbox: name })) {
        await state.updateDelivery(job.webhookId, { status: 'disabled', lastError: 'test cleanup' });
      }
      silent.closeAllConnections();
      await new Promise((resolve) => silent.close(resolve));
    }
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Several mailboxes per poll invocation (the event source's batch of up to 10 records).

/**
 * A loopback proxy in front of moto that answers every DynamoDB request mentioning `needle` (a mailbox name: the
 * state table's keys hold it) with a 500, as the service does when it fails, and forwards everything else. The
 * SDK retries the 500s and then gives up: the state store fails for that one mailbox only.
 */
async function startStateFaultProxy(
  target: string,
  needle: string,
): Promise<{ endpoint: string; failed: () => number; close(): Promise<void> }> {
  let failed = 0;
  const proxy = await startFaultProxy({
    target,
    decideOnBody: ({ service }, body) => {
      if (service !== 'dynamodb' || !body.includes(needle)) return undefined;
      failed += 1;
      return { kind: 'error', ...DYNAMODB_FAULTS.internal };
    },
  });
  return { endpoint: proxy.endpoint, failed: () => failed, close: () => proxy.close() };
}

/**
 * A TCP relay to Dovecot that holds every connection until `parties` are open at once, then relays them all. Polls
 * run one after another would never open the second connection while the first waits for its greeting, so the
 * first would time out: both getting through proves they ran side by side (no timing involved).
 */
async function startBarrierRelay(
  target: { host: string; port: number },
  parties: number,
): Promise<{ port: number; opened: () => boolean; close(): Promise<void> }> {
  const waiting: Socket[] = [];
  const open: Socket[] = [];
  let opened = false;
  const relay = (client: Socket) => {
    const upstream = tcpConnect(target.port, target.host);
    open.push(client, upstream);
    client.pipe(upstream).pipe(client);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  };
  const server = createTcpServer((client) => {
    if (opened) return relay(client);
    waiting.push(client);
    client.on('error', () => {});
    if (waiting.length >= parties) {
      opened = true;
      for (const c of waiting.splice(0)) relay(c);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    port,
    opened: () => opened,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of [...waiting, ...open]) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A loopback port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('one poll invocation, several mailboxes (batch of SQS records)', () => {
  it('polls the records concurrently: good mailboxes are fetched and delivered, a bad password and an unreachable server are recorded on their own mailbox, only a state-store failure fails its record; deliver is woken once', async () => {
    const tag = randomBytes(3).toString('hex');
    const names = {
      first: `batch-a-${tag}`,
      second: `batch-b-${tag}`,
      badPassword: `batch-badpw-${tag}`,
      unreachable: `batch-down-${tag}`,
      stateFails: `batch-statefail-${tag}`,
    };
    const mail = (who: string, n: number) =>
      Buffer.from(
        `From: ${who} <${who}@example.test>\r\nTo: batch@example.test\r\nSubject: batch ${who} ${n}\r\n` +
          `Message-ID: <batch-${who}-${n}-${tag}@example.test>\r\n\r\nhello ${n}\r\n`,
      );
    const firstMail = [mail('ann', 1), mail('ann', 2)];
    const secondMail = [mail('ben', 1)];
    const firstAccount = await dovecot.createMailbox(firstMail);
    const secondAccount = await dovecot.createMailbox(secondMail);
    const badAccount = await dovecot.createMailbox([mail('cat', 1)]);
    const stateAccount = await dovecot.createMailbox([mail('dan', 1)]);
    const wrongPassword = `wrong-${randomBytes(6).toString('hex')}`;
    const configs: Record<string, Record<string, unknown>> = {
      [names.first]: { username: firstAccount.user, password: firstAccount.password },
      [names.second]: { username: secondAccount.user, password: secondAccount.password },
      [names.badPassword]: { username: badAccount.user, password: wrongPassword },
      [names.unreachable]: { username: badAccount.user, password: badAccount.password, port: await closedPort() },
      [names.stateFails]: { username: stateAccount.user, password: stateAccount.password },
    };
    // The two good mailboxes reach Dovecot through a relay that lets them in only together.
    const barrier = await startBarrierRelay({ host: dovecot.facts.host, port: dovecot.facts.tlsPort }, 2);
    configs[names.first] = { ...configs[names.first], port: barrier.port };
    configs[names.second] = { ...configs[names.second], port: barrier.port };
    for (const [name, overrides] of Object.entries(configs)) {
      await putMailbox(name, JSON.stringify({ ...mailboxConfig(receiver.url, webhookSecret), name, ...overrides }));
    }
    const proxy = await startStateFaultProxy(moto.endpoint, names.stateFails);
    try {
      // A cold poll container whose AWS endpoint is the fault proxy.
      process.env.AWS_ENDPOINT_URL = proxy.endpoint;
      const poll = await importHandler<SqsHandler>(bundles, 'poll');
      process.env.AWS_ENDPOINT_URL = moto.endpoint;
      const event: SqsEvent = {
        Records: Object.keys(configs).map((name) => ({
          messageId: `job-${name}`,
          body: JSON.stringify({ mailbox: name, version: 1 }),
        })),
      };
      const before = receiver.received.length;
      // Wake-ups the earlier tests' dispatch runs left behind (they wake deliver while deliveries are due).
      await drain(clients.sqs, queues.delivery);

      let mark = output.length;
      const response = await poll(event, CONTEXT);
      // Only the record whose state store failed goes back to SQS; the mailboxes' own errors are recorded.
      expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: `job-${names.stateFails}` }] });
      expect(proxy.failed()).toBeGreaterThan(0);
      expect(barrier.opened()).toBe(true);
      const failedLines = jsonLines(mark).filter((l) => l.message === 'poll job failed; SQS will retry it');
      expect(failedLines.map((l) => l.mailbox)).toEqual([names.stateFails]);
      expect((await state.getMailboxState(names.badPassword))?.lastError?.code).toBe('POP3_ERR_AUTH');
      expect((await state.getMailboxState(names.unreachable))?.lastError?.code).toBe('POP3_ERR_CONNECT');
      // Nothing of the mailbox whose state failed was fetched or deleted.
      expect(await dovecot.mailboxFiles(stateAccount.user)).toHaveLength(1);
      expect(await state.getMailboxState(names.stateFails)).toBeUndefined();
      // The good mailboxes: fetched (delete mode: gone from Dovecot), metrics per mailbox, one wake-up for both.
      expect(await dovecot.mailboxFiles(firstAccount.user)).toEqual([]);
      expect(await dovecot.mailboxFiles(secondAccount.user)).toEqual([]);
      const fetchedMetric = jsonLines(mark).filter((l) => typeof l._aws === 'object' && 'MessagesFetched' in l);
      expect(fetchedMetric.map((l) => [l.Mailbox, l.MessagesFetched]).sort()).toEqual(
        [
          [names.first, firstMail.length],
          [names.second, secondMail.length],
        ].sort(),
      );
      const wakeUps = await drain(clients.sqs, queues.delivery);
      expect(wakeUps.map((m) => JSON.parse(m.Body ?? ''))).toEqual([{ kind: 'deliver-due' }]);
      for (const secret of [wrongPassword, firstAccount.password, stateAccount.password, webhookSecret]) {
        expect(output.slice(mark).join('')).not.toContain(secret);
      }

      // deliver: every message of the good mailboxes reaches the receiver, signed; none of the others.
      expect(await handlers.deliver(sqsEvent(wakeUps), CONTEXT)).toEqual({ batchItemFailures: [] });
      expect(receiver.rejected).toEqual([]);
      const delivered = receiver.received.slice(before).map((r) => [r.event.data.mailbox, r.event.data.subject]);
      expect(delivered.sort()).toEqual(
        [
          [names.first, 'batch ann 1'],
          [names.first, 'batch ann 2'],
          [names.second, 'batch ben 1'],
        ].sort(),
      );

      // The next round, same batch: the good mailboxes are idle and say nothing at INFO, deliver is not woken,
      // and the record whose state store still fails is the only one retried.
      mark = output.length;
      expect(await poll(event, CONTEXT)).toEqual({
        batchItemFailures: [{ itemIdentifier: `job-${names.stateFails}` }],
      });
      const infoFinished = jsonLines(mark).filter((l) => l.message === 'poll finished' && l.level === 'INFO');
      expect(infoFinished).toEqual([]);
      expect(await drain(clients.sqs, queues.delivery)).toEqual([]);
      expect(receiver.received.length - before).toBe(delivered.length);
    } finally {
      process.env.AWS_ENDPOINT_URL = moto.endpoint;
      await proxy.close();
      await barrier.close();
      for (const name of Object.keys(configs)) {
        await deleteMailbox(name);
      }
    }
  });

  it('two jobs for one mailbox in a batch make one poll, and both records share its outcome', async () => {
    const tag = randomBytes(3).toString('hex');
    const name = `batch-twice-${tag}`;
    const message = Buffer.from(
      `From: Eve <eve@example.test>\r\nSubject: twice ${tag}\r\nMessage-ID: <twice-${tag}@example.test>\r\n\r\nhi\r\n`,
    );
    const account = await dovecot.createMailbox([message]);
    await putMailbox(
      name,
      JSON.stringify({
        ...mailboxConfig(receiver.url, webhookSecret),
        name,
        username: account.user,
        password: account.password,
      }),
    );
    try {
      await drain(clients.sqs, queues.delivery);
      // At DEBUG, so a second poll of the mailbox would show even if it found nothing to do (its result is DEBUG).
      process.env.POWERTOOLS_LOG_LEVEL = 'DEBUG';
      const poll = await importHandler<SqsHandler>(bundles, 'poll');
      process.env.POWERTOOLS_LOG_LEVEL = 'INFO';
      const mark = output.length;
      // A retried job (no version: queued before versions) meets the next dispatch's job (version 1).
      const event: SqsEvent = {
        Records: [
          { messageId: 'retried', body: JSON.stringify({ mailbox: name }) },
          { messageId: 'fresh', body: JSON.stringify({ mailbox: name, version: 1 }) },
          { messageId: 'not-json', body: '{"mailbox": ' },
        ],
      };
      // Only the unreadable record fails: it can never become a job.
      expect(await poll(event, CONTEXT)).toEqual({ batchItemFailures: [{ itemIdentifier: 'not-json' }] });
      const lines = jsonLines(mark).filter((l) => l.mailbox === name);
      // One poll: one result, with the message fetched; no second poll skipped, idle or failing with [IN-USE].
      const results = lines.filter((l) => /^poll (finished|skipped|failed)/.test(String(l.message)));
      expect(results.map((l) => [l.message, l.fetched])).toEqual([['poll finished', 1]]);
      expect(lines.filter((l) => l.level === 'WARN' || l.level === 'ERROR')).toEqual([]);
      expect((await state.getMailboxState(name))?.lastError).toBeUndefined();
      expect(await dovecot.mailboxFiles(account.user)).toEqual([]);
      expect(await drain(clients.sqs, queues.delivery)).toHaveLength(1);
    } finally {
      await deleteMailbox(name);
    }
  });
});
