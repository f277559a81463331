import { gunzipSync } from 'node:zlib';
import { DescribeTableCommand, DescribeTimeToLiveCommand } from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand, GetObjectCommand } from '@aws-sdk/client-s3';
import { GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type AwsClients, createAwsClients } from '../../functions/aws/clients.js';
import { DynamoStateStore, timeKey } from '../../functions/aws/dynamo-state-store.js';
import { createTable, KNOWN_UIDS_PREFIX, TABLE_SCHEMA } from '../../functions/aws/table-schema.js';
import { isBridgeError } from '../../functions/core/errors.js';
import type { DeliveryJob } from '../../functions/core/ports.js';
import { describeStateStoreContract, job, record } from '../contract/state-store.contract.js';
import { type Moto, startMoto, uniqueName } from '../support/moto.js';

const T0 = 1_700_000_000_000;

let moto: Moto;
let clients: AwsClients;
/** Every command any store in this file sent, by SDK command name. */
const sent: string[] = [];
/** When set, rewrites a BatchGetItem answer (after unmarshalling) to simulate throttling. */
let batchGetTamper: ((output: Record<string, unknown>) => void) | undefined;

beforeAll(async () => {
  moto = await startMoto();
  clients = createAwsClients({
    region: moto.region,
    endpoint: moto.endpoint,
    forcePathStyle: true,
    credentials: moto.credentials,
    // One request at a time. DynamoDB applies each conditional write atomically; moto 5.2 evaluates
    // conditions without a lock in a threaded server, so two racing writes can both pass (and concurrent
    // TransactWriteItems can fail with a 500). Serialized, moto is atomic per request like DynamoDB, while
    // the adapter's read-then-conditional-write interleavings (concurrent claims, leases) still happen.
    maxSockets: 1,
  });
  const tamper = (commandName: string | undefined, output: unknown): void => {
    if (commandName === 'BatchGetItemCommand' && batchGetTamper !== undefined) {
      batchGetTamper(output as Record<string, unknown>);
    }
  };
  const options = { step: 'initialize', name: 'recordCommandNames' } as const;
  clients.dynamo.middlewareStack.add(
    (next, context) => async (args) => {
      sent.push(context.commandName ?? 'unknown');
      const result = await next(args);
      tamper(context.commandName, result.output);
      return result;
    },
    options,
  );
  clients.s3.middlewareStack.add(
    (next, context) => async (args) => {
      sent.push(context.commandName ?? 'unknown');
      const result = await next(args);
      tamper(context.commandName, result.output);
      return result;
    },
    options,
  );
});
afterAll(async () => {
  clients?.dynamo.destroy();
  clients?.s3.destroy();
  await moto?.stop();
});

async function newStore(): Promise<DynamoStateStore> {
  const table = uniqueName('state');
  const bucket = uniqueName('state');
  await createTable(clients.dynamo, table);
  await clients.s3.send(new CreateBucketCommand({ Bucket: bucket }));
  return new DynamoStateStore(clients, { table, bucket });
}

describeStateStoreContract('DynamoStateStore (moto)', async () => {
  const store = await newStore();
  return { store, cleanup: () => store.close() };
});

describe('DynamoStateStore (AWS specifics)', () => {
  let store: DynamoStateStore;
  beforeEach(async () => {
    store = await newStore();
  });

  async function costOf(fn: () => Promise<unknown>): Promise<number> {
    const before = store.stats().roundTrips;
    await fn();
    return store.stats().roundTrips - before;
  }

  it('creates the table the CDK stack will: pk/sk, three GSIs projecting all, TTL on expiresAt', async () => {
    const { Table } = await clients.dynamo.send(new DescribeTableCommand({ TableName: store.table }));
    expect(Table?.KeySchema).toEqual([
      { AttributeName: 'pk', KeyType: 'HASH' },
      { AttributeName: 'sk', KeyType: 'RANGE' },
    ]);
    expect(Table?.BillingModeSummary?.BillingMode).toBe('PAY_PER_REQUEST');
    const indexes = (Table?.GlobalSecondaryIndexes ?? []).map((i) => ({
      name: i.IndexName,
      keys: i.KeySchema?.map((k) => k.AttributeName),
      projection: i.Projection?.ProjectionType,
    }));
    expect(indexes.sort((a, b) => String(a.name).localeCompare(String(b.name)))).toEqual(
      TABLE_SCHEMA.indexes.map((i) => ({ name: i.name, keys: [i.partitionKey, i.sortKey], projection: 'ALL' })),
    );
    const ttl = await clients.dynamo.send(new DescribeTimeToLiveCommand({ TableName: store.table }));
    expect(ttl.TimeToLiveDescription).toMatchObject({ AttributeName: 'expiresAt', TimeToLiveStatus: 'ENABLED' });
  });

  it('an idle poll reads one item pair with one request at any mailbox size; a poll with work costs a constant few more', async () => {
    const peek = async (mailbox: string): Promise<number> =>
      costOf(async () => {
        const { state, leaseHeld } = await store.peekMailbox(mailbox, T0);
        expect(leaseHeld).toBe(false);
        expect(state).toMatchObject({ mailbox, lastOkAt: T0 });
      });
    const withWork = async (mailbox: string): Promise<number> =>
      costOf(async () => {
        expect(await store.acquireLease(mailbox, 'poller', 60_000, T0)).toBe(true);
        await store.getMailboxState(mailbox);
        await store.getKnownUids(mailbox);
        await store.updateMailboxState(mailbox, { lastPollAt: T0, lastOkAt: T0 });
        await store.releaseLease(mailbox, 'poller');
      });
    const small = await withWork('small');
    const smallPeek = await peek('small');

    // 200 message items share the mailbox's partition: the peek's key range must not read (or page through) them.
    for (let i = 0; i < 200; i++) await store.recordMessage(record('big', `uid-${i}`), []);
    const known = new Set(Array.from({ length: 100_000 }, (_, i) => `${i.toString(16).padStart(8, '0')}77aa`));
    expect(await costOf(() => store.putKnownUids('big', known))).toBe(1);
    const big = await withWork('big');
    const bigPeek = await peek('big');

    expect(smallPeek).toBe(1);
    expect(bigPeek).toBe(1);
    expect(small).toBe(5);
    expect(big).toBe(small);
    expect(await costOf(() => store.getKnownUids('big'))).toBe(1);
  });

  it('getMessages costs one BatchGetItem per 100 uids, duplicates asked once', async () => {
    for (let i = 0; i < 10; i++) await store.recordMessage(record('mb', `u${i}`), []);
    const asked = Array.from({ length: 250 }, (_, i) => `u${i % 240}`);
    let got: Map<string, unknown> = new Map();
    expect(
      await costOf(async () => {
        got = await store.getMessages('mb', asked);
      }),
    ).toBe(3);
    expect(got.size).toBe(10);
    expect(await costOf(() => store.getMessages('mb', []))).toBe(0);
  });

  it('getMessages retries unprocessed keys with back-off until every record is read', async () => {
    for (let i = 0; i < 50; i++) await store.recordMessage(record('mb', `u${i}`), []);
    let throttled = 0;
    batchGetTamper = (output) => {
      // Keep one item per answer for the first three answers; return the rest as unprocessed.
      if (throttled >= 3) return;
      throttled++;
      const responses = output.Responses as Record<string, Record<string, unknown>[]>;
      const items = responses[store.table] ?? [];
      responses[store.table] = items.slice(0, 1);
      output.UnprocessedKeys = {
        [store.table]: { Keys: items.slice(1).map((item) => ({ pk: item.pk, sk: item.sk })), ConsistentRead: true },
      };
    };
    try {
      let got: Map<string, unknown> = new Map();
      const cost = await costOf(async () => {
        got = await store.getMessages(
          'mb',
          Array.from({ length: 50 }, (_, i) => `u${i}`),
        );
      });
      expect(got.size).toBe(50);
      expect(cost).toBe(4);
    } finally {
      batchGetTamper = undefined;
    }
  });

  it('known uids live in S3 as one gzip object per mailbox, not in the table', async () => {
    await store.putKnownUids('mb', new Set(['a', 'b#2', 'sha256:00']));
    const object = await clients.s3.send(
      new GetObjectCommand({ Bucket: store.bucket, Key: `${KNOWN_UIDS_PREFIX}mb.gz` }),
    );
    const text = gunzipSync(await object.Body!.transformToByteArray()).toString('utf8');
    expect(text.split('\n').sort()).toEqual(['a', 'b#2', 'sha256:00']);
    await expect(store.putKnownUids('mb', new Set(['bad\nuid']))).rejects.toMatchObject({ code: 'STATE_ERR_IO' });
  });

  it('a lease item carries a TTL in epoch seconds, a day after the lease expires', async () => {
    await store.acquireLease('mb', 'me', 60_000, T0);
    const { Item } = await clients.doc.send(
      new GetCommand({ TableName: store.table, Key: { pk: 'MB#mb', sk: 'LEASE' }, ConsistentRead: true }),
    );
    expect(Item).toMatchObject({ owner: 'me', leaseUntil: T0 + 60_000 });
    expect(Item?.expiresAt).toBe(Math.ceil((T0 + 60_000) / 1000) + 86_400);
  });

  it('the due index holds only pending and failed jobs, and follows status and nextAttemptAt changes', async () => {
    const rec = record('mb', 'u1');
    const a = job(rec, 'ep1', { nextAttemptAt: T0 + 5 });
    const b = job(rec, 'ep2', { nextAttemptAt: T0 + 7 });
    await store.recordMessage(rec, [a, b]);
    const dueIndex = async (): Promise<string[]> => {
      const res = await clients.doc.send(
        new QueryCommand({
          TableName: store.table,
          IndexName: 'gsi1',
          KeyConditionExpression: 'gsi1pk = :due',
          ExpressionAttributeValues: { ':due': 'DUE' },
        }),
      );
      return (res.Items ?? []).map((item) => `${item.webhookId}@${item.gsi1sk}`);
    };
    expect(await dueIndex()).toEqual([
      `${a.webhookId}@${timeKey(T0 + 5)}#${a.webhookId}`,
      `${b.webhookId}@${timeKey(T0 + 7)}#${b.webhookId}`,
    ]);

    await store.updateDelivery(a.webhookId, { status: 'delivered', deliveredAt: T0 + 6 });
    expect(await dueIndex()).toEqual([`${b.webhookId}@${timeKey(T0 + 7)}#${b.webhookId}`]);

    // Back to pending without a new time: due again at the nextAttemptAt it kept.
    await store.updateDelivery(a.webhookId, { status: 'pending' });
    expect(await store.listDueDeliveries(T0 + 10, 10)).toEqual([{ ...a, status: 'pending', deliveredAt: T0 + 6 }, b]);
    await store.updateDelivery(b.webhookId, { nextAttemptAt: T0 + 1 });
    expect((await store.listDueDeliveries(T0 + 10, 10)).map((j) => j.webhookId)).toEqual([b.webhookId, a.webhookId]);
    expect(await store.listDeliveries({ status: 'delivered' })).toEqual([]);
    expect(await store.countDeliveries('mb')).toMatchObject({ pending: 2, delivered: 0 });
  });

  it('many concurrent claimers: every due job handed out exactly once', async () => {
    const jobs: DeliveryJob[] = [];
    for (let i = 0; i < 12; i++) {
      const rec = record('mb', `u${i}`);
      const batch = [job(rec, 'ep1', { nextAttemptAt: T0 + i }), job(rec, 'ep2', { nextAttemptAt: T0 + i })];
      jobs.push(...batch);
      await store.recordMessage(rec, batch);
    }
    const claims = await Promise.all(Array.from({ length: 6 }, () => store.claimDueDeliveries(T0 + 100, 8, 60_000)));
    const ids = claims.flat().map((j) => j.webhookId);
    expect(ids).toHaveLength(jobs.length);
    expect(new Set(ids).size).toBe(jobs.length);
    for (const claim of claims) {
      // Each claimer's share comes back oldest first.
      const times = claim.map((j) => j.nextAttemptAt);
      expect(times).toEqual([...times].sort((x, y) => x - y));
    }
    expect(await store.claimDueDeliveries(T0 + 100, 8, 60_000)).toEqual([]);
  });

  it('a claim that skips an endpoint reads past its backlog in large pages', async () => {
    const store = await newStore();
    for (let i = 0; i < 100; i++) {
      const rec = record('mb', `dead${i}`);
      await store.recordMessage(rec, [job(rec, 'dead', { nextAttemptAt: T0 + i })]);
    }
    const live = record('mb', 'live');
    const wanted = job(live, 'live', { nextAttemptAt: T0 + 1_000 });
    await store.recordMessage(live, [wanted]);
    const before = sent.length;
    const claimed = await store.claimDueDeliveries(T0 + 2_000, 2, 60_000, {
      skipEndpoints: [{ mailbox: 'mb', endpointId: 'dead' }],
    });
    expect(claimed).toEqual([wanted]);
    // One page for the 101 due jobs, and one more as the claim looks for a second job to take; in pages of the
    // claim's own size (32 at least) each of the two reads took four.
    expect(sent.slice(before).filter((name) => name === 'QueryCommand')).toHaveLength(2);
    await store.close();
  });

  it("one message's deliveries are one key range: a single Query, uids that prefix each other kept apart", async () => {
    const uids = ['a', 'a#2', 'a1', 'a 1', 'b'];
    for (const [i, uid] of uids.entries()) {
      const rec = record('mb', uid, { fetchedAt: T0 + i });
      await store.recordMessage(rec, [job(rec, 'ep1'), job(rec, 'ep2')]);
    }
    for (const uid of uids) {
      let jobs: DeliveryJob[] = [];
      expect(
        await costOf(async () => {
          jobs = await store.listDeliveries({ mailbox: 'mb', uid });
        }),
      ).toBe(1);
      expect(jobs.map((j) => [j.uid, j.endpointId]).sort()).toEqual([
        [uid, 'ep1'],
        [uid, 'ep2'],
      ]);
    }
    // The whole mailbox comes back in createdAt order, as from the local store.
    const all = await store.listDeliveries({ mailbox: 'mb', limit: 3 });
    expect(all.map((j) => j.uid)).toEqual(['a', 'a', 'a#2']);
  });

  it('getDelivery is one GetItem on the job key, at any queue size', async () => {
    for (let i = 0; i < 150; i++) {
      const rec = record('mb', `u${i}`, { fetchedAt: T0 + i });
      await store.recordMessage(rec, [job(rec, 'ep1')]);
    }
    const wanted = job(record('mb', 'u149', { fetchedAt: T0 + 149 }), 'ep1');
    const from = sent.length;
    let got: DeliveryJob | undefined;
    expect(
      await costOf(async () => {
        got = await store.getDelivery(wanted.webhookId);
      }),
    ).toBe(1);
    expect(sent.slice(from)).toEqual(['GetItemCommand']);
    expect(got).toEqual(wanted);
    expect(await costOf(() => store.getDelivery('msg_absent'))).toBe(1);
  });

  it('recordMessage with the same webhookId twice in one call keeps the first, like the local store', async () => {
    const rec = record('mb', 'u1');
    const first = job(rec, 'ep1');
    expect(await store.recordMessage(rec, [first, { ...first, attempts: 3 }])).toBe('created');
    expect(await store.listDeliveries({ mailbox: 'mb' })).toEqual([first]);
  });

  it('renaming to a uid that is already recorded fails and changes nothing', async () => {
    await store.recordMessage(record('mb', 'a'), []);
    await store.recordMessage(record('mb', 'b'), []);
    const err = await store.renameMessage('mb', 'a', 'b', 'b').catch((e: unknown) => e);
    expect(isBridgeError(err, 'STATE_ERR_IO')).toBe(true);
    const got = await store.getMessages('mb', ['a', 'b']);
    expect(got.get('a')).toEqual(record('mb', 'a'));
    expect(got.get('b')).toEqual(record('mb', 'b'));
  });

  it('renameMessage moves all of the most jobs a message can have (99), past the 100-action transaction', async () => {
    const rec = record('mb', 'old');
    const jobs = Array.from({ length: 99 }, (_, i) => job(rec, `ep${i}`));
    expect(await store.recordMessage(rec, jobs)).toBe('created');
    await store.renameMessage('mb', 'old', 'new', 'new');
    const moved = await store.listDeliveries({ mailbox: 'mb', uid: 'new' });
    expect(moved.map((j) => j.webhookId).sort()).toEqual(jobs.map((j) => j.webhookId).sort());
    expect(moved.every((j) => j.uid === 'new')).toBe(true);
    expect(await store.listDeliveries({ mailbox: 'mb', uid: 'old' })).toEqual([]);
  });

  it('updateDeliveries: one UpdateItem per patch; a partial failure is reported, naming the failed ids, the rest written', async () => {
    const jobs: DeliveryJob[] = [];
    for (let i = 0; i < 6; i++) {
      const rec = record('mb', `u${i}`);
      const j = job(rec, 'ep1');
      await store.recordMessage(rec, [j]);
      jobs.push(j);
    }
    const patches = jobs.map((j) => ({ webhookId: j.webhookId, patch: { status: 'delivered' as const, attempts: 1 } }));
    expect(await costOf(() => store.updateDeliveries(patches.slice(0, 3)))).toBe(3);

    // An item over DynamoDB's 400 KB limit: that one UpdateItem fails, the others must still be written.
    const tooBig = {
      webhookId: jobs[4]!.webhookId,
      patch: { status: 'failed' as const, lastError: 'x'.repeat(410_000) },
    };
    const error = await store.updateDeliveries([patches[3]!, tooBig, patches[5]!]).catch((e: unknown) => e);
    expect(isBridgeError(error, 'STATE_ERR_IO')).toBe(true);
    expect(error).toMatchObject({
      retryable: false,
      context: { operation: 'updateDeliveries', failed: 1, total: 3, webhookIds: jobs[4]!.webhookId },
    });
    expect((error as Error).message).toMatch(/1 of 3/);
    expect(await store.getDelivery(jobs[3]!.webhookId)).toMatchObject({ status: 'delivered' });
    expect(await store.getDelivery(jobs[5]!.webhookId)).toMatchObject({ status: 'delivered' });
    // (The oversized item's own state is not asserted: DynamoDB refuses it, moto 5.2 stores it and then errs.)
  });

  it('SDK failures become STATE_ERR_IO with the SDK error as cause (here: a table that does not exist)', async () => {
    const missing = new DynamoStateStore(clients, { table: uniqueName('absent'), bucket: store.bucket });
    const err = await missing.getMailboxState('mb').catch((e: unknown) => e);
    expect(isBridgeError(err, 'STATE_ERR_IO')).toBe(true);
    expect((err as Error).cause).toMatchObject({ name: 'ResourceNotFoundException' });
  });
});

describe('DynamoStateStore request log', () => {
  it('no test in this file ever sent a Scan', () => {
    expect(sent).toContain('QueryCommand');
    expect(sent).toContain('BatchGetItemCommand');
    expect(sent).toContain('TransactWriteItemsCommand');
    expect(sent.filter((name) => /scan/i.test(name))).toEqual([]);
  });
});
