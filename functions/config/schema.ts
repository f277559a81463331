/**
 * The configuration schema: one shape for local mode (a JSON/YAML file) and
 * AWS mode (an SSM parameter). `parseConfig` in `validate.ts` is the only
 * supported way in; it validates each mailbox on its own so one bad mailbox
 * does not stop the others.
 *
 * Messages written here never include the value that was received: zod is
 * told what to say, and `validate.ts` supplies the fallback for the rest.
 */
import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
// A namespace import, not `import { z }`: esbuild tree-shakes `z.string`…
// property reads on a namespace, but the `z` re-export object drags in all of
// zod (locales, JSON Schema, ISO formats): 455 kB → 94 kB in each Lambda bundle.
import * as z from 'zod';
import { DEFAULT_EVENT_LIMITS, MAX_BODY_BYTES, MIN_BODY_BYTES } from '../events/limits.js';
import { HOSTNAME, isAllowListEntry, isHost } from './hosts.js';
import { MAX_WEBHOOK_TIMEOUT_SECONDS } from './webhook-limits.js';

/** Mailbox names and webhook ids: used in store keys and state rows. */
export const NAME_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

/** Keys whose values are credentials. Their values never reach a problem message. */
export const SECRET_KEYS = ['password', 'clientSecret', 'refreshToken', 'accessToken', 'secret'] as const;

export const TLS_MODES = ['implicit', 'starttls', 'none'] as const;
export const AUTH_METHODS = ['auto', 'user', 'apop', 'plain', 'login', 'cram-md5', 'xoauth2', 'oauthbearer'] as const;
/** Methods that authenticate with an OAuth2 access token; every other explicit method needs `password`. */
export const OAUTH_METHODS: ReadonlySet<string> = new Set(['xoauth2', 'oauthbearer']);

export const DEFAULT_PORT = { implicit: 995, starttls: 110, none: 110 } as const;
export const DEFAULT_STORE_DIR = '.pop3-bridge';
export const DEFAULT_MICROSOFT_SCOPE = 'https://outlook.office365.com/.default';

/** Standard Webhooks: `whsec_` + base64 of the key (the spec asks for 24..64 bytes). */
const WHSEC = /^whsec_([A-Za-z0-9+/]+={0,2})$/;
/** A SHA-256 fingerprint as hex, with or without `:` separators (as `openssl x509 -fingerprint` prints it). */
const SHA256_HEX = /^(?:[0-9A-Fa-f]{2}:){31}[0-9A-Fa-f]{2}$|^[0-9A-Fa-f]{64}$/;
const PEM_BEGIN = '-----BEGIN CERTIFICATE-----';

/** `required` when absent, else what was expected: never the value received. */
const expected = (what: string) => (issue: { input?: unknown }) =>
  issue.input === undefined ? 'required' : `expected ${what}`;
const nonEmpty = (what = 'a non-empty string') => z.string({ error: expected(what) }).min(1, `expected ${what}`);
const secretString = () => nonEmpty();
const intRange = (min: number, max: number) => {
  const message = `expected ${min}..${max}`;
  return z.number().int(message).min(min, message).max(max, message);
};
/**
 * Cross-field rules run even when a field failed, so every problem is listed
 * at once, but only on objects: the rule bodies check each field's type.
 */
const onObjects = (payload: { value: unknown }): boolean =>
  typeof payload.value === 'object' && payload.value !== null && !Array.isArray(payload.value);
const positiveInt = () => z.number().int('expected a positive integer').min(1, 'expected a positive integer');

/** `/regex/flags` or a glob (`*` any run, `?` one character). Regexes must compile. */
export function isFilterPattern(value: string): boolean {
  const m = /^\/(.+)\/([imsu]*)$/s.exec(value);
  if (m === null) return value.length > 0;
  try {
    new RegExp(m[1] ?? '', m[2]);
    return true;
  } catch {
    return false;
  }
}

/** Lower-case hex without separators: the form the POP3 client compares against. */
export function normalizeFingerprint(value: string): string {
  return value.replaceAll(':', '').toLowerCase();
}

/** Default webhook id: stable for a URL, reveals nothing of it (URLs may carry tokens). */
export function deriveWebhookId(url: string): string {
  return `wh-${createHash('sha256').update(url).digest('hex').slice(0, 16)}`;
}

function isWebhookSecret(value: string): boolean {
  const m = WHSEC.exec(value);
  if (m === null) return false;
  const bytes = Buffer.from(m[1] ?? '', 'base64').length;
  return bytes >= 24 && bytes <= 64;
}

const stringList = (item: z.ZodString, what: string) =>
  z
    .union([item, z.array(item).min(1, `expected at least one ${what}`)], {
      error: `expected a ${what} or a list of them`,
    })
    .transform((v): string[] => (typeof v === 'string' ? [v] : v));

const filterPattern = z.string().refine(isFilterPattern, 'expected a glob or a /regex/ that compiles');

export const WebhookFiltersSchema = z
  .strictObject({
    from: stringList(filterPattern, 'pattern').optional(),
    to: stringList(filterPattern, 'pattern').optional(),
    subject: stringList(filterPattern, 'pattern').optional(),
  })
  .meta({
    description:
      'Deliver only messages matching every given field. Each is a glob or a /regex/, or a list (any matches).',
  });

const webhookSecret = z
  .string({ error: expected('a whsec_… secret') })
  .refine(isWebhookSecret, 'expected whsec_ followed by base64 of 24..64 bytes');

export const WebhookSchema = z
  .strictObject({
    id: z
      .string()
      .regex(NAME_PATTERN, 'expected 1..64 of A-Z a-z 0-9 . _ -')
      .optional()
      .meta({ description: 'Endpoint id, stable across edits. Default: derived from the URL.' }),
    url: z.string({ error: expected('a URL') }).meta({ description: 'https URL (http only with allowHttp).' }),
    secret: z
      .union([webhookSecret, z.array(webhookSecret).min(1, 'expected at least one secret')], {
        error: expected('a whsec_… secret or a list of them'),
      })
      .transform((v): string[] => (typeof v === 'string' ? [v] : v))
      .meta({ description: 'Standard Webhooks secret (whsec_…). A list during rotation: every one signs.' }),
    allowHttp: z.boolean().default(false),
    timeoutSeconds: intRange(1, MAX_WEBHOOK_TIMEOUT_SECONDS)
      .default(15)
      .meta({ description: 'Seconds to wait for the receiver to answer a delivery.' }),
    filters: WebhookFiltersSchema.optional(),
  })
  .superRefine(
    (w, ctx) => {
      if (typeof w.url !== 'string') return;
      let url: URL;
      try {
        url = new URL(w.url);
      } catch {
        ctx.addIssue({ code: 'custom', path: ['url'], message: 'expected an absolute http(s) URL' });
        return;
      }
      if (url.protocol === 'http:' && w.allowHttp !== true) {
        ctx.addIssue({ code: 'custom', path: ['url'], message: 'http is refused unless allowHttp is true; use https' });
      } else if (url.protocol !== 'https:' && url.protocol !== 'http:') {
        ctx.addIssue({ code: 'custom', path: ['url'], message: 'expected an http(s) URL' });
      }
    },
    { when: onObjects },
  )
  .transform((w) => ({ ...w, id: w.id ?? deriveWebhookId(w.url) }));

/**
 * The token endpoint, when not the provider's public one: a national cloud
 * (login.microsoftonline.us, login.partner.microsoftonline.cn) or a corporate
 * proxy. https only: the client secret or refresh token is sent there.
 */
const tokenUrl = () =>
  z
    .url({ protocol: /^https$/, error: 'expected an absolute https URL' })
    .optional()
    .meta({ description: "OAuth2 token endpoint (https). Default: the provider's public endpoint." });

const microsoft = z.strictObject({
  provider: z.literal('microsoft'),
  tenantId: nonEmpty(),
  clientId: nonEmpty(),
  clientSecret: secretString(),
  scope: nonEmpty().default(DEFAULT_MICROSOFT_SCOPE),
  tokenUrl: tokenUrl(),
});
const google = z.strictObject({
  provider: z.literal('google'),
  clientId: nonEmpty(),
  clientSecret: secretString(),
  refreshToken: secretString(),
  tokenUrl: tokenUrl(),
});
const staticToken = z.strictObject({ provider: z.literal('static'), accessToken: secretString() });

export const OAuth2Schema = z
  .discriminatedUnion('provider', [microsoft, google, staticToken], {
    error: "expected provider 'microsoft' | 'google' | 'static'",
  })
  .meta({
    description:
      'OAuth2 credentials: microsoft (client credentials), google (refresh token) or static (an access token).',
  });

export const MailboxSchema = z
  .strictObject({
    name: z
      .string({ error: expected('a string') })
      .regex(NAME_PATTERN, 'expected 1..64 of A-Z a-z 0-9 . _ -')
      .refine((n) => n !== '.' && n !== '..', "'.' and '..' are reserved")
      .meta({ description: 'Unique (case-insensitively) name: keys the state and the stored messages.' }),
    host: z
      .string({ error: expected('a host name or IP address') })
      .refine(isHost, 'expected a host name or IP address'),
    port: intRange(1, 65535).optional().meta({ description: 'Default: 995 for tls implicit, 110 otherwise.' }),
    tls: z.enum(TLS_MODES).default('implicit'),
    servername: z
      .string({ error: expected('a host name') })
      .refine((v) => isIP(v) === 0 && HOSTNAME.test(v), 'expected a host name')
      .optional()
      .meta({
        description: 'TLS server name (SNI and certificate check) when it differs from host, e.g. host is an IP.',
      }),
    allowInsecureAuth: z
      .boolean()
      .default(false)
      .meta({ description: 'Required with tls none: without it the client refuses to send credentials.' }),
    ca: nonEmpty('a PEM file path or PEM text')
      .refine(
        (v) => (v.includes('-----BEGIN') ? v.includes(PEM_BEGIN) : !v.includes('\n')),
        'expected a PEM file path or PEM certificate text',
      )
      .optional()
      .meta({
        description:
          'Extra trusted CA: a path to a PEM file, or the PEM text itself. Trusted beside the CAs Node trusts ' +
          'by default (its bundled roots and any NODE_EXTRA_CA_CERTS), not instead of them.',
      }),
    pinnedSha256: z
      .array(z.string().regex(SHA256_HEX, 'expected a SHA-256 fingerprint (64 hex digits, colons allowed)'))
      .min(1, 'expected at least one fingerprint')
      .transform((list) => list.map(normalizeFingerprint))
      .optional()
      .meta({ description: 'Accept only server certificates with one of these SHA-256 fingerprints.' }),
    username: nonEmpty(),
    method: z.enum(AUTH_METHODS).default('auto'),
    password: secretString().optional(),
    oauth2: OAuth2Schema.optional(),
    mode: z.enum(['leave', 'delete']).default('leave'),
    retentionDays: positiveInt().optional().meta({ description: 'Leave mode: delete from the server after N days.' }),
    pollIntervalSeconds: z.number().int('expected an integer ≥ 30').min(30, 'expected an integer ≥ 30').default(300),
    sizeLimit: z
      .strictObject({ maxBytes: positiveInt(), action: z.enum(['skip', 'delete', 'headers-only']) })
      .optional(),
    caps: z
      .strictObject({ maxMessagesPerRun: positiveInt().optional(), maxBytesPerRun: positiveInt().optional() })
      .default({}),
    webhooks: z.array(WebhookSchema).min(1, 'expected at least one webhook'),
    deleteAfterDelivered: z
      .boolean()
      .optional()
      .meta({ description: 'Delete mode: DELE only after every webhook has delivered (not as soon as stored).' }),
    enabled: z.boolean().default(true),
  })
  .superRefine(
    (m, ctx) => {
      const method = typeof m.method === 'string' ? m.method : 'auto';
      const hasPassword = m.password !== undefined;
      const hasOAuth = m.oauth2 !== undefined;
      if (m.tls === 'none' && m.allowInsecureAuth !== true) {
        ctx.addIssue({
          code: 'custom',
          path: ['tls'],
          message:
            "tls 'none' sends credentials in clear text: the client refuses to log in unless allowInsecureAuth is true",
        });
      }
      if (m.tls === 'none' && (m.ca !== undefined || m.pinnedSha256 !== undefined || m.servername !== undefined)) {
        ctx.addIssue({
          code: 'custom',
          path: ['tls'],
          message: "ca, pinnedSha256 and servername need TLS; tls is 'none'",
        });
      }
      if (hasPassword && hasOAuth) {
        ctx.addIssue({ code: 'custom', path: ['oauth2'], message: 'set either password or oauth2, not both' });
      } else if (OAUTH_METHODS.has(method) && !hasOAuth) {
        ctx.addIssue({ code: 'custom', path: ['oauth2'], message: `method ${method} requires oauth2` });
      } else if (method !== 'auto' && !OAUTH_METHODS.has(method) && !hasPassword) {
        ctx.addIssue({ code: 'custom', path: ['password'], message: `method ${method} requires password` });
      } else if (method === 'auto' && !hasPassword && !hasOAuth) {
        ctx.addIssue({ code: 'custom', path: ['password'], message: 'expected password or oauth2' });
      }
      if (m.mode === 'delete' && m.retentionDays !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['retentionDays'],
          message: 'only for mode leave (delete mode keeps nothing)',
        });
      }
      if (m.mode !== 'delete' && m.deleteAfterDelivered !== undefined) {
        ctx.addIssue({ code: 'custom', path: ['deleteAfterDelivered'], message: 'only for mode delete' });
      }
      if (Array.isArray(m.webhooks)) {
        const seen = new Map<string, number>();
        m.webhooks.forEach((w: unknown, i: number) => {
          if (typeof w !== 'object' || w === null) return;
          const { id, url } = w as { id?: unknown; url?: unknown };
          const key = typeof id === 'string' ? id : typeof url === 'string' ? deriveWebhookId(url) : undefined;
          if (key === undefined) return;
          const first = seen.get(key);
          if (first === undefined) seen.set(key, i);
          else
            ctx.addIssue({
              code: 'custom',
              path: ['webhooks', i, 'id'],
              message: `duplicate webhook id (same as webhooks[${first}]); give each webhook its own id`,
            });
        });
      }
    },
    { when: onObjects },
  )
  .transform((m) => ({ ...m, port: m.port ?? DEFAULT_PORT[m.tls] }));

export const StoreSchema = z.strictObject({
  dir: nonEmpty()
    .default(DEFAULT_STORE_DIR)
    .meta({ description: 'Local mode: folder for raw mail and the SQLite state.' }),
});

const allowList = z
  .array(z.string().refine(isAllowListEntry, 'expected a CIDR, an IP address, a host name or *.domain'))
  .meta({ description: 'Internal webhook receivers allowed despite private addresses: CIDRs or hosts.' });

export const LinksSchema = z
  .strictObject({
    listen: z
      .string()
      .regex(/^[^\s:]+:\d{1,5}$|^\[[0-9a-fA-F:]+\]:\d{1,5}$/, 'expected host:port, e.g. 127.0.0.1:8025')
      .default('127.0.0.1:8025')
      .meta({ description: 'Local mode: where `pop3-bridge run` serves the signed links in events.' }),
    baseUrl: z
      .url({ protocol: /^https?$/, error: 'expected an absolute http(s) URL' })
      .optional()
      .meta({ description: 'The URL receivers use to reach the link server (default: http://<listen>).' }),
    ttlSeconds: intRange(60, 30 * 86400)
      .default(7 * 86400)
      .meta({ description: 'How long a link in an event stays valid.' }),
    inlineMaxBytes: intRange(0, 128 * 1024)
      .default(0)
      .meta({
        description:
          'Local mode: attachments up to this many bytes are also inlined as base64 in the event (0 = never); ' +
          'they still count against the event size limit, and the link stays.',
      }),
  })
  .meta({ description: 'Links to raw messages, attachments and long bodies in events (local mode).' });

export const EventsSchema = z
  .strictObject({
    maxBodyBytes: intRange(MIN_BODY_BYTES, MAX_BODY_BYTES)
      .default(DEFAULT_EVENT_LIMITS.maxBodyBytes)
      .meta({
        description:
          'Largest JSON body of an event, in bytes: a longer text or html becomes a link, then the reply text, ' +
          'headers, attachments and addresses are cut (docs/webhooks.md, "Size limit").',
      }),
  })
  .meta({ description: 'The email.received events sent to webhooks.' });

const topLevelShape = {
  $schema: z.string().optional(),
  store: StoreSchema.default({ dir: DEFAULT_STORE_DIR }),
  webhookAllowList: allowList.default([]),
  links: LinksSchema.default({ listen: '127.0.0.1:8025', ttlSeconds: 7 * 86400, inlineMaxBytes: 0 }),
  events: EventsSchema.default({ maxBodyBytes: DEFAULT_EVENT_LIMITS.maxBodyBytes }),
};

/** The whole file, mailboxes included: for the JSON Schema and the inferred types. */
export const BridgeConfigSchema = z
  .strictObject({ ...topLevelShape, mailboxes: z.array(MailboxSchema) })
  .meta({ title: 'pop3-bridge configuration' });

/** The top level alone: `parseConfig` validates this strictly, then each mailbox on its own. */
export const TopLevelSchema = z.strictObject({ ...topLevelShape, mailboxes: z.array(z.unknown()) });

type DeepReadonly<T> = T extends (infer U)[]
  ? ReadonlyArray<DeepReadonly<U>>
  : T extends object
    ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
    : T;

/** Parsed and frozen: defaults applied, port resolved, webhook ids derived, secrets as lists. */
export type BridgeConfig = DeepReadonly<z.output<typeof BridgeConfigSchema>>;
export type MailboxConfig = BridgeConfig['mailboxes'][number];
export type WebhookConfig = MailboxConfig['webhooks'][number];
export type OAuth2Config = NonNullable<MailboxConfig['oauth2']>;
/** What a config file may contain (defaults not yet applied). */
export type BridgeConfigInput = z.input<typeof BridgeConfigSchema>;
