/**
 * TLS downgrade attempts fail. A man in the middle between the client and the real Dovecot (plain port, STLS
 * per RFC 2595) tries each known trick on a mailbox that requires STLS: strip STLS from CAPA, refuse STLS,
 * answer STLS itself and present its own certificate for the right name, or answer +OK and stay in plaintext.
 * Each attempt either ends in a verified TLS session with the real server or fails with a typed error before
 * any credential is sent; the proxy records every byte the client sent, so "nothing sent" is checked on the
 * wire, not taken from the client's trace. (Wrong-CA, wrong-name and plaintext-refusal cases against Dovecot
 * directly live in test/pop3/dovecot-tls.test.ts.)
 */
import { X509Certificate } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Pop3Client } from '../../functions/pop3/client.js';
import { connectOptions, rejectionOf, TraceRecorder } from '../pop3/dovecot-support.js';
import { dovecotFromInjected } from '../support/dovecot.js';
import { selfSignedCertificate } from '../support/self-signed.js';

const dovecot = dovecotFromInjected();
const { facts } = dovecot;
const MESSAGE = Buffer.from('Subject: downgrade\r\n\r\nbody\r\n');

type Attack =
  /** Removes STLS from every CAPA reply the server sends before the upgrade. */
  | 'strip-stls'
  /** Answers the client's STLS itself with -ERR and never forwards it. */
  | 'refuse-stls'
  /** Strips STLS from CAPA and refuses it: "this server has no TLS". */
  | 'strip-and-refuse'
  /** Answers STLS with +OK and completes TLS itself, with a certificate for the right name from another CA. */
  | 'impersonate'
  /** Answers STLS with +OK and, in the same write, a plaintext CAPA (response injection, as in CVE-2011-0411). */
  | 'inject-after-ok'
  /** Answers STLS with +OK and answers the client's TLS hello in plaintext. */
  | 'ok-then-plaintext';

interface Mitm {
  readonly port: number;
  /** Every byte the client sent, latin1; after a successful upgrade only TLS records. */
  sent(): string;
  close(): Promise<void>;
}

/** A self-signed certificate for localhost / 127.0.0.1: the right name, an untrusted issuer. */
let impostor: { key: string; cert: string };
beforeAll(async () => {
  impostor = await selfSignedCertificate(facts.servername);
});

async function startMitm(attack: Attack): Promise<Mitm> {
  const sent: Buffer[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(facts.plainPort, facts.host);
    sockets.add(client).add(upstream);
    let upgraded = false;
    let pendingClient = '';
    const end = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);

    upstream.on('data', (chunk: Buffer) => {
      if (upgraded || !['strip-stls', 'strip-and-refuse'].includes(attack)) {
        client.write(chunk);
        return;
      }
      // RFC 2449 CAPA is one line per capability; a whole reply fits one small chunk from Dovecot.
      client.write(Buffer.from(chunk.toString('latin1').replace(/\r\nSTLS\r\n/g, '\r\n'), 'latin1'));
    });

    const onClientData = (chunk: Buffer): void => {
      sent.push(chunk);
      if (upgraded) {
        upstream.write(chunk);
        return;
      }
      pendingClient += chunk.toString('latin1');
      for (let at = pendingClient.indexOf('\r\n'); at >= 0; at = pendingClient.indexOf('\r\n')) {
        const line = pendingClient.slice(0, at);
        pendingClient = pendingClient.slice(at + 2);
        if (line.toUpperCase() !== 'STLS') {
          upstream.write(`${line}\r\n`);
          continue;
        }
        if (attack === 'refuse-stls' || attack === 'strip-and-refuse') {
          client.write('-ERR [SYS/PERM] TLS is not available\r\n');
        } else if (attack === 'impersonate') {
          upgraded = true;
          client.off('data', onClientData);
          client.write('+OK Begin TLS negotiation now.\r\n');
          const secured = new tls.TLSSocket(client, { isServer: true, key: impostor.key, cert: impostor.cert });
          secured.on('error', end);
          secured.on('data', (data: Buffer) => sent.push(Buffer.from(`[decrypted by MITM]${data.toString('latin1')}`)));
          return;
        } else if (attack === 'inject-after-ok') {
          upgraded = true;
          client.write('+OK Begin TLS negotiation now.\r\n+OK\r\nUSER\r\n.\r\n');
        } else if (attack === 'ok-then-plaintext') {
          upgraded = true;
          client.off('data', onClientData);
          client.write('+OK Begin TLS negotiation now.\r\n');
          client.once('data', (hello: Buffer) => {
            sent.push(hello);
            client.write('+OK\r\nUSER\r\n.\r\n');
          });
          return;
        } else {
          upgraded = true;
          upstream.write('STLS\r\n');
        }
      }
    };
    client.on('data', onClientData);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    sent: () => Buffer.concat(sent).toString('latin1'),
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

let mitm: Mitm | undefined;
afterEach(async () => {
  await mitm?.close();
  mitm = undefined;
});

/** No credential-bearing command ever crossed the wire in a form the MITM could read. */
function expectNoCredentials(sent: string, password: string): void {
  expect(sent).not.toMatch(/^(USER|PASS|APOP|AUTH)\b/m);
  expect(sent).not.toContain(password);
  expect(sent).not.toContain(Buffer.from(password).toString('base64'));
}

describe('STLS required: a man in the middle cannot downgrade the session', () => {
  it('STLS stripped from CAPA: the client still sends STLS, and gets a verified session with the real server', async () => {
    mitm = await startMitm('strip-stls');
    const account = await dovecot.createMailbox([MESSAGE]);
    const trace = new TraceRecorder();
    const client = await Pop3Client.connect(connectOptions(facts, 'starttls', { port: mitm.port, trace: trace.sink }));
    // The attack did happen: the plaintext CAPA the client read did not offer STLS.
    expect(trace.toString().split('\nC: STLS')[0]).not.toMatch(/^S: STLS$/m);
    expect(client.secure).toBe(true);
    await client.login({ username: account.user, password: account.password, method: 'user' });
    expect(await client.stat()).toEqual({ count: 1, size: MESSAGE.length });
    await client.quit();
    const sent = mitm.sent();
    expect(sent.startsWith('CAPA\r\nSTLS\r\n')).toBe(true);
    expect(sent.charCodeAt('CAPA\r\nSTLS\r\n'.length)).toBe(0x16); // a TLS handshake record, nothing readable
    expectNoCredentials(sent, account.password);
  });

  it.each(['refuse-stls', 'strip-and-refuse'] as const)(
    '%s: POP3_ERR_STLS_UNAVAILABLE, and no credential is sent',
    async (attack) => {
      mitm = await startMitm(attack);
      const account = await dovecot.createMailbox([MESSAGE]);
      const error = await rejectionOf(Pop3Client.connect(connectOptions(facts, 'starttls', { port: mitm.port })));
      expect(error.code).toBe('POP3_ERR_STLS_UNAVAILABLE');
      expect(error.retryable).toBe(false);
      expect(error.message).toMatch(
        attack === 'strip-and-refuse' ? /does not offer STLS and the mailbox requires it/ : /refused STLS/,
      );
      const sent = mitm.sent();
      expect(sent.replace(/QUIT\r\n$/, '')).toBe('CAPA\r\nSTLS\r\n');
      expectNoCredentials(sent, account.password);
    },
  );

  it('an impostor certificate for the right name from another CA: POP3_ERR_TLS, nothing decrypted by the MITM', async () => {
    mitm = await startMitm('impersonate');
    const account = await dovecot.createMailbox([MESSAGE]);
    const error = await rejectionOf(Pop3Client.connect(connectOptions(facts, 'starttls', { port: mitm.port })));
    expect(error.code).toBe('POP3_ERR_TLS');
    expect(error.message).toMatch(/SELF_SIGNED|UNABLE_TO_VERIFY|certificate/i);
    const sent = mitm.sent();
    expect(sent).not.toContain('[decrypted by MITM]');
    expectNoCredentials(sent, account.password);
  });

  it('the impostor is refused in implicit TLS too, even with its certificate pinned', async () => {
    const fake = tls.createServer({ key: impostor.key, cert: impostor.cert }, (socket) => socket.end('+OK fake\r\n'));
    await new Promise<void>((resolve) => fake.listen(0, '127.0.0.1', resolve));
    try {
      const port = (fake.address() as net.AddressInfo).port;
      const pin = new X509Certificate(impostor.cert).fingerprint256;
      const error = await rejectionOf(
        Pop3Client.connect(connectOptions(facts, 'implicit', { port, pinnedSha256: [pin] })),
      );
      // A pin is checked in addition to the chain, never instead of it.
      expect(error.code).toBe('POP3_ERR_TLS');
    } finally {
      await new Promise<void>((resolve) => fake.close(() => resolve()));
    }
  });

  it('+OK to STLS with plaintext injected behind it: POP3_ERR_PROTOCOL before any handshake or credential', async () => {
    mitm = await startMitm('inject-after-ok');
    const account = await dovecot.createMailbox([MESSAGE]);
    const error = await rejectionOf(Pop3Client.connect(connectOptions(facts, 'starttls', { port: mitm.port })));
    expect(error.code).toBe('POP3_ERR_PROTOCOL');
    // Refused whichever way the reader meets it: unasked-for data, or data before the handshake.
    expect(error.message).toMatch(/data after the STLS reply|data nobody asked for/);
    expectNoCredentials(mitm.sent(), account.password);
  });

  it('+OK to STLS, then a plaintext answer to the TLS hello: POP3_ERR_TLS, no credential is sent', async () => {
    mitm = await startMitm('ok-then-plaintext');
    const account = await dovecot.createMailbox([MESSAGE]);
    const error = await rejectionOf(Pop3Client.connect(connectOptions(facts, 'starttls', { port: mitm.port })));
    expect(error.code).toBe('POP3_ERR_TLS');
    const sent = mitm.sent();
    expect(sent.charCodeAt('CAPA\r\nSTLS\r\n'.length)).toBe(0x16); // the client did start a handshake
    expectNoCredentials(sent, account.password);
  });
});
