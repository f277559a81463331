import { describe, expect, it } from 'vitest';
import { deriveWebhookId } from '../../functions/config/schema.js';
import {
  type ConfigProblem,
  collectSecrets,
  formatPath,
  parseConfig,
  redact,
} from '../../functions/config/validate.js';
import { BridgeError, isBridgeError } from '../../functions/core/errors.js';

const SECRET = `whsec_${Buffer.alloc(32, 1).toString('base64')}`;
const SECRET2 = `whsec_${Buffer.alloc(24, 2).toString('base64')}`;

function mailbox(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: 'inbox',
    host: 'pop.example.com',
    username: 'user@example.com',
    password: 'pw-correct-horse',
    webhooks: [{ url: 'https://hooks.example.com/in', secret: SECRET }],
    ...overrides,
  };
}

/** Parses one mailbox and returns its problems as `path: message` lines. */
function problemsOf(overrides: Record<string, unknown>): string[] {
  const { problems } = parseConfig({ mailboxes: [mailbox(overrides)] });
  return problems.map((p: ConfigProblem) => `${p.path}: ${p.message}`);
}

function topLevelError(raw: unknown): BridgeError {
  try {
    parseConfig(raw);
  } catch (err) {
    if (isBridgeError(err)) return err;
    throw err;
  }
  throw new Error('expected parseConfig to throw');
}

describe('parseConfig: a valid mailbox', () => {
  it('applies every default and freezes the result', () => {
    const { config, problems, skipped } = parseConfig({ mailboxes: [mailbox()] });
    expect(problems).toEqual([]);
    expect(skipped).toEqual([]);
    expect(config.store).toEqual({ dir: '.pop3-bridge' });
    expect(config.webhookAllowList).toEqual([]);
    expect(config.links).toEqual({ listen: '127.0.0.1:8025', ttlSeconds: 604_800, inlineMaxBytes: 0 });
    expect(config.events).toEqual({ maxBodyBytes: 262_144 });
    const m = config.mailboxes[0]!;
    expect(m).toMatchObject({
      port: 995,
      tls: 'implicit',
      allowInsecureAuth: false,
      method: 'auto',
      mode: 'leave',
      pollIntervalSeconds: 300,
      caps: {},
      enabled: true,
    });
    expect(m.webhooks[0]).toEqual({
      id: deriveWebhookId('https://hooks.example.com/in'),
      url: 'https://hooks.example.com/in',
      secret: [SECRET],
      allowHttp: false,
      timeoutSeconds: 15,
    });
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(m.webhooks[0]!.secret)).toBe(true);
  });

  it.each([
    ['implicit', 995],
    ['starttls', 110],
  ] as const)('defaults the port for tls %s to %d', (tls, port) => {
    expect(parseConfig({ mailboxes: [mailbox({ tls })] }).config.mailboxes[0]!.port).toBe(port);
  });

  it('defaults the port for tls none to 110 and accepts it with allowInsecureAuth', () => {
    const { config, problems } = parseConfig({ mailboxes: [mailbox({ tls: 'none', allowInsecureAuth: true })] });
    expect(problems).toEqual([]);
    expect(config.mailboxes[0]!.port).toBe(110);
  });

  it('keeps an explicit port, normalizes fingerprints, and lists secrets and filters', () => {
    const pin = Array.from({ length: 32 }, () => 'AB').join(':');
    const { config, problems } = parseConfig({
      mailboxes: [
        mailbox({
          port: 1995,
          host: '192.0.2.10',
          servername: 'pop.example.com',
          pinnedSha256: [pin],
          webhooks: [
            {
              id: 'crm',
              url: 'https://h.example/x',
              secret: [SECRET, SECRET2],
              filters: { from: '*@example.com', subject: ['/^re:/i', 'invoice*'] },
            },
          ],
        }),
      ],
    });
    expect(problems).toEqual([]);
    const m = config.mailboxes[0]!;
    expect(m.port).toBe(1995);
    expect(m.servername).toBe('pop.example.com');
    expect(m.pinnedSha256).toEqual(['ab'.repeat(32)]);
    expect(m.webhooks[0]).toMatchObject({
      id: 'crm',
      secret: [SECRET, SECRET2],
      filters: { from: ['*@example.com'], subject: ['/^re:/i', 'invoice*'] },
    });
  });

  it.each([
    [{ provider: 'microsoft', tenantId: 't', clientId: 'c', clientSecret: 's3cr3t-value' }, 'xoauth2'],
    [{ provider: 'google', clientId: 'c', clientSecret: 's3cr3t-value', refreshToken: 'r3fr3sh-value' }, 'oauthbearer'],
    [{ provider: 'static', accessToken: 'acc3ss-value' }, 'auto'],
  ])('accepts oauth2 %o with method %s', (oauth2, method) => {
    const { config, problems } = parseConfig({ mailboxes: [mailbox({ password: undefined, oauth2, method })] });
    expect(problems).toEqual([]);
    expect(config.mailboxes[0]!.oauth2?.provider).toBe(oauth2.provider);
  });

  it.each([
    [{ provider: 'microsoft', tenantId: 't', clientId: 'c', clientSecret: 's3cr3t-value' }],
    [{ provider: 'google', clientId: 'c', clientSecret: 's3cr3t-value', refreshToken: 'r3fr3sh-value' }],
  ])('keeps an https oauth2.tokenUrl for the token source (%o)', (oauth2) => {
    const tokenUrl = 'https://login.microsoftonline.us/tenant/oauth2/v2.0/token';
    const { config, problems } = parseConfig({
      mailboxes: [mailbox({ password: undefined, oauth2: { ...oauth2, tokenUrl } })],
    });
    expect(problems).toEqual([]);
    expect(config.mailboxes[0]!.oauth2).toMatchObject({ tokenUrl });
  });

  it.each([
    ['http://login.example.com/token', 'mailboxes[0].oauth2.tokenUrl: expected an absolute https URL'],
    ['not a url', 'mailboxes[0].oauth2.tokenUrl: expected an absolute https URL'],
    [42, 'mailboxes[0].oauth2.tokenUrl: expected an absolute https URL'],
  ])('refuses oauth2.tokenUrl %o', (tokenUrl, message) => {
    const oauth2 = { provider: 'microsoft', tenantId: 't', clientId: 'c', clientSecret: 's3cr3t-value', tokenUrl };
    const { problems } = parseConfig({ mailboxes: [mailbox({ password: undefined, oauth2 })] });
    expect(problems.map((p) => `${p.path}: ${p.message}`)).toEqual([message]);
  });

  it('has no oauth2.tokenUrl for a static token (nothing is fetched)', () => {
    const oauth2 = { provider: 'static', accessToken: 'acc3ss-value', tokenUrl: 'https://example.com/token' };
    const { problems } = parseConfig({ mailboxes: [mailbox({ password: undefined, oauth2 })] });
    expect(problems).toEqual([{ path: 'mailboxes[0].oauth2.tokenUrl', message: 'unknown field' }]);
  });

  it('defaults the Microsoft scope', () => {
    const oauth2 = { provider: 'microsoft', tenantId: 't', clientId: 'c', clientSecret: 'x' };
    const m = parseConfig({ mailboxes: [mailbox({ password: undefined, oauth2 })] }).config.mailboxes[0]!;
    expect(m.oauth2).toMatchObject({ scope: 'https://outlook.office365.com/.default' });
  });

  it('accepts the leave/delete mode options in their own mode', () => {
    const { problems } = parseConfig({
      mailboxes: [
        mailbox({ name: 'a', mode: 'leave', retentionDays: 30 }),
        mailbox({ name: 'b', mode: 'delete', deleteAfterDelivered: true }),
        mailbox({ name: 'c', sizeLimit: { maxBytes: 1000, action: 'headers-only' }, caps: { maxBytesPerRun: 10 } }),
      ],
    });
    expect(problems).toEqual([]);
  });
});

describe('parseConfig: every rule names its exact path', () => {
  const SHA = 'ab'.repeat(32);
  it.each<[string, Record<string, unknown>, string]>([
    ['port too big', { port: 65536 }, 'mailboxes[0].port: expected 1..65535'],
    ['port zero', { port: 0 }, 'mailboxes[0].port: expected 1..65535'],
    ['port fraction', { port: 99.5 }, 'mailboxes[0].port: expected 1..65535'],
    ['port as string', { port: '995' }, 'mailboxes[0].port: expected number, got string'],
    ['bad name', { name: 'has space' }, 'mailboxes[0].name: expected 1..64 of A-Z a-z 0-9 . _ -'],
    ['long name', { name: 'a'.repeat(65) }, 'mailboxes[0].name: expected 1..64 of A-Z a-z 0-9 . _ -'],
    ['dot name', { name: '..' }, "mailboxes[0].name: '.' and '..' are reserved"],
    ['missing host', { host: undefined }, 'mailboxes[0].host: required'],
    ['bad host', { host: 'pop3://x' }, 'mailboxes[0].host: expected a host name or IP address'],
    ['bad tls', { tls: 'ssl' }, 'mailboxes[0].tls: expected "implicit" | "starttls" | "none"'],
    [
      'tls none without allowInsecureAuth',
      { tls: 'none' },
      "mailboxes[0].tls: tls 'none' sends credentials in clear text: the client refuses to log in unless allowInsecureAuth is true",
    ],
    [
      'pin without TLS',
      { tls: 'none', allowInsecureAuth: true, pinnedSha256: [SHA] },
      "mailboxes[0].tls: ca, pinnedSha256 and servername need TLS; tls is 'none'",
    ],
    ['servername as IP', { servername: '10.0.0.1' }, 'mailboxes[0].servername: expected a host name'],
    [
      'servername without TLS',
      { tls: 'none', allowInsecureAuth: true, servername: 'pop.example.com' },
      "mailboxes[0].tls: ca, pinnedSha256 and servername need TLS; tls is 'none'",
    ],
    [
      'bad fingerprint',
      { pinnedSha256: ['abc'] },
      'mailboxes[0].pinnedSha256[0]: expected a SHA-256 fingerprint (64 hex digits, colons allowed)',
    ],
    [
      'bad ca',
      { ca: '-----BEGIN PRIVATE KEY-----\nx' },
      'mailboxes[0].ca: expected a PEM file path or PEM certificate text',
    ],
    ['bad method', { method: 'ntlm' }, 'mailboxes[0].method'],
    ['missing username', { username: undefined }, 'mailboxes[0].username: required'],
    ['xoauth2 without oauth2', { method: 'xoauth2' }, 'mailboxes[0].oauth2: method xoauth2 requires oauth2'],
    [
      'oauthbearer without oauth2',
      { method: 'oauthbearer' },
      'mailboxes[0].oauth2: method oauthbearer requires oauth2',
    ],
    [
      'apop without password',
      { method: 'apop', password: undefined },
      'mailboxes[0].password: method apop requires password',
    ],
    [
      'cram-md5 with oauth2 only',
      { method: 'cram-md5', password: undefined, oauth2: { provider: 'static', accessToken: 'tok-xyz' } },
      'mailboxes[0].password: method cram-md5 requires password',
    ],
    ['no credentials', { password: undefined }, 'mailboxes[0].password: expected password or oauth2'],
    [
      'both credentials',
      { oauth2: { provider: 'static', accessToken: 'tok-xyz' } },
      'mailboxes[0].oauth2: set either password or oauth2, not both',
    ],
    ['empty password', { password: '' }, 'mailboxes[0].password: expected a non-empty string'],
    [
      'unknown provider',
      { password: undefined, oauth2: { provider: 'yahoo' } },
      "mailboxes[0].oauth2.provider: expected provider 'microsoft' | 'google' | 'static'",
    ],
    [
      'microsoft without tenant',
      { password: undefined, oauth2: { provider: 'microsoft', clientId: 'c', clientSecret: 's' } },
      'mailboxes[0].oauth2.tenantId: required',
    ],
    [
      'google without refresh token',
      { password: undefined, oauth2: { provider: 'google', clientId: 'c', clientSecret: 's' } },
      'mailboxes[0].oauth2.refreshToken: required',
    ],
    ['bad mode', { mode: 'move' }, 'mailboxes[0].mode: expected "leave" | "delete"'],
    [
      'retention in delete mode',
      { mode: 'delete', retentionDays: 7 },
      'mailboxes[0].retentionDays: only for mode leave (delete mode keeps nothing)',
    ],
    ['retention zero', { retentionDays: 0 }, 'mailboxes[0].retentionDays: expected a positive integer'],
    [
      'deleteAfterDelivered in leave mode',
      { deleteAfterDelivered: true },
      'mailboxes[0].deleteAfterDelivered: only for mode delete',
    ],
    ['poll too often', { pollIntervalSeconds: 29 }, 'mailboxes[0].pollIntervalSeconds: expected an integer ≥ 30'],
    [
      'bad size action',
      { sizeLimit: { maxBytes: 10, action: 'truncate' } },
      'mailboxes[0].sizeLimit.action: expected "skip" | "delete" | "headers-only"',
    ],
    [
      'size limit zero',
      { sizeLimit: { maxBytes: 0, action: 'skip' } },
      'mailboxes[0].sizeLimit.maxBytes: expected a positive integer',
    ],
    [
      'negative cap',
      { caps: { maxMessagesPerRun: -1 } },
      'mailboxes[0].caps.maxMessagesPerRun: expected a positive integer',
    ],
    ['no webhooks', { webhooks: [] }, 'mailboxes[0].webhooks: expected at least one webhook'],
    [
      'http webhook',
      { webhooks: [{ url: 'http://h.example/x', secret: SECRET }] },
      'mailboxes[0].webhooks[0].url: http is refused unless allowHttp is true; use https',
    ],
    [
      'relative webhook URL',
      { webhooks: [{ url: '/hook', secret: SECRET }] },
      'mailboxes[0].webhooks[0].url: expected an absolute http(s) URL',
    ],
    [
      'ftp webhook',
      { webhooks: [{ url: 'ftp://h.example/x', secret: SECRET }] },
      'mailboxes[0].webhooks[0].url: expected an http(s) URL',
    ],
    [
      'secret without prefix',
      { webhooks: [{ url: 'https://h.example/x', secret: 'plain-secret-value' }] },
      'mailboxes[0].webhooks[0].secret: expected whsec_ followed by base64 of 24..64 bytes',
    ],
    [
      'short secret in a rotation list',
      { webhooks: [{ url: 'https://h.example/x', secret: [SECRET, 'whsec_c2hvcnQ='] }] },
      'mailboxes[0].webhooks[0].secret[1]: expected whsec_ followed by base64 of 24..64 bytes',
    ],
    [
      'bad webhook id',
      { webhooks: [{ id: 'a/b', url: 'https://h.example/x', secret: SECRET }] },
      'mailboxes[0].webhooks[0].id: expected 1..64 of A-Z a-z 0-9 . _ -',
    ],
    [
      'duplicate derived webhook id',
      {
        webhooks: [
          { url: 'https://h.example/x', secret: SECRET },
          { url: 'https://h.example/x', secret: SECRET2 },
        ],
      },
      'mailboxes[0].webhooks[1].id: duplicate webhook id (same as webhooks[0]); give each webhook its own id',
    ],
    [
      'regex filter that does not compile',
      { webhooks: [{ url: 'https://h.example/x', secret: SECRET, filters: { subject: '/(/' } }] },
      'mailboxes[0].webhooks[0].filters.subject: expected a glob or a /regex/ that compiles',
    ],
    [
      'unknown filter field',
      { webhooks: [{ url: 'https://h.example/x', secret: SECRET, filters: { body: 'x' } }] },
      'mailboxes[0].webhooks[0].filters.body: unknown field',
    ],
    ['unknown mailbox field (typo)', { pasword: 'x' }, 'mailboxes[0].pasword: unknown field'],
    ['enabled as string', { enabled: 'yes' }, 'mailboxes[0].enabled: expected boolean, got string'],
  ])('%s', (_label, overrides, expected) => {
    const lines = problemsOf(overrides);
    expect(
      lines.some((line) => line.startsWith(expected)),
      `${expected}\nnot in\n${lines.join('\n')}`,
    ).toBe(true);
  });

  it('lists every problem of a mailbox at once, cross-field rules included', () => {
    const lines = problemsOf({ port: 0, tls: 'none', mode: 'delete', retentionDays: 3 });
    expect(lines).toEqual(
      expect.arrayContaining([
        'mailboxes[0].port: expected 1..65535',
        expect.stringMatching(/^mailboxes\[0\]\.tls: tls 'none'/),
        'mailboxes[0].retentionDays: only for mode leave (delete mode keeps nothing)',
      ]),
    );
  });
});

describe('parseConfig: skipping', () => {
  it('skips one bad mailbox and returns the others', () => {
    const { config, problems, skipped } = parseConfig({
      mailboxes: [
        mailbox({ name: 'a' }),
        mailbox({ name: 'b' }),
        mailbox({ name: 'c', port: 70000 }),
        mailbox({ name: 'd' }),
      ],
    });
    expect(config.mailboxes.map((m) => m.name)).toEqual(['a', 'b', 'd']);
    expect(skipped).toEqual(['c']);
    expect(problems).toEqual([{ path: 'mailboxes[2].port', message: 'expected 1..65535' }]);
  });

  it('names a mailbox by position when its name is unusable', () => {
    const { skipped } = parseConfig({ mailboxes: [mailbox({ name: 'a' }), 42, mailbox({ name: 'bad name' })] });
    expect(skipped).toEqual(['mailboxes[1]', 'mailboxes[2]']);
  });

  it('keeps the first of mailboxes sharing a name (case-insensitively), even when the first is invalid', () => {
    const { config, problems, skipped } = parseConfig({
      mailboxes: [
        mailbox({ name: 'Sales', port: 0 }),
        mailbox({ name: 'sales' }),
        mailbox({ name: 'x' }),
        mailbox({ name: 'x' }),
      ],
    });
    expect(config.mailboxes.map((m) => m.name)).toEqual(['x']);
    expect(skipped).toEqual(['Sales', 'sales', 'x']);
    expect(problems).toContainEqual({
      path: 'mailboxes[1].name',
      message: 'duplicate name (first used by mailboxes[0])',
    });
    expect(problems).toContainEqual({
      path: 'mailboxes[3].name',
      message: 'duplicate name (first used by mailboxes[2])',
    });
  });

  it('returns an empty list when every mailbox is bad (the caller decides)', () => {
    const { config, skipped } = parseConfig({ mailboxes: [mailbox({ port: -1 })] });
    expect(config.mailboxes).toEqual([]);
    expect(skipped).toEqual(['inbox']);
  });
});

describe('parseConfig: the top level is strict', () => {
  it('throws CONFIG_ERR_INVALID listing every top-level problem', () => {
    const err = topLevelError({
      mailboxes: {},
      store: { dir: '', extra: 1 },
      webhookAllowList: ['10.0.0.0/40'],
      mailbox: [],
      events: { maxBodyBytes: 1000 },
    });
    expect(err.code).toBe('CONFIG_ERR_INVALID');
    expect(err.message.split('\n').slice(1).sort()).toEqual(
      [
        'mailbox: unknown field',
        'mailboxes: expected array, got object',
        'events.maxBodyBytes: expected 32768..1048576',
        'store.dir: expected a non-empty string',
        'store.extra: unknown field',
        'webhookAllowList[0]: expected a CIDR, an IP address, a host name or *.domain',
      ].sort(),
    );
  });

  it.each([null, 5, 'text', [], {}])('rejects %o at the root', (raw) => {
    expect(topLevelError(raw).code).toBe('CONFIG_ERR_INVALID');
  });

  it('accepts the allow-list forms and a $schema key', () => {
    const { config } = parseConfig({
      $schema: './config.schema.json',
      mailboxes: [],
      webhookAllowList: ['10.0.0.0/8', 'fd00::/8', '192.168.1.5', '::1', 'hooks.internal', '*.corp.example'],
    });
    expect(config.webhookAllowList).toHaveLength(6);
    expect(config).not.toHaveProperty('$schema');
  });
});

describe('parseConfig: secrets never appear in problems', () => {
  const secrets = {
    password: 'P@ssw0rd-LEAK-1',
    clientSecret: 'CLIENT-SECRET-LEAK-2',
    refreshToken: 'REFRESH-LEAK-3',
    accessToken: 'ACCESS-LEAK-4',
    webhook: 'whsec_LEAK5notbase64!!',
  };
  const leaks = (text: string) => Object.values(secrets).filter((s) => text.includes(s));

  it('when the secrets themselves are wrong', () => {
    const { problems } = parseConfig({
      mailboxes: [
        mailbox({ name: 'a', password: secrets.password, method: 'xoauth2', port: secrets.password }),
        mailbox({
          name: 'b',
          password: undefined,
          oauth2: {
            provider: 'google',
            clientId: 5,
            clientSecret: secrets.clientSecret,
            refreshToken: secrets.refreshToken,
            x: 1,
          },
          tls: secrets.clientSecret,
        }),
        mailbox({
          name: 'c',
          password: undefined,
          oauth2: { provider: secrets.accessToken, accessToken: secrets.accessToken },
        }),
        mailbox({ name: 'd', webhooks: [{ url: secrets.password, secret: [secrets.webhook, 42] }] }),
        mailbox({ name: 'e', password: 12345678, method: secrets.password, host: secrets.refreshToken }),
      ],
    });
    expect(problems.length).toBeGreaterThan(5);
    const all = JSON.stringify(problems);
    expect(leaks(all)).toEqual([]);
  });

  it('when a secret is put where another value belongs (the message would echo it)', () => {
    const { problems } = parseConfig({
      mailboxes: [
        mailbox({ password: secrets.password, name: secrets.password, mode: secrets.password, tls: secrets.password }),
      ],
    });
    expect(leaks(JSON.stringify(problems))).toEqual([]);
  });

  it('in top-level errors', () => {
    const err = topLevelError({ mailboxes: [mailbox({ password: secrets.password })], store: secrets.password });
    expect(leaks(err.message)).toEqual([]);
    expect(leaks(JSON.stringify(err.toJSON()))).toEqual([]);
  });
});

describe('formatPath', () => {
  it.each<[PropertyKey[], string]>([
    [[], '(root)'],
    [['mailboxes', 2, 'port'], 'mailboxes[2].port'],
    [['a-b', 0], '["a-b"][0]'],
  ])('%o → %s', (path, expected) => {
    expect(formatPath(path)).toBe(expected);
  });
});

it('BridgeError is what parseConfig throws', () => {
  expect(() => parseConfig(undefined)).toThrow(BridgeError);
});

describe('redaction backstop', () => {
  it('collects credentials and URLs at any depth and blanks them out of text', () => {
    const secrets = collectSecrets({
      password: 'pw-1234',
      oauth2: { clientSecret: 'cs-1234', refreshToken: 'rt-1234' },
      webhooks: [{ url: 'https://h.example/?token=abcd', secret: ['whsec_one', 'whsec_two'] }],
      name: 'not-a-secret',
      short: { password: 'abc' },
    });
    expect([...secrets].sort()).toEqual(
      ['cs-1234', 'https://h.example/?token=abcd', 'pw-1234', 'rt-1234', 'whsec_one', 'whsec_two'].sort(),
    );
    expect(redact('got pw-1234 and whsec_two', secrets)).toBe('got [redacted] and [redacted]');
  });
});
