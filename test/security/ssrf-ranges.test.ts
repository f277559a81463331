/**
 * The SSRF guard refuses every blocked range, at both ends, and every way of writing a blocked address in a
 * webhook URL. The range table here is an independent reference (IANA's IPv4 and IPv6 special-purpose
 * registries, RFC 6890 and successors), not a copy of the guard's list. The URL forms go through the real
 * delivery path (`postWebhook`) at a live loopback receiver, which must see no request.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isBridgeError } from '../../functions/core/errors.js';
import { postWebhook } from '../../functions/delivery/http-post.js';
import { AllowList, isBlockedAddress } from '../../functions/delivery/ssrf-guard.js';

/** [range, first address, last address, why]. */
const BLOCKED_V4: ReadonlyArray<[string, string, string, string]> = [
  ['0.0.0.0/8', '0.0.0.0', '0.255.255.255', '"this network" (RFC 791)'],
  ['10.0.0.0/8', '10.0.0.0', '10.255.255.255', 'private (RFC 1918)'],
  ['100.64.0.0/10', '100.64.0.0', '100.127.255.255', 'carrier-grade NAT (RFC 6598)'],
  ['127.0.0.0/8', '127.0.0.0', '127.255.255.255', 'loopback'],
  ['169.254.0.0/16', '169.254.0.0', '169.254.255.255', 'link-local, cloud metadata 169.254.169.254'],
  ['172.16.0.0/12', '172.16.0.0', '172.31.255.255', 'private (RFC 1918)'],
  ['192.0.0.0/24', '192.0.0.0', '192.0.0.255', 'IETF protocol assignments (RFC 6890)'],
  ['192.0.2.0/24', '192.0.2.0', '192.0.2.255', 'documentation TEST-NET-1 (RFC 5737)'],
  ['192.88.99.0/24', '192.88.99.0', '192.88.99.255', '6to4 relay anycast (RFC 7526)'],
  ['192.168.0.0/16', '192.168.0.0', '192.168.255.255', 'private (RFC 1918)'],
  ['198.18.0.0/15', '198.18.0.0', '198.19.255.255', 'benchmarking (RFC 2544)'],
  ['198.51.100.0/24', '198.51.100.0', '198.51.100.255', 'documentation TEST-NET-2'],
  ['203.0.113.0/24', '203.0.113.0', '203.0.113.255', 'documentation TEST-NET-3'],
  ['224.0.0.0/4', '224.0.0.0', '239.255.255.255', 'multicast'],
  ['240.0.0.0/4', '240.0.0.0', '255.255.255.255', 'reserved, limited broadcast'],
];

const BLOCKED_V6: ReadonlyArray<[string, string, string, string]> = [
  ['::/128', '::', '::', 'unspecified'],
  ['::1/128', '::1', '::1', 'loopback'],
  ['::/96', '::0.0.0.0', '::255.255.255.255', 'IPv4-compatible, deprecated (RFC 4291 §2.5.5.1)'],
  ['::ffff:0:0:0/96', '::ffff:0:0.0.0.0', '::ffff:0:255.255.255.255', 'IPv4-translated (RFC 2765 §2.1)'],
  ['::ffff:0:0/96', '::ffff:0.0.0.0', '::ffff:255.255.255.255', 'IPv4-mapped: refused by the embedded IPv4 ends'],
  ['64:ff9b::/96', '64:ff9b::', '64:ff9b::ffff:ffff', 'NAT64 well-known prefix (RFC 6052)'],
  ['64:ff9b:1::/48', '64:ff9b:1::', '64:ff9b:1:ffff:ffff:ffff:ffff:ffff', 'local-use NAT64 (RFC 8215)'],
  ['100::/64', '100::', '100::ffff:ffff:ffff:ffff', 'discard-only (RFC 6666)'],
  ['2001::/23', '2001::', '2001:1ff:ffff:ffff:ffff:ffff:ffff:ffff', 'IETF protocol assignments, Teredo'],
  ['2001:db8::/32', '2001:db8::', '2001:db8:ffff:ffff:ffff:ffff:ffff:ffff', 'documentation'],
  ['2002::/16', '2002::', '2002:ffff:ffff:ffff:ffff:ffff:ffff:ffff', '6to4'],
  ['3fff::/20', '3fff::', '3fff:fff:ffff:ffff:ffff:ffff:ffff:ffff', 'documentation (RFC 9637)'],
  ['fc00::/7', 'fc00::', 'fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 'unique local'],
  ['fe80::/10', 'fe80::', 'febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 'link-local'],
  ['fec0::/10', 'fec0::', 'feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 'site-local (deprecated)'],
  ['ff00::/8', 'ff00::', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 'multicast'],
];

/** Public addresses right outside a blocked range: the guard must not over-block. */
const JUST_OUTSIDE = [
  '1.0.0.0',
  '9.255.255.255',
  '11.0.0.0',
  '100.63.255.255',
  '100.128.0.0',
  '126.255.255.255',
  '128.0.0.0',
  '169.253.255.255',
  '169.255.0.0',
  '172.15.255.255',
  '172.32.0.0',
  '192.0.1.0',
  '192.0.3.0',
  '192.88.98.255',
  '192.88.100.0',
  '192.167.255.255',
  '192.169.0.0',
  '198.17.255.255',
  '198.20.0.0',
  '198.51.99.255',
  '198.51.101.0',
  '203.0.112.255',
  '203.0.114.0',
  '223.255.255.255',
  '::ffff:8.8.8.8',
  '64:ff9b:0:0:0:1::',
  '2001:200::',
  '2001:db7:ffff:ffff:ffff:ffff:ffff:ffff',
  '2003::',
  '2606:4700:4700::1111',
  'fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff',
  'fe00::',
];

describe('SSRF guard: both ends of every blocked range', () => {
  it.each([...BLOCKED_V4, ...BLOCKED_V6])('%s (%s … %s): %s', (_range, first, last) => {
    expect(isBlockedAddress(first)).toBe(true);
    expect(isBlockedAddress(last)).toBe(true);
  });

  it.each(JUST_OUTSIDE)('%s, just outside, is allowed', (address) => {
    expect(isBlockedAddress(address)).toBe(false);
  });

  it('IPv4-mapped IPv6 of every blocked IPv4 end is refused, written dotted, in hex and in full', () => {
    for (const [, first, last] of BLOCKED_V4) {
      for (const v4 of [first, last]) {
        const [a, b, c, d] = v4.split('.').map(Number) as [number, number, number, number];
        const hex = `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
        for (const form of [`::ffff:${v4}`, `::ffff:${hex}`, `0:0:0:0:0:ffff:${hex}`, `::FFFF:${v4}`]) {
          expect(isBlockedAddress(form), form).toBe(true);
        }
      }
    }
  });

  it('NAT64 of a public IPv4 is refused too (the whole well-known prefix is blocked)', () => {
    expect(isBlockedAddress('64:ff9b::808:808')).toBe(true);
    expect(isBlockedAddress('64:ff9b::8.8.8.8')).toBe(true);
  });

  it('IPv4-compatible and IPv4-translated forms of a PUBLIC IPv4 are refused too (whole ranges blocked)', () => {
    for (const form of ['::8.8.8.8', '::808:808', '0:0:0:0:0:0:808:808', '::ffff:0:8.8.8.8', '::ffff:0:808:808']) {
      expect(isBlockedAddress(form), form).toBe(true);
    }
    // …and of the loopback and metadata addresses, which a lenient stack could turn back into IPv4.
    for (const form of ['::127.0.0.1', '::7f00:1', '::169.254.169.254', '::ffff:0:127.0.0.1', '::ffff:0:a9fe:a9fe']) {
      expect(isBlockedAddress(form), form).toBe(true);
    }
  });

  it('anything that is not an IP address is refused', () => {
    for (const junk of ['', 'localhost', '127.0.0.1.', '1.2.3', '::g', 'fe80::1%eth0', '[::1]']) {
      expect(isBlockedAddress(junk), junk).toBe(true);
    }
  });
});

/** A live loopback receiver that counts requests: a refusal must mean nothing arrived. */
let receiver: http.Server;
let port: number;
let requests = 0;
beforeAll(async () => {
  receiver = http.createServer((req, res) => {
    requests += 1;
    req.resume();
    res.end('ok');
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  port = (receiver.address() as AddressInfo).port;
});
afterAll(async () => {
  await new Promise<void>((resolve) => receiver.close(() => resolve()));
});

/** Ways of writing 127.0.0.1 (and the metadata address) that WHATWG URL parsing accepts. */
const LOOPBACK_FORMS = [
  '127.0.0.1',
  '2130706433', // decimal
  '0x7f000001', // hex
  '0x7f.0.0.1', // hex octet
  '0177.0.0.1', // octal octet
  '017700000001', // octal
  '127.1', // short form
  '127.0.1',
  '[::ffff:127.0.0.1]', // IPv4-mapped
  '[::ffff:7f00:1]',
  '[0:0:0:0:0:ffff:7f00:1]',
];
const METADATA_FORMS = ['169.254.169.254', '0251.0376.0251.0376', '0xa9fea9fe', '2852039166', '169.254.43518'];

describe('SSRF guard on the delivery path: every way of writing a blocked address in a URL', () => {
  const post = (host: string, allow: AllowList) =>
    postWebhook(
      new URL(`http://${host}:${port}/hook`),
      '{}',
      { 'content-type': 'application/json' },
      {
        timeoutMs: 2_000,
        allow,
        allowHttp: true,
      },
    );

  it.each(LOOPBACK_FORMS)('http://%s/ → WEBHOOK_ERR_BLOCKED, nothing reaches the loopback receiver', async (host) => {
    const before = requests;
    const error = await post(host, new AllowList([])).catch((e: unknown) => e);
    expect(isBridgeError(error, 'WEBHOOK_ERR_BLOCKED'), String(error)).toBe(true);
    expect(requests).toBe(before);
  });

  it.each(METADATA_FORMS)('http://%s/ (169.254.169.254) → WEBHOOK_ERR_BLOCKED before any connection', async (host) => {
    const error = await post(host, new AllowList([])).catch((e: unknown) => e);
    expect(isBridgeError(error, 'WEBHOOK_ERR_BLOCKED'), String(error)).toBe(true);
    expect((error as Error).message).toContain('169.254.169.254');
  });

  it('the same loopback forms do reach the receiver once 127.0.0.0/8 is allow-listed (the refusals above are real)', async () => {
    const before = requests;
    for (const host of LOOPBACK_FORMS.filter((h) => !h.startsWith('['))) {
      const response = await post(host, new AllowList(['127.0.0.0/8']));
      expect(response.status).toBe(200);
    }
    expect(requests - before).toBe(LOOPBACK_FORMS.filter((h) => !h.startsWith('[')).length);
  });
});
