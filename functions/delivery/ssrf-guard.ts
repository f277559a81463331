/**
 * Server-side request forgery guard for webhook URLs.
 *
 * A webhook URL is user input that makes the bridge send requests; without a
 * guard it could reach the cloud metadata service (169.254.169.254), the
 * bridge's own loopback services or the private network. We resolve the host
 * ourselves, refuse every address in a blocked range, and hand the checked
 * address to the socket (the `lookup` hook below), so DNS rebinding cannot
 * swap in another address between the check and the connect.
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { BlockList, isIP } from 'node:net';
import { BridgeError } from '../core/errors.js';

/** IANA special-purpose ranges (RFC 6890 and successors) that a public webhook never lives in. */
const BLOCKED_V4: ReadonlyArray<[string, number]> = [
  ['0.0.0.0', 8], // "this network"
  ['10.0.0.0', 8], // private (RFC 1918)
  ['100.64.0.0', 10], // carrier-grade NAT (RFC 6598)
  ['127.0.0.0', 8], // loopback
  ['169.254.0.0', 16], // link-local, cloud metadata
  ['172.16.0.0', 12], // private
  ['192.0.0.0', 24], // IETF protocol assignments
  ['192.0.2.0', 24], // documentation TEST-NET-1
  ['192.88.99.0', 24], // 6to4 relay anycast (deprecated)
  ['192.168.0.0', 16], // private
  ['198.18.0.0', 15], // benchmarking
  ['198.51.100.0', 24], // documentation TEST-NET-2
  ['203.0.113.0', 24], // documentation TEST-NET-3
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, and 255.255.255.255 broadcast
];

const BLOCKED_V6: ReadonlyArray<[string, number]> = [
  ['::', 128], // unspecified
  ['::1', 128], // loopback
  // IPv4-compatible (`::a.b.c.d`, RFC 4291 §2.5.5.1): deprecated, never routed publicly, and some stacks
  // still turn it into the embedded IPv4 (`::127.0.0.1` reaching loopback). Refused whole.
  ['::', 96],
  // IPv4-translated (`::ffff:0:a.b.c.d`, RFC 2765 §2.1, SIIT): only meaningful inside a translator, which
  // would forward to the embedded IPv4 — possibly a private one. Refused whole.
  ['::ffff:0:0:0', 96],
  ['64:ff9b::', 96], // NAT64 (embeds IPv4: checked separately too)
  ['64:ff9b:1::', 48], // local-use NAT64
  ['100::', 64], // discard
  ['2001::', 23], // IETF protocol assignments (Teredo, ORCHID, …)
  ['2001:db8::', 32], // documentation
  ['2002::', 16], // 6to4 (embeds IPv4)
  ['3fff::', 20], // documentation (RFC 9637)
  ['fc00::', 7], // unique local
  ['fe80::', 10], // link-local
  ['fec0::', 10], // site-local (deprecated)
  ['ff00::', 8], // multicast
];

const blocked = new BlockList();
for (const [net, prefix] of BLOCKED_V4) blocked.addSubnet(net, prefix, 'ipv4');
for (const [net, prefix] of BLOCKED_V6) blocked.addSubnet(net, prefix, 'ipv6');

/** Most answers a remembering check keeps before it starts over. */
const MAX_REMEMBERED = 1024;

/**
 * `check` with its answers remembered per address string. `BlockList.check` builds a native SocketAddress for
 * each string it is given, ≈ 20 µs of the main thread per webhook request in `bench/profile.ts deliver`,
 * while a bridge sends to a handful of addresses. The lists are never changed once built, so an answer
 * never goes stale; the memory is bounded by starting over at MAX_REMEMBERED addresses.
 */
function remembering(check: (address: string) => boolean): (address: string) => boolean {
  const answers = new Map<string, boolean>();
  return (address) => {
    let answer = answers.get(address);
    if (answer === undefined) {
      answer = check(address);
      if (answers.size >= MAX_REMEMBERED) answers.clear();
      answers.set(address, answer);
    }
    return answer;
  };
}

/** The IPv4 address inside an IPv4-mapped (`::ffff:a.b.c.d`) or NAT64 IPv6 address, if any. */
function embeddedIpv4(address: string): string | undefined {
  const lower = address.toLowerCase();
  const mapped = /^(?:::ffff:|64:ff9b::)(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
  if (mapped?.[1]) return mapped[1];
  const hex = /^(?:::ffff:|64:ff9b::)([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(lower);
  if (hex?.[1] && hex[2]) {
    const hi = Number.parseInt(hex[1], 16);
    const lo = Number.parseInt(hex[2], 16);
    return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  }
  return undefined;
}

/** An allow-list for internal receivers: CIDRs, addresses, host names and `*.domain`. */
export class AllowList {
  private readonly nets = new BlockList();
  private readonly hosts = new Set<string>();
  private readonly suffixes: string[] = [];

  constructor(entries: ReadonlyArray<string>) {
    for (const entry of entries) {
      const [net, prefix] = entry.split('/');
      const family = net ? isIP(net) : 0;
      if (net && family !== 0) {
        const type = family === 4 ? 'ipv4' : 'ipv6';
        this.nets.addSubnet(net, prefix === undefined ? (family === 4 ? 32 : 128) : Number(prefix), type);
      } else if (entry.startsWith('*.')) {
        this.suffixes.push(entry.slice(1).toLowerCase());
      } else {
        this.hosts.add(entry.toLowerCase());
      }
    }
  }

  allowsHost(host: string): boolean {
    const h = host.toLowerCase();
    return this.hosts.has(h) || this.suffixes.some((s) => h.endsWith(s));
  }

  /** Whether an allow-listed network holds the address (built once: see `remembering`). */
  readonly allowsAddress: (address: string) => boolean = remembering((address) => {
    const family = isIP(address);
    return family !== 0 && this.nets.check(address, family === 4 ? 'ipv4' : 'ipv6');
  });
}

/** True if a webhook may not be sent to this address (unless allow-listed). */
export const isBlockedAddress: (address: string) => boolean = remembering((address) => {
  const family = isIP(address);
  if (family === 0) return true;
  if (family === 4) return blocked.check(address, 'ipv4');
  const v4 = embeddedIpv4(address);
  if (v4 !== undefined && blocked.check(v4, 'ipv4')) return true;
  return blocked.check(address, 'ipv6');
});

function refusal(host: string, address: string): BridgeError {
  return new BridgeError(
    'WEBHOOK_ERR_BLOCKED',
    `webhook host ${host} resolves to ${address}, a private or reserved address`,
    {
      context: { host, address },
    },
  );
}

type LookupCallback = (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/**
 * A `lookup` for node:http(s) requests: resolves, checks every address, and
 * passes only checked ones to the socket. Refuses the whole host if any of its
 * addresses is blocked (an attacker's DNS could list a public and a private one).
 */
export function guardedLookup(allow: AllowList) {
  return (hostname: string, options: { all?: boolean }, callback: LookupCallback): void => {
    dnsLookup(hostname, { all: true, verbatim: true }, (error, addresses) => {
      if (error) {
        callback(error, []);
        return;
      }
      const list = addresses as LookupAddress[];
      const hostAllowed = allow.allowsHost(hostname);
      for (const { address } of list) {
        if (!hostAllowed && !allow.allowsAddress(address) && isBlockedAddress(address)) {
          callback(refusal(hostname, address) as unknown as NodeJS.ErrnoException, []);
          return;
        }
      }
      if (options.all) callback(null, list);
      else if (list[0]) callback(null, list[0].address, list[0].family);
      else callback(Object.assign(new Error(`no address for ${hostname}`), { code: 'ENOTFOUND' }), []);
    });
  };
}

/** Literal-IP URLs never reach `lookup`: check them before connecting. */
export function assertLiteralAddressAllowed(hostname: string, allow: AllowList): void {
  const host = hostname.replace(/^\[|\]$/g, '');
  if (isIP(host) === 0) return;
  if (!allow.allowsAddress(host) && isBlockedAddress(host)) throw refusal(host, host);
}
