/**
 * The client's transport security against the real Dovecot: implicit TLS and STLS (RFC 2595) with the chain
 * and host name verified, refusals with the wrong CA or name, SHA-256 certificate pinning on top of
 * verification, and no credentials over plaintext unless explicitly allowed.
 */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Pop3Client } from '../../functions/pop3/client.js';
import type { TlsMode } from '../../functions/pop3/types.js';
import { dovecotFromInjected } from '../support/dovecot.js';
import { connectOptions, rejectionOf, serverFingerprint256, TraceRecorder } from './dovecot-support.js';

const dovecot = dovecotFromInjected();
const { facts } = dovecot;
const MODES: readonly TlsMode[] = ['implicit', 'starttls'];
const MESSAGE = Buffer.from('Subject: tls\r\n\r\ntls\r\n');

/**
 * A TCP relay in front of Dovecot's plain port that records every byte the client sends, so a test can say
 * what Dovecot received — not only what the client's trace claims it sent.
 */
interface Relay {
  readonly port: number;
  /** Everything the client sent, as latin1. */
  received(): string;
  close(): Promise<void>;
}

async function relayToPlainPort(): Promise<Relay> {
  const chunks: Buffer[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(facts.plainPort, facts.host);
    sockets.add(client).add(upstream);
    client.on('data', (chunk: Buffer) => chunks.push(chunk));
    client.pipe(upstream).pipe(client);
    const end = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    received: () => Buffer.concat(chunks).toString('latin1'),
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

let relay: Relay | undefined;
afterEach(async () => {
  await relay?.close();
  relay = undefined;
});

describe.each(MODES)('%s with verification', (mode) => {
  it('connects with the right CA and server name, and the connection is secure', async () => {
    const account = await dovecot.createMailbox([MESSAGE]);
    const trace = new TraceRecorder();
    const client = await Pop3Client.connect(connectOptions(facts, mode, { trace: trace.sink }));
    expect(client.secure).toBe(true);
    // Over TLS Dovecot no longer offers STLS (it is not offered twice, RFC 2595 §4).
    expect(client.capabilities.stls).toBe(false);
    expect(client.capabilities.pipelining).toBe(true);
    await client.login({ username: account.user, password: account.password });
    expect((await client.stat()).count).toBe(1);
    await client.quit();
    expect(trace.sent[0]).toBe('CAPA');
  });

  it('refuses a server whose certificate does not chain to the given CA: POP3_ERR_TLS', async () => {
    const trace = new TraceRecorder();
    const error = await rejectionOf(
      Pop3Client.connect(connectOptions(facts, mode, { ca: facts.wrongCaPem, trace: trace.sink })),
    );
    expect(error.code).toBe('POP3_ERR_TLS');
    expect(error.retryable).toBe(false);
    expect(error.message).toContain('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
    expect(trace.sent).not.toContain('USER');
  });

  it('refuses a certificate issued for another name: POP3_ERR_TLS', async () => {
    const error = await rejectionOf(Pop3Client.connect(connectOptions(facts, mode, { servername: 'wrong.example' })));
    expect(error.code).toBe('POP3_ERR_TLS');
    expect(error.message).toContain('ERR_TLS_CERT_ALTNAME_INVALID');
  });

  it('accepts the server certificate pinned by its SHA-256, written either way', async () => {
    const fingerprint = await serverFingerprint256(facts);
    expect(fingerprint).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    for (const pin of [fingerprint, fingerprint.replaceAll(':', '').toLowerCase()]) {
      const client = await Pop3Client.connect(connectOptions(facts, mode, { pinnedSha256: ['00'.repeat(32), pin] }));
      expect(client.secure).toBe(true);
      await client.quit();
    }
  });

  it('refuses a certificate that matches no pin: POP3_ERR_CERT_PIN', async () => {
    const fingerprint = await serverFingerprint256(facts);
    const error = await rejectionOf(
      Pop3Client.connect(connectOptions(facts, mode, { pinnedSha256: ['ab'.repeat(32)] })),
    );
    expect(error.code).toBe('POP3_ERR_CERT_PIN');
    // The actual fingerprint is kept for the operator who has to update the pin.
    expect(error.context.actual).toBe(fingerprint.replaceAll(':', '').toLowerCase());
  });

  it('a pin never replaces verification: the right pin with the wrong CA is still POP3_ERR_TLS', async () => {
    const fingerprint = await serverFingerprint256(facts);
    const error = await rejectionOf(
      Pop3Client.connect(connectOptions(facts, mode, { ca: facts.wrongCaPem, pinnedSha256: [fingerprint] })),
    );
    expect(error.code).toBe('POP3_ERR_TLS');
  });
});

describe('implicit TLS', () => {
  it('checks the IP address SAN when no server name is given for an IP host', async () => {
    const { servername: _unused, ...options } = connectOptions(facts, 'implicit');
    expect(net.isIP(options.host)).toBe(4);
    const client = await Pop3Client.connect(options);
    expect(client.secure).toBe(true);
    await client.quit();
  });
});

describe('STLS (RFC 2595)', () => {
  it('upgrades, then forgets the plaintext capabilities and asks CAPA again', async () => {
    const account = await dovecot.createMailbox([MESSAGE]);
    const trace = new TraceRecorder();
    const client = await Pop3Client.connect(connectOptions(facts, 'starttls', { trace: trace.sink }));
    expect(client.secure).toBe(true);
    expect(trace.sent).toEqual(['CAPA', 'STLS', 'CAPA']);
    // CAPA, then STLS and its +OK, then the handshake, then CAPA again, whose answer replaced the first one.
    expect(trace.toString()).toMatch(/^C: CAPA\nS: \+OK.*\nC: STLS\nS: \+OK Begin TLS.*\nC: CAPA\nS: \+OK.*$/);
    expect(client.capabilities.stls).toBe(false);
    await client.login({ username: account.user, password: account.password, method: 'user' });
    expect(trace.sent.slice(3)).toEqual([`USER ${account.user}`, 'PASS ********']);
    await client.quit();
  });

  it('sends nothing but CAPA and STLS in plaintext', async () => {
    relay = await relayToPlainPort();
    const account = await dovecot.createMailbox([MESSAGE]);
    const client = await Pop3Client.connect(connectOptions(facts, 'starttls', { port: relay.port }));
    await client.login({ username: account.user, password: account.password, method: 'user' });
    await client.quit();
    const sent = relay.received();
    expect(sent.startsWith('CAPA\r\nSTLS\r\n')).toBe(true);
    // After STLS only TLS records (content type 0x16 handshake first), never a readable command.
    expect(sent.charCodeAt('CAPA\r\nSTLS\r\n'.length)).toBe(0x16);
    expect(sent).not.toContain(account.user);
    expect(sent).not.toContain(account.password);
  });
});

describe('plaintext (`tls: none` on the plain port)', () => {
  it.each(['user', 'apop', 'plain', 'cram-md5', 'auto'] as const)(
    'refuses to log in with %s without allowInsecureAuth: POP3_ERR_INSECURE, nothing sent',
    async (method) => {
      relay = await relayToPlainPort();
      const account = await dovecot.createMailbox([MESSAGE]);
      const trace = new TraceRecorder();
      const client = await Pop3Client.connect(connectOptions(facts, 'none', { port: relay.port, trace: trace.sink }));
      expect(client.secure).toBe(false);
      // Dovecot offers STLS on this port; the client only uses it when told to.
      expect(client.capabilities.stls).toBe(true);
      const error = await rejectionOf(client.login({ username: account.user, password: account.password, method }));
      expect(error.code).toBe('POP3_ERR_INSECURE');
      expect(client.state).toBe('AUTHORIZATION');
      expect(trace.sent).toEqual(['CAPA']);
      expect(trace.sent.some((l) => /^(USER|PASS|APOP|AUTH)\b/.test(l))).toBe(false);
      await client.quit();
      // What Dovecot actually received: CAPA and QUIT, no user name and no password.
      expect(relay.received()).toBe('CAPA\r\nQUIT\r\n');
    },
  );

  it('logs in with allowInsecureAuth, and the credentials do cross in the clear', async () => {
    relay = await relayToPlainPort();
    const account = await dovecot.createMailbox([MESSAGE]);
    const trace = new TraceRecorder();
    const client = await Pop3Client.connect(
      connectOptions(facts, 'none', { port: relay.port, trace: trace.sink, allowInsecureAuth: true }),
    );
    expect(client.secure).toBe(false);
    await client.login({ username: account.user, password: account.password, method: 'user' });
    expect(await client.stat()).toEqual({ count: 1, size: MESSAGE.length });
    await client.quit();
    expect(trace.sent).toEqual(['CAPA', `USER ${account.user}`, 'PASS ********', 'STAT', 'QUIT']);
    // The relay proves the refusal test above would have seen credentials had they been sent.
    expect(relay.received()).toContain(`PASS ${account.password}\r\n`);
  });
});
