import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../functions/config/validate.js';
import { isBridgeError } from '../../functions/core/errors.js';

const MAILBOX_KEYS = [
  'name',
  'host',
  'port',
  'tls',
  'allowInsecureAuth',
  'ca',
  'pinnedSha256',
  'username',
  'method',
  'password',
  'oauth2',
  'mode',
  'retentionDays',
  'pollIntervalSeconds',
  'sizeLimit',
  'caps',
  'webhooks',
  'deleteAfterDelivered',
  'enabled',
] as const;

/** Mostly-plausible mailboxes, so the search reaches the deep and cross-field rules, not just the root. */
const value = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.constantFrom('implicit', 'none', 'xoauth2', 'delete', 'leave', 'https://h.example/x', `whsec_${'A'.repeat(40)}`),
  fc.record(
    { provider: fc.constantFrom('microsoft', 'google', 'static', 'x'), accessToken: fc.jsonValue() },
    { requiredKeys: ['provider'] },
  ),
  fc.array(fc.record({ url: fc.jsonValue(), secret: fc.jsonValue(), id: fc.string() }, { requiredKeys: [] }), {
    maxLength: 3,
  }),
);
const mailbox = fc.dictionary(fc.constantFrom(...MAILBOX_KEYS), value);

function onlyBridgeErrors(raw: unknown): void {
  try {
    parseConfig(raw);
  } catch (err) {
    if (!isBridgeError(err, 'CONFIG_ERR_INVALID')) throw err;
  }
}

describe('parseConfig on arbitrary input', () => {
  it('throws nothing but BridgeError for arbitrary JSON', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (raw) => onlyBridgeErrors(raw)),
      { numRuns: 500 },
    );
  });

  it('throws nothing but BridgeError for arbitrary mailbox lists, and each mailbox is kept or skipped', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(mailbox, fc.jsonValue()), { maxLength: 5 }), fc.jsonValue(), (mailboxes, extra) => {
        onlyBridgeErrors({ mailboxes, store: extra });
        const { config, skipped } = parseConfig({ mailboxes });
        expect(config.mailboxes.length + skipped.length).toBe(mailboxes.length);
      }),
      { numRuns: 500 },
    );
  });
});
