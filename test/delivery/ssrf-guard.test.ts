import { BlockList } from 'node:net';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isBridgeError } from '../../functions/core/errors.js';
import {
  AllowList,
  assertLiteralAddressAllowed,
  guardedLookup,
  isBlockedAddress,
} from '../../functions/delivery/ssrf-guard.js';

describe('SSRF guard: every blocked range is refused', () => {
  it.each([
    '0.0.0.0',
    '10.1.2.3',
    '100.64.0.1',
    '100.127.255.254',
    '127.0.0.1',
    '127.255.255.255',
    '169.254.169.254', // cloud metadata
    '172.16.0.1',
    '172.31.255.255',
    '192.0.0.8',
    '192.0.2.1',
    '192.88.99.1',
    '192.168.1.1',
    '198.18.0.1',
    '198.51.100.7',
    '203.0.113.9',
    '224.0.0.1',
    '239.255.255.250',
    '240.0.0.1',
    '255.255.255.255',
    '::',
    '::1',
    '::ffff:127.0.0.1', // IPv4-mapped
    '::ffff:7f00:1', // IPv4-mapped, hex form
    '::ffff:169.254.169.254',
    '64:ff9b::a9fe:a9fe', // NAT64 of 169.254.169.254
    '100::1',
    '2001:db8::1',
    '2002:7f00:1::1',
    'fc00::1',
    'fd12:3456::1',
    'fe80::1',
    'fec0::1',
    'ff02::1',
  ])('%s is blocked', (address) => {
    expect(isBlockedAddress(address)).toBe(true);
  });

  it.each([
    '93.184.215.14',
    '1.1.1.1',
    '8.8.8.8',
    '2606:4700:4700::1111',
    '::ffff:8.8.8.8',
    '172.32.0.1',
    '100.128.0.1',
  ])('%s (public) is allowed', (address) => {
    expect(isBlockedAddress(address)).toBe(false);
  });

  it('literal addresses in URLs are checked before connecting, and the allow-list opens specific ones', () => {
    const none = new AllowList([]);
    expect(() => assertLiteralAddressAllowed('[::1]', none)).toThrow(/private or reserved/);
    expect(() => assertLiteralAddressAllowed('169.254.169.254', none)).toThrow();
    const lab = new AllowList(['127.0.0.0/8', '10.0.0.5']);
    expect(() => assertLiteralAddressAllowed('127.0.0.1', lab)).not.toThrow();
    expect(() => assertLiteralAddressAllowed('10.0.0.5', lab)).not.toThrow();
    expect(() => assertLiteralAddressAllowed('10.0.0.6', lab)).toThrow();
  });

  it('remembered answers stay right: asked again, and after more addresses than are remembered', () => {
    // A fresh list with two of the ranges, against which the remembered answers are checked.
    const reference = new BlockList();
    reference.addSubnet('10.0.0.0', 8, 'ipv4');
    reference.addSubnet('127.0.0.0', 8, 'ipv4');
    const allow = new AllowList(['10.0.0.0/8', '127.0.0.0/8']);
    const ipv4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((parts) => parts.join('.'));
    fc.assert(
      fc.property(fc.array(ipv4, { minLength: 1, maxLength: 3000 }), (addresses) => {
        for (const address of [...addresses, ...addresses]) {
          expect(allow.allowsAddress(address)).toBe(reference.check(address, 'ipv4'));
        }
      }),
      { numRuns: 20 },
    );
    expect(isBlockedAddress('127.0.0.1')).toBe(true);
    expect(isBlockedAddress('8.8.8.8')).toBe(false);
  });

  it('the guarded lookup refuses a name that resolves to loopback, unless the host is allow-listed', async () => {
    const lookup = (allow: AllowList) =>
      new Promise<unknown>((resolve, reject) =>
        guardedLookup(allow)('localhost', {}, (error, address) => (error ? reject(error) : resolve(address))),
      );
    const refused = await lookup(new AllowList([])).catch((e: unknown) => e);
    expect(isBridgeError(refused, 'WEBHOOK_ERR_BLOCKED')).toBe(true);
    await expect(lookup(new AllowList(['localhost']))).resolves.toMatch(/^(127\.0\.0\.1|::1)$/);
  });
});
