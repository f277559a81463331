/**
 * The mailbox registry against moto (SSM + DynamoDB): what the registry
 * function writes for dispatch when SSM reports a change, and what its
 * reconcile repairs when events were missed, repeated or out of order.
 */
import { CreateKeyCommand, type KMSClient } from '@aws-sdk/client-kms';
import { DeleteParameterCommand, PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AwsClients, createAwsClients } from '../../functions/aws/clients.js';
import { dataKeySource, kmsClient } from '../../functions/aws/config-keys.js';
import { type MailboxConfigs, mailboxConfigs } from '../../functions/aws/mailbox-configs.js';
import { mailboxParameters } from '../../functions/aws/mailbox-parameters.js';
import { listRegistry, type RegistryTable } from '../../functions/aws/mailbox-registry.js';
import { RESEAL_AFTER_MS, type RegistrySync, registrySync } from '../../functions/aws/registry-sync.js';
import { getSealed, SEALED_SK, sealedPk } from '../../functions/aws/sealed-config-items.js';
import { createTable } from '../../functions/aws/table-schema.js';
import type { LogFields, Logger } from '../../functions/core/logger.js';
import { type Moto, startMoto, uniqueName } from '../support/moto.js';

const PATH = `/${uniqueName('reg')}/mailboxes/`;
const SECRET = 'registry-test-password-do-not-log';

let moto: Moto;
let clients: AwsClients;
let ssm: SSMClient;
let registry: RegistryTable;
let sync: RegistrySync;
let kms: KMSClient;
let configs: MailboxConfigs;
let configKeyId: string;
/** KMS and DynamoDB operations the config reader sent (counted by SDK middleware). */
const readerOps = new Map<string, number>();
const lines: Array<{ level: string; message: string; fields: LogFields | undefined }> = [];

function captureLogger(): Logger {
  const at =
    (level: string) =>
    (message: string, fields?: LogFields): void => {
      lines.push({ level, message, fields });
    };
  const logger: Logger = {
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    child: () => logger,
  };
  return logger;
}

function mailbox(name: string, overrides: Record<string, unknown> = {}): string {
  return JSON.stringify({
    name,
    host: '127.0.0.1',
    port: 995,
    tls: 'implicit',
    username: 'user',
    password: SECRET,
    webhooks: [
      { id: 'hook', url: 'https://127.0.0.1/hook', secret: `whsec_${Buffer.alloc(32, 7).toString('base64')}` },
    ],
    ...overrides,
  });
}

async function put(name: string, value: string): Promise<void> {
  await ssm.send(
    new PutParameterCommand({ Name: `${PATH}${name}`, Type: 'SecureString', Value: value, Overwrite: true }),
  );
}
async function remove(name: string): Promise<void> {
  await ssm.send(new DeleteParameterCommand({ Name: `${PATH}${name}` }));
}
async function entries(): Promise<Record<string, unknown>> {
  return Object.fromEntries((await listRegistry(registry)).map((e) => [e.name, e]));
}

beforeAll(async () => {
  moto = await startMoto();
  clients = createAwsClients({ region: moto.region, endpoint: moto.endpoint, credentials: moto.credentials });
  ssm = new SSMClient({ region: moto.region, endpoint: moto.endpoint, credentials: moto.credentials });
  const table = uniqueName('registry');
  await createTable(clients.dynamo, table);
  registry = { doc: clients.doc, table };
  const aws = { region: moto.region, endpoint: moto.endpoint, credentials: moto.credentials };
  kms = kmsClient(aws);
  const keyId = (await kms.send(new CreateKeyCommand({}))).KeyMetadata?.Arn ?? 'no key';
  configKeyId = keyId;
  sync = registrySync({
    parameters: mailboxParameters(aws, PATH),
    registry,
    logger: captureLogger(),
    dataKeys: dataKeySource(kms, keyId),
  });
  // The reader on clients of its own, so the counters see only its requests.
  const readerClients = createAwsClients(aws);
  const readerKms = kmsClient(aws);
  const count = (name: unknown) => readerOps.set(String(name), (readerOps.get(String(name)) ?? 0) + 1);
  readerClients.dynamo.middlewareStack.add(
    (next, context) => (args) => {
      count(context.commandName);
      return next(args);
    },
    { step: 'initialize' },
  );
  readerKms.middlewareStack.add(
    (next, context) => (args) => {
      count(context.commandName);
      return next(args);
    },
    { step: 'initialize' },
  );
  configs = mailboxConfigs({
    table: { doc: readerClients.doc, table },
    kms: readerKms,
    keyId,
    logger: captureLogger(),
  });
});

afterAll(async () => {
  clients?.dynamo.destroy();
  ssm?.destroy();
  kms?.destroy();
  await moto?.stop();
});

describe('registry sync (moto SSM + DynamoDB)', () => {
  it('a change registers the parameter at its version; a repeated event changes nothing; an edit moves the version', async () => {
    await put('alpha', mailbox('alpha', { pollIntervalSeconds: 120 }));
    expect(await sync.refresh('alpha')).toBe('written');
    expect((await entries()).alpha).toEqual({
      name: 'alpha',
      version: 1,
      enabled: true,
      pollIntervalSeconds: 120,
      sealed: true,
      sealedAt: expect.any(Number),
    });
    // EventBridge delivers at least once: the same event again is a no-op.
    expect(await sync.refresh('alpha')).toBe('unchanged');
    await put('alpha', mailbox('alpha', { enabled: false }));
    expect(await sync.refresh('alpha')).toBe('written');
    expect((await entries()).alpha).toEqual({
      name: 'alpha',
      version: 2,
      enabled: false,
      pollIntervalSeconds: 300,
      sealed: true,
      sealedAt: expect.any(Number),
    });
    // The first event arriving last reads SSM as it is now: still version 2.
    expect(await sync.refresh('alpha')).toBe('unchanged');
    expect((await entries()).alpha).toMatchObject({ version: 2 });
  });

  it('an invalid document is registered with its field and message, never a value, and skipped by dispatch', async () => {
    const mark = lines.length;
    await put('beta', mailbox('beta', { port: 70_000 }));
    await put('gamma', `{"name": "gamma", "password": "${SECRET}",`);
    await put('delta', mailbox('not-delta'));
    for (const name of ['beta', 'gamma', 'delta']) expect(await sync.refresh(name)).toBe('written');
    const all = await entries();
    expect(all.beta).toMatchObject({
      version: 1,
      enabled: false,
      invalid: { path: 'port', message: 'expected 1..65535' },
    });
    expect(all.gamma).toMatchObject({ invalid: { path: '(document)', message: 'not valid JSON' } });
    // A document naming another mailbox would poll under the wrong state.
    expect(all.delta).toMatchObject({ invalid: { path: 'name', message: 'must equal the parameter name' } });
    const problems = lines.slice(mark).filter((l) => l.message === 'mailbox config problem: mailbox skipped');
    expect(problems.map((l) => l.fields?.mailbox).sort()).toEqual(['beta', 'delta', 'gamma']);
    expect(JSON.stringify(lines)).not.toContain(SECRET);
    // Fixed: the entry loses its problem.
    await put('beta', mailbox('beta'));
    await sync.refresh('beta');
    expect((await entries()).beta).toEqual({
      name: 'beta',
      version: 2,
      enabled: true,
      pollIntervalSeconds: 300,
      sealed: true,
      sealedAt: expect.any(Number),
    });
    for (const name of ['gamma', 'delta']) {
      await remove(name);
      expect(await sync.refresh(name)).toBe('deleted');
    }
  });

  it('a delete event unregisters; a parameter deleted and created again (version 1 again) replaces the stale entry', async () => {
    await put('epsilon', mailbox('epsilon'));
    await put('epsilon', mailbox('epsilon', { pollIntervalSeconds: 600 }));
    await sync.refresh('epsilon');
    expect((await entries()).epsilon).toMatchObject({ version: 2 });
    await remove('epsilon');
    expect(await sync.refresh('epsilon')).toBe('deleted');
    expect((await entries()).epsilon).toBeUndefined();
    // Created again and edited (version 2), then deleted and created again with the delete event lost: the
    // stored version 2 is above SSM's 1, so it belongs to the deleted parameter and is replaced.
    await put('epsilon', mailbox('epsilon'));
    await put('epsilon', mailbox('epsilon'));
    await sync.refresh('epsilon');
    expect((await entries()).epsilon).toMatchObject({ version: 2 });
    await remove('epsilon');
    await put('epsilon', mailbox('epsilon', { pollIntervalSeconds: 900 }));
    expect(await sync.refresh('epsilon')).toBe('written');
    expect((await entries()).epsilon).toEqual({
      name: 'epsilon',
      version: 1,
      enabled: true,
      pollIntervalSeconds: 900,
      sealed: true,
      sealedAt: expect.any(Number),
    });
  });

  it('a refresh that read an older version before an edit does not write it over the newer one', async () => {
    // Two quick edits, two registry invocations: A reads version 1 and is slow; the operator disables the mailbox
    // (version 2); B refreshes and writes 2; then A goes on. A used to take the stored 2 for a deleted
    // parameter's and wrote 1 back over it: the disabled mailbox went on being polled until the reconcile.
    await put('iota', mailbox('iota'));
    const aws = { region: moto.region, endpoint: moto.endpoint, credentials: moto.credentials };
    const real = mailboxParameters(aws, PATH);
    let readDone!: () => void;
    const aRead = new Promise<void>((resolve) => {
      readDone = resolve;
    });
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let firstRead = true;
    const slow: typeof real = {
      ...real,
      read: async (name) => {
        const parameter = await real.read(name);
        if (firstRead) {
          firstRead = false;
          readDone();
          await gate;
        }
        return parameter;
      },
    };
    const deps = { registry, logger: captureLogger(), dataKeys: dataKeySource(kms, configKeyId) };
    const syncA = registrySync({ ...deps, parameters: slow });
    const a = syncA.refresh('iota');
    await aRead;
    await put('iota', mailbox('iota', { enabled: false }));
    expect(await sync.refresh('iota')).toBe('written');
    release();
    await a;
    expect((await entries()).iota).toMatchObject({ version: 2, enabled: false });
    expect((await getSealed(registry, 'iota'))?.version).toBe(2);
    // Gone again, so the reconcile below counts the parameters it always did.
    await remove('iota');
    expect(await sync.refresh('iota')).toBe('deleted');
  });

  it('reconcile registers parameters whose event never came and removes entries whose parameter is gone', async () => {
    await put('zeta', mailbox('zeta'));
    await remove('alpha');
    // A stale entry: edited twice with no event.
    await put('beta', mailbox('beta', { pollIntervalSeconds: 60 }));
    const result = await sync.reconcile();
    expect(result).toEqual({ parameters: 3, written: 2, deleted: 1, resealed: 0 });
    const all = await entries();
    expect(Object.keys(all).sort()).toEqual(['beta', 'epsilon', 'zeta']);
    expect(all.beta).toMatchObject({ version: 3, pollIntervalSeconds: 60 });
    expect(all.zeta).toMatchObject({ version: 1, enabled: true });
    // Nothing left to do.
    expect(await sync.reconcile()).toEqual({ parameters: 3, written: 0, deleted: 0, resealed: 0 });
  });

  it('a valid config is sealed beside its entry; poll reads it once per version (GetItem + one KMS Decrypt per data key), then from its cache', async () => {
    await put('eta', mailbox('eta'));
    await put('theta', mailbox('theta'));
    await sync.refresh('eta');
    await sync.refresh('theta');
    expect((await entries()).eta).toMatchObject({ version: 1, sealed: true, sealedAt: expect.any(Number) });
    const item = await getSealed(registry, 'eta');
    expect(item?.version).toBe(1);
    expect(Buffer.from(item?.sealed ?? []).toString('latin1')).not.toContain(SECRET);
    readerOps.clear();
    expect((await configs.mailboxAt('eta', 1))?.password).toBe(SECRET);
    // Both sealed under the registry's one data key: the second needs no KMS request.
    expect((await configs.mailboxAt('theta', 1))?.name).toBe('theta');
    expect(Object.fromEntries(readerOps)).toEqual({ GetItemCommand: 2, DecryptCommand: 1 });
    readerOps.clear();
    expect((await configs.mailboxAt('eta', 1))?.name).toBe('eta');
    expect(Object.fromEntries(readerOps)).toEqual({});
    // An edit: the job names version 2, read once.
    await put('eta', mailbox('eta', { port: 1995 }));
    await sync.refresh('eta');
    expect((await configs.mailboxAt('eta', 2))?.port).toBe(1995);
    expect(Object.fromEntries(readerOps)).toEqual({ GetItemCommand: 1 });
  });

  it('a sealed item moved to another mailbox or put back under another version does not open (CONFIG_ERR_SEALED), and nothing secret is logged', async () => {
    const mark = lines.length;
    const eta = await clients.doc.send(
      new GetCommand({ TableName: registry.table, Key: { pk: sealedPk('eta'), sk: SEALED_SK } }),
    );
    // Moved: eta's sealed config (version 2) copied over theta's (theta's version 2 does not exist yet).
    await clients.doc.send(
      new PutCommand({ TableName: registry.table, Item: { ...eta.Item, pk: sealedPk('theta'), version: 2 } }),
    );
    expect(await configs.mailboxAt('theta', 2)).toBeUndefined();
    // Replayed: eta's item relabelled as version 3.
    await clients.doc.send(new PutCommand({ TableName: registry.table, Item: { ...eta.Item, version: 3 } }));
    expect(await configs.mailboxAt('eta', 3)).toBeUndefined();
    // Tampered: one ciphertext bit.
    const tampered = Buffer.from(eta.Item?.sealed as Uint8Array);
    tampered[tampered.length - 1] = (tampered[tampered.length - 1] ?? 0) ^ 1;
    await clients.doc.send(
      new PutCommand({ TableName: registry.table, Item: { ...eta.Item, version: 4, sealed: tampered } }),
    );
    expect(await configs.mailboxAt('eta', 4)).toBeUndefined();
    const refused = lines
      .slice(mark)
      .filter((l) => l.message === 'sealed mailbox config does not open: mailbox skipped');
    expect(refused.map((l) => [l.fields?.mailbox, (l.fields?.error as { code?: string } | undefined)?.code])).toEqual([
      ['theta', 'CONFIG_ERR_SEALED'],
      ['eta', 'CONFIG_ERR_SEALED'],
      ['eta', 'CONFIG_ERR_SEALED'],
    ]);
    expect(JSON.stringify(lines)).not.toContain(SECRET);
    // The registry's next seal (a newer version than the forged item's) puts things right.
    await put('theta', mailbox('theta'));
    await put('theta', mailbox('theta'));
    await sync.refresh('theta');
    expect((await configs.mailboxAt('theta', 3))?.name).toBe('theta');
  });

  it('an invalid version removes the older sealed copy; a deleted parameter removes both items', async () => {
    await put('iota', mailbox('iota'));
    await sync.refresh('iota');
    expect(await getSealed(registry, 'iota')).toBeDefined();
    await put('iota', mailbox('iota', { port: 0 }));
    await sync.refresh('iota');
    expect(await getSealed(registry, 'iota')).toBeUndefined();
    expect(await configs.mailbox('iota')).toBeUndefined();
    await put('iota', mailbox('iota'));
    await sync.refresh('iota');
    expect((await getSealed(registry, 'iota'))?.version).toBe(3);
    await remove('iota');
    expect(await sync.refresh('iota')).toBe('deleted');
    expect(await getSealed(registry, 'iota')).toBeUndefined();
    expect((await entries()).iota).toBeUndefined();
  });

  it('reconcile seals configs older than a week again under the current data key, at the same version', async () => {
    const before = await getSealed(registry, 'eta');
    const entry = (await listRegistry(registry)).find((e) => e.name === 'eta');
    expect(entry?.sealedAt).toBeGreaterThan(0);
    // The same registry eight days on: its data key has expired too.
    const later = () => Date.now() + RESEAL_AFTER_MS + 24 * 60 * 60 * 1000;
    const keyId = configKeyId;
    const laterSync = registrySync({
      parameters: mailboxParameters(
        { region: moto.region, endpoint: moto.endpoint, credentials: moto.credentials },
        PATH,
      ),
      registry,
      logger: captureLogger(),
      dataKeys: dataKeySource(kms, keyId, later),
      clock: later,
    });
    const valid = (await listRegistry(registry)).filter((e) => e.invalid === undefined).length;
    const result = await laterSync.reconcile();
    expect(result).toMatchObject({ written: 0, deleted: 0, resealed: valid });
    const after = await getSealed(registry, 'eta');
    // At the registered version (the earlier test's forged version 4 is replaced: SSM is at 2).
    expect(after?.version).toBe(entry?.version);
    expect(Buffer.from(after?.encryptedKey ?? []).equals(Buffer.from(before?.encryptedKey ?? []))).toBe(false);
    expect((await listRegistry(registry)).find((e) => e.name === 'eta')?.sealedAt).toBeGreaterThan(
      entry?.sealedAt ?? 0,
    );
    // A fresh poll container opens it (one more data key), a warm one keeps its cached copy of the version.
    const fresh = mailboxConfigs({ table: registry, kms, keyId, logger: captureLogger() });
    expect((await fresh.mailboxAt('eta', after?.version ?? 0))?.name).toBe('eta');
    // Nothing left to re-seal until next week.
    expect(await laterSync.reconcile()).toMatchObject({ written: 0, resealed: 0 });
  });
});
