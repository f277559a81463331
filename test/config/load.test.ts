// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${VAR} in plain strings is the syntax under test
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, parseConfigText, substituteEnv } from '../../functions/config/load.js';
import { type BridgeError, isBridgeError } from '../../functions/core/errors.js';

const SECRET = `whsec_${Buffer.alloc(32, 9).toString('base64')}`;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pop3-bridge-config-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function write(name: string, text: string): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, text);
  return file;
}

async function rejection(promise: Promise<unknown>): Promise<BridgeError> {
  try {
    await promise;
  } catch (err) {
    if (isBridgeError(err)) return err;
    throw err;
  }
  throw new Error('expected a rejection');
}

function thrown(fn: () => unknown): BridgeError {
  try {
    fn();
  } catch (err) {
    if (isBridgeError(err)) return err;
    throw err;
  }
  throw new Error('expected a throw');
}

describe('loadConfig', () => {
  it('reads a JSON file', async () => {
    const file = await write(
      'good.json',
      JSON.stringify({
        $schema: '../docs/config.schema.json',
        store: { dir: '/var/lib/bridge' },
        mailboxes: [
          {
            name: 'inbox',
            host: 'pop.example.com',
            tls: 'starttls',
            username: 'u',
            password: '${POP_PW}',
            webhooks: [{ url: 'https://h.example/x', secret: '${HOOK_SECRET}' }],
          },
        ],
      }),
    );
    const { config, problems } = await loadConfig(file, { env: { POP_PW: 'pw from env', HOOK_SECRET: SECRET } });
    expect(problems).toEqual([]);
    expect(config.store.dir).toBe('/var/lib/bridge');
    expect(config.mailboxes[0]).toMatchObject({ port: 110, password: 'pw from env', webhooks: [{ secret: [SECRET] }] });
  });

  it('reads a YAML file', async () => {
    const file = await write(
      'good.yaml',
      [
        'mailboxes:',
        '  - name: support',
        '    host: pop.example.com',
        '    username: support@example.com',
        '    password: "${POP_PW}"',
        '    mode: delete',
        '    deleteAfterDelivered: true',
        '    webhooks:',
        '      - url: https://hooks.example.com/a',
        '        secret: [ "${HOOK_SECRET}" ]',
        '',
      ].join('\n'),
    );
    const { config, problems } = await loadConfig(file, { env: { POP_PW: 'x', HOOK_SECRET: SECRET } });
    expect(problems).toEqual([]);
    expect(config.mailboxes[0]).toMatchObject({
      name: 'support',
      port: 995,
      mode: 'delete',
      deleteAfterDelivered: true,
    });
  });

  it('a mailbox whose ${VAR} is unset is skipped with the variable named; the others load (promise 5)', async () => {
    const hook = { url: 'https://hooks.example.com/a', secret: SECRET };
    const file = await write(
      'env.json',
      JSON.stringify({
        mailboxes: [
          { name: 'lab', host: 'pop.example.com', username: 'u', password: '${LAB_PW}', webhooks: [hook] },
          { name: 'support', host: 'pop.example.com', username: 'u', password: '${POP_PW}', webhooks: [hook] },
        ],
      }),
    );
    // Before, the unset LAB_PW failed the whole file, so no mailbox ran.
    const { config, problems, skipped } = await loadConfig(file, { env: { POP_PW: 'pw' } });
    expect(config.mailboxes.map((m) => m.name)).toEqual(['support']);
    expect(config.mailboxes[0]?.password).toBe('pw');
    expect(skipped).toEqual(['lab']);
    expect(problems).toEqual([{ path: 'mailboxes[0].password', message: 'environment variable LAB_PW is not set' }]);
    // In the top level it still fails the file: every mailbox depends on it.
    const top = await write('top.json', JSON.stringify({ store: { dir: '${STORE}' }, mailboxes: [] }));
    expect((await rejection(loadConfig(top, { env: {} }))).code).toBe('CONFIG_ERR_ENV');
  });

  it('loads the documented example with its variables set', async () => {
    const example = fileURLToPath(new URL('../../docs/examples/config.example.yaml', import.meta.url));
    const env = Object.fromEntries(
      [
        'SUPPORT_POP3_PASSWORD',
        'SUPPORT_WEBHOOK_SECRET',
        'INVOICES_CLIENT_SECRET',
        'INVOICES_WEBHOOK_SECRET',
        'INVOICES_WEBHOOK_SECRET_OLD',
        'LAB_POP3_PASSWORD',
        'LAB_WEBHOOK_SECRET',
      ].map((name) => [name, name.includes('WEBHOOK') ? SECRET : 'value']),
    );
    const { config, problems } = await loadConfig(example, { env });
    expect(problems).toEqual([]);
    expect(config.mailboxes.map((m) => m.name)).toEqual(['support', 'invoices', 'lab']);
  });

  it('reports a missing file as CONFIG_ERR_READ with the errno code', async () => {
    const err = await rejection(loadConfig(join(dir, 'nope.yaml'), { env: {} }));
    expect(err.code).toBe('CONFIG_ERR_READ');
    expect(err.message).toContain('ENOENT');
  });

  it('reports invalid JSON by position without quoting the text', async () => {
    const file = await write('bad.json', '{\n  "mailboxes": [],\n  "password": hunter2-secret\n}');
    const err = await rejection(loadConfig(file, { env: {} }));
    expect(err.code).toBe('CONFIG_ERR_READ');
    expect(err.message).toMatch(/not valid JSON/);
    expect(err.message).not.toContain('hunter2');
    expect(err.cause).toBeUndefined();
  });

  it('reports invalid YAML by line without quoting the text', async () => {
    const file = await write('bad.yaml', 'mailboxes:\n  - password: "hunter2-secret\n    host: [x\n');
    const err = await rejection(loadConfig(file, { env: {} }));
    expect(err.code).toBe('CONFIG_ERR_READ');
    expect(err.message).toMatch(/not valid YAML: \w+ \(line \d+, column \d+\)/);
    expect(err.message).not.toContain('hunter2');
  });

  it('reads a file that starts with a UTF-8 byte-order mark (Windows Notepad writes one)', () => {
    expect(parseConfigText('\uFEFF{"a": 1}', 'json')).toEqual({ a: 1 });
    expect(parseConfigText('\uFEFFa: 1\n', 'yaml')).toEqual({ a: 1 });
  });

  it('rejects repeated YAML keys', () => {
    expect(thrown(() => parseConfigText('a: 1\na: 2\n', 'yaml')).code).toBe('CONFIG_ERR_READ');
  });

  it('bounds YAML alias expansion', () => {
    const bomb = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 12; i++)
      bomb.push(
        `${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(10)
          .fill(`*${String.fromCharCode(96 + i)}`)
          .join(', ')}]`,
      );
    expect(thrown(() => parseConfigText(bomb.join('\n'), 'yaml')).code).toBe('CONFIG_ERR_READ');
  });
});

describe('substituteEnv', () => {
  const env = { A: 'alpha', B: 'beta', EMPTY: '' };

  it('substitutes in string values, anywhere in the string, nested in arrays and objects', () => {
    expect(
      substituteEnv({ x: 'pre-${A}-${B}-post', list: ['${A}', { y: '${EMPTY}' }], n: 5, t: true, z: null }, env),
    ).toEqual({
      x: 'pre-alpha-beta-post',
      list: ['alpha', { y: '' }],
      n: 5,
      t: true,
      z: null,
    });
  });

  it('leaves keys alone', () => {
    expect(substituteEnv({ '${A}': 'v' }, env)).toEqual({ '${A}': 'v' });
  });

  it('turns $${ into a literal ${ and does not substitute after it', () => {
    expect(substituteEnv({ p: 'a$${A}b', q: '$$${A}', r: 'cost $5 and $B' }, env)).toEqual({
      p: 'a${A}b',
      q: '$${A}',
      r: 'cost $5 and $B',
    });
  });

  it('does not substitute recursively (a value containing ${X} stays as it is)', () => {
    expect(substituteEnv({ p: '${A}' }, { A: '${B}', B: 'no' })).toEqual({ p: '${B}' });
  });

  it('reports every unset variable with its path, and no value', () => {
    const err = thrown(() =>
      substituteEnv({ mailboxes: [{ password: 'secret-prefix-${PW1}' }, { oauth2: { clientSecret: '${PW2}' } }] }, env),
    );
    expect(err.code).toBe('CONFIG_ERR_ENV');
    expect(err.message.split('\n').slice(1)).toEqual([
      'mailboxes[0].password: environment variable PW1 is not set',
      'mailboxes[1].oauth2.clientSecret: environment variable PW2 is not set',
    ]);
    expect(err.message).not.toContain('secret-prefix');
  });

  it.each(['${}', '${A', '${1A}', '${A-B}'])('reports a malformed reference %s', (text) => {
    const err = thrown(() => substituteEnv({ v: text }, env));
    expect(err.code).toBe('CONFIG_ERR_ENV');
    expect(err.message).toContain('v: malformed');
  });

  it('ignores inherited properties of the env object', () => {
    expect(thrown(() => substituteEnv({ v: '${toString}' }, {})).code).toBe('CONFIG_ERR_ENV');
  });

  it('keeps a __proto__ key as data', () => {
    const out = substituteEnv(JSON.parse('{"__proto__": {"polluted": "${A}"}}'), env) as Record<string, unknown>;
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(Object.hasOwn(out, '__proto__')).toBe(true);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
