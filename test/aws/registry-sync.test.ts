/**
 * The mailbox registry against moto (SSM + DynamoDB): what the registry
 * function writes for dispatch when SSM reports a change, and what its
 * reconcile repairs when events were missed, repeated or out of order.
 */
import { DeleteParameterCommand, PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AwsClients, createAwsClients } from '../../functions/aws/clients.js';
import { mailboxParameters } from '../../functions/aws/mailbox-parameters.js';
import { listRegistry, type RegistryTable } from '../../functions/aws/mailbox-registry.js';
import { type RegistrySync, registrySync } from '../../functions/aws/registry-sync.js';
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
  sync = registrySync({
    parameters: mailboxParameters(
      { region: moto.region, endpoint: moto.endpoint, credentials: moto.credentials },
      PATH,
    ),
    registry,
    logger: captureLogger(),
  });
});

afterAll(async () => {
  clients?.dynamo.destroy();
  ssm?.destroy();
  await moto?.stop();
});

describe('registry sync (moto SSM + DynamoDB)', () => {
  it('a change registers the parameter at its version; a repeated event changes nothing; an edit moves the version', async () => {
    await put('alpha', mailbox('alpha', { pollIntervalSeconds: 120 }));
    expect(await sync.refresh('alpha')).toBe('written');
    expect((await entries()).alpha).toEqual({ name: 'alpha', version: 1, enabled: true, pollIntervalSeconds: 120 });
    // EventBridge delivers at least once: the same event again is a no-op.
    expect(await sync.refresh('alpha')).toBe('unchanged');
    await put('alpha', mailbox('alpha', { enabled: false }));
    expect(await sync.refresh('alpha')).toBe('written');
    expect((await entries()).alpha).toEqual({ name: 'alpha', version: 2, enabled: false, pollIntervalSeconds: 300 });
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
    expect((await entries()).beta).toEqual({ name: 'beta', version: 2, enabled: true, pollIntervalSeconds: 300 });
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
    expect((await entries()).epsilon).toEqual({ name: 'epsilon', version: 1, enabled: true, pollIntervalSeconds: 900 });
  });

  it('reconcile registers parameters whose event never came and removes entries whose parameter is gone', async () => {
    await put('zeta', mailbox('zeta'));
    await remove('alpha');
    // A stale entry: edited twice with no event.
    await put('beta', mailbox('beta', { pollIntervalSeconds: 60 }));
    const result = await sync.reconcile();
    expect(result).toEqual({ parameters: 3, written: 2, deleted: 1 });
    const all = await entries();
    expect(Object.keys(all).sort()).toEqual(['beta', 'epsilon', 'zeta']);
    expect(all.beta).toMatchObject({ version: 3, pollIntervalSeconds: 60 });
    expect(all.zeta).toMatchObject({ version: 1, enabled: true });
    // Nothing left to do.
    expect(await sync.reconcile()).toEqual({ parameters: 3, written: 0, deleted: 0 });
  });
});
