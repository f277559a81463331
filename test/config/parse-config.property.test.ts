import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../functions/config/validate.js';
import { isBridgeError } from '../../functions/core/errors.js';
import { mailboxConfig } from '../fuzz/arbitraries.js';

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
      fc.property(
        fc.array(fc.oneof(mailboxConfig, fc.jsonValue()), { maxLength: 5 }),
        fc.jsonValue(),
        (mailboxes, extra) => {
          onlyBridgeErrors({ mailboxes, store: extra });
          const { config, skipped } = parseConfig({ mailboxes });
          expect(config.mailboxes.length + skipped.length).toBe(mailboxes.length);
        },
      ),
      { numRuns: 500 },
    );
  });
});
