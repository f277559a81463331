/**
 * The QUIT-of-unknown-outcome handling (deleSentAt, poll-mailbox.ts `reidentifyReusedUidls`, same-message.ts)
 * on the AWS mode's stores: DynamoDB (moto) for the records and S3 (moto) for the raw mail, against the
 * scripted server. Both clients get one socket: a stored-header read that stopped early without giving its
 * connection back would leave every later request waiting for it.
 */
import { Readable } from 'node:stream';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type AwsClients, createAwsClients } from '../../functions/aws/clients.js';
import { DynamoStateStore } from '../../functions/aws/dynamo-state-store.js';
import { S3RawStore } from '../../functions/aws/s3-raw-store.js';
import { createTable } from '../../functions/aws/table-schema.js';
import { type PollDeps, type PollTarget, pollMailbox } from '../../functions/core/poll/poll-mailbox.js';
import { readStoredHeaders } from '../../functions/core/poll/same-message.js';
import {
  drop,
  type FaultHooks,
  type ScriptedMessageInit,
  type ScriptedServer,
} from '../../functions/scripted-server/index.js';
import { type CountingStateStore, countingStateStore } from '../support/counting-state-store.js';
import { type Moto, startMoto, uniqueName } from '../support/moto.js';
import {
  crashAfterQuit,
  numberedMessage,
  openScriptedSession,
  startScriptedPollServer,
} from '../support/scripted-poll.js';

let moto: Moto;
let aws: AwsClients;
/** DynamoDB commands sent since the last reset, by SDK command name. */
const dynamoCommands: string[] = [];

beforeAll(async () => {
  moto = await startMoto();
  aws = createAwsClients({
    region: moto.region,
    endpoint: moto.endpoint,
    forcePathStyle: true,
    credentials: moto.credentials,
    // One request at a time (moto's conditional writes are not atomic otherwise), and a leaked S3 body hangs.
    maxSockets: 1,
  });
  aws.dynamo.middlewareStack.add(
    (next, context) => async (args) => {
      dynamoCommands.push(context.commandName ?? 'unknown');
      return next(args);
    },
    { step: 'initialize', name: 'countDynamoCommands' },
  );
});
afterAll(async () => {
  aws?.dynamo.destroy();
  aws?.s3.destroy();
  await moto?.stop();
});

let server: ScriptedServer | undefined;
let counting: CountingStateStore;
let store: S3RawStore;

beforeEach(async () => {
  const table = uniqueName('dele');
  const bucket = uniqueName('dele');
  await createTable(aws.dynamo, table);
  await aws.s3.send(new CreateBucketCommand({ Bucket: bucket }));
  counting = countingStateStore(new DynamoStateStore({ doc: aws.doc, s3: aws.s3 }, { table, bucket }));
  store = new S3RawStore(aws.s3, { bucket });
});
afterEach(async () => {
  await server?.close();
  server = undefined;
  await counting.store.close();
});

const msg = numberedMessage;

function poll(target: Partial<PollTarget> = {}, deps: Partial<PollDeps> = {}) {
  const s = server!;
  return pollMailbox(
    { name: 'mb', mode: 'delete', endpointIds: ['hook'], ...target },
    {
      state: counting.store,
      store,
      ...deps,
      openSession: openScriptedSession(s),
    },
    { force: true },
  );
}

async function serve(messages: ReadonlyArray<string | ScriptedMessageInit>, faults: FaultHooks = {}) {
  server = await startScriptedPollServer(messages, { faults });
}

describe('deleSentAt on DynamoDB and S3', () => {
  it('a lost QUIT reply, then a reused UIDL: the new message is fetched, not DELEted unfetched', async () => {
    await serve([{ body: msg(1), uidl: 'uid-1' }]);
    await poll({}, crashAfterQuit).catch(() => undefined);
    const record = (await counting.store.getMessages('mb', ['uid-1'])).get('uid-1');
    expect(record?.deleSentAt).toBeTypeOf('number');
    expect(record?.deletedAt).toBeUndefined();
    server!.mailbox.add({ body: msg(2), uidl: 'uid-1' });
    expect(await poll()).toMatchObject({ status: 'ok', fetched: 1, deleted: 1 });
    const jobs = await counting.store.listDeliveries({ mailbox: 'mb' });
    expect(new Set(jobs.map((j) => j.sha256)).size).toBe(2);
    expect((await counting.store.getMessages('mb', ['uid-1'])).get('uid-1')?.deletedAt).toBeTypeOf('number');
  });

  it('a dropped QUIT: the next poll reads the stored headers from S3 and DELEs without fetching again', async () => {
    let quits = 0;
    await serve([msg(1), msg(2), msg(3)], {
      override: (c) => (c.verb === 'QUIT' && ++quits === 1 ? drop({ reset: true }) : undefined),
    });
    expect(await poll()).toMatchObject({ status: 'error', fetched: 3 });
    expect(await poll()).toMatchObject({ status: 'ok', fetched: 0, deleted: 3 });
    expect(server!.count('RETR')).toBe(3);
    expect(server!.count('TOP')).toBe(3);
    expect(server!.mailbox.messages).toHaveLength(0);
  });

  it('reading the headers of large S3 objects stops early and gives the connection back each time', async () => {
    const big = Buffer.concat([Buffer.from(msg(1)), Buffer.alloc(6 * 1024 * 1024, 0x61), Buffer.from('\r\n')]);
    const stored = await store.put(Readable.from([big]), 'raw');
    for (let i = 0; i < 10; i += 1) {
      expect((await readStoredHeaders(store, stored.key))?.toString()).toBe(
        'Subject: m 1\r\nMessage-ID: <m1@x>\r\n\r\n',
      );
    }
    // With one socket, a body left open would make this wait until the test times out.
    let length = 0;
    for await (const chunk of await store.get(stored.key)) length += (chunk as Buffer).length;
    expect(length).toBe(big.length);
  });
});

describe('cost on DynamoDB', () => {
  const WRITE_COMMANDS = /^(Put|Update|Delete|BatchWrite|TransactWrite)/;
  /** Port writes and DynamoDB write requests of one poll. */
  async function measure(run: () => Promise<unknown>) {
    counting.reset();
    dynamoCommands.length = 0;
    await run();
    const ports: Record<string, number> = {};
    for (const m of counting.writes()) ports[m] = (ports[m] ?? 0) + 1;
    const dynamoWrites = dynamoCommands.filter((c) => WRITE_COMMANDS.test(c)).length;
    return { ports, dynamoWrites };
  }

  // Measured before b8fd533 (the same tests on its poll-mailbox.ts): 14, 9 and 9 DynamoDB writes, one known-uid PUT.
  it('plain delete mode: five new messages fetched and DELEted: no extra write (deleSentAt rides on the record)', async () => {
    await serve([1, 2, 3, 4, 5].map((i) => msg(i)));
    const cost = await measure(() => poll());
    expect(cost.ports.markDeleSent).toBeUndefined();
    expect(cost.ports.putKnownUids).toBe(1);
    expect(cost.dynamoWrites).toBe(14);
  });

  it('deleteAfterDelivered: five delivered messages DELEted: one UpdateItem each and one known-uid PUT more', async () => {
    await serve([1, 2, 3, 4, 5].map((i) => msg(i)));
    expect(await poll({ deleteAfterDelivered: true })).toMatchObject({ fetched: 5, deleted: 0 });
    for (const job of await counting.store.listDeliveries({ mailbox: 'mb' })) {
      await counting.store.updateDelivery(job.webhookId, { status: 'delivered', attempts: 1 });
    }
    const cost = await measure(() => poll({ deleteAfterDelivered: true }));
    expect(cost.ports).toMatchObject({ markDeleSent: 1, putKnownUids: 2 });
    expect(cost.dynamoWrites).toBe(9 + 5);
  });

  it('leave mode retention: five messages DELEted: one UpdateItem each and one known-uid PUT more', async () => {
    await serve([1, 2, 3, 4, 5].map((i) => msg(i)));
    let now = Date.UTC(2026, 0, 1);
    const leave = { mode: 'leave' as const, retentionDays: 1 };
    expect(await poll(leave, { now: () => now })).toMatchObject({ fetched: 5 });
    now += 2 * 86_400_000;
    const cost = await measure(() => poll(leave, { now: () => now }));
    expect(server!.mailbox.messages).toHaveLength(0);
    expect(cost.ports).toMatchObject({ markDeleSent: 1, putKnownUids: 2 });
    expect(cost.dynamoWrites).toBe(9 + 5);
  });
});
