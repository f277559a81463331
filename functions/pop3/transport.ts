/**
 * Opens the byte stream under a POP3 session: plain TCP, implicit TLS, or a
 * TLS upgrade of an open TCP socket after STLS (RFC 2595 §4).
 *
 * TLS always verifies the certificate chain and host name (TLS 1.2 minimum);
 * an optional SHA-256 pin of the leaf certificate is checked on top of that,
 * never instead of it.
 */
import net from 'node:net';
import tls from 'node:tls';
import { BridgeError } from '../core/errors.js';
import { BorrowedReads } from './borrowed-reads.js';
import type { Deadline } from './deadline.js';
import type { Pop3Limits } from './limits.js';
import type { Pop3ConnectOptions } from './types.js';

export type Pop3Socket = net.Socket | tls.TLSSocket;

function connectError(error: unknown, host: string, port: number): BridgeError {
  const code = (error as NodeJS.ErrnoException).code ?? 'unknown';
  return new BridgeError('POP3_ERR_CONNECT', `could not connect to ${host}:${port} (${code})`, {
    cause: error,
    context: { host, port },
  });
}

function tlsError(error: unknown, host: string): BridgeError {
  const code = (error as NodeJS.ErrnoException).code ?? 'unknown';
  const reason = error instanceof Error ? error.message : String(error);
  return new BridgeError('POP3_ERR_TLS', `TLS with ${host} failed (${code}): ${reason}`, {
    cause: error,
    context: { host },
  });
}

const MIN_TLS_VERSION = 'TLSv1.2';

/** The native context's one method used here: OpenSSL's PEM reader over `pem`, each certificate added to its store. */
interface NativeSecureContext {
  addCACert(pem: string | Buffer): void;
}

/**
 * A TLS context trusting what a connection without `ca` trusts, and `ca` besides, for
 * `Pop3ConnectOptions.secureContext`; build it once and reuse it.
 *
 * It starts from Node's own default context (no `ca` option), not from a list: with --use-openssl-ca (Paketo's
 * Node buildpack sets it in NODE_OPTIONS) Node's default trust is OpenSSL's store (SSL_CERT_FILE, SSL_CERT_DIR),
 * which no Node 20 API lists, and a context built from `ca` alone trusted only the bundled roots the caller
 * passed: a server Node trusted failed as soon as its mailbox set a `ca`. `addCACert` on a default context
 * adds to a copy of Node's root store (the shared one is left alone), which on Node 20 lacks NODE_EXTRA_CA_CERTS:
 * the caller passes those in `ca` (default-roots.ts). Certificates already in the store are added again harmlessly.
 */
export function trustContext(ca: ReadonlyArray<string | Buffer>): tls.SecureContext {
  const context = tls.createSecureContext({ minVersion: MIN_TLS_VERSION });
  const native = context.context as NativeSecureContext;
  for (const pem of ca) native.addCACert(pem);
  return context;
}

export function tlsOptions(options: Pop3ConnectOptions): tls.ConnectionOptions {
  const servername = options.servername ?? (net.isIP(options.host) ? undefined : options.host);
  return {
    host: options.host,
    ...(servername !== undefined && { servername }),
    ...(options.ca !== undefined && { ca: options.ca as string | Buffer | Array<string | Buffer> }),
    // A prepared context wins over `ca` and carries its own minimum version (trustContext).
    ...(options.secureContext !== undefined && { secureContext: options.secureContext }),
    minVersion: MIN_TLS_VERSION,
    rejectUnauthorized: true,
    // Verify the name against the TLS server name we asked for (SNI), which may differ from the address we dialled.
    checkServerIdentity: (host, cert) => tls.checkServerIdentity(servername ?? host, cert),
  };
}

function normalizeFingerprint(fp: string): string {
  return fp.replaceAll(':', '').toLowerCase();
}

function checkPin(socket: tls.TLSSocket, options: Pop3ConnectOptions): void {
  const pins = options.pinnedSha256;
  if (!pins || pins.length === 0) return;
  const cert = socket.getPeerX509Certificate();
  const actual = cert ? normalizeFingerprint(cert.fingerprint256) : '';
  if (!pins.some((pin) => normalizeFingerprint(pin) === actual)) {
    throw new BridgeError(
      'POP3_ERR_CERT_PIN',
      `certificate of ${options.host} does not match any pinned SHA-256 fingerprint`,
      {
        context: { host: options.host, actual },
      },
    );
  }
}

function settleTls(socket: tls.TLSSocket, options: Pop3ConnectOptions): Promise<tls.TLSSocket> {
  return new Promise<tls.TLSSocket>((resolve, reject) => {
    const onError = (error: Error) => {
      cleanup();
      reject(tlsError(error, options.host));
    };
    const onClose = () => {
      cleanup();
      reject(new BridgeError('POP3_ERR_TLS', `${options.host} closed the connection during the TLS handshake`));
    };
    const onSecure = () => {
      cleanup();
      try {
        checkPin(socket, options);
        resolve(socket);
      } catch (error) {
        socket.destroy();
        reject(error);
      }
    };
    const cleanup = () => {
      socket.off('error', onError);
      socket.off('close', onClose);
      socket.off('secureConnect', onSecure);
    };
    socket.once('error', onError);
    socket.once('close', onClose);
    socket.once('secureConnect', onSecure);
  });
}

function tune(socket: net.Socket): void {
  // Commands are small and we batch them ourselves; Nagle + delayed ACK would add 40 ms per round trip.
  socket.setNoDelay(true);
  socket.setKeepAlive(true, 30_000);
}

/** The socket under a session, and its reads when they come through one reused buffer (implicit TLS). */
export interface OpenedSocket {
  readonly socket: Pop3Socket;
  /** Set when the socket was opened with `onread`: it then emits no 'data' events. */
  readonly reads?: BorrowedReads;
}

function waitForConnect(socket: net.Socket, host: string, port: number): Promise<net.Socket> {
  return new Promise<net.Socket>((resolve, reject) => {
    const onError = (error: Error) => {
      socket.off('connect', onConnect);
      reject(connectError(error, host, port));
    };
    const onConnect = () => {
      socket.off('error', onError);
      resolve(socket);
    };
    socket.once('connect', onConnect);
    socket.once('error', onError);
  });
}

/** TCP connect, then (for implicit TLS) the handshake, each inside the shared deadline. */
export async function openSocket(
  options: Pop3ConnectOptions,
  limits: Pop3Limits,
  deadline: Deadline,
): Promise<OpenedSocket> {
  const mode = options.tls ?? 'implicit';
  const port = options.port ?? (mode === 'implicit' ? 995 : 110);
  if (mode === 'implicit') return openImplicitTls(options, port, limits, deadline);
  const socket = net.connect({ host: options.host, port });
  tune(socket);
  await deadline.run('connect', limits.connectTimeoutMs, waitForConnect(socket, options.host, port), {
    signal: options.signal,
    onTimeout: () => socket.destroy(),
  });
  // Until the reply reader attaches, a socket error must not crash the process; the reader (or the
  // TLS handshake) then sees the close and reports POP3_ERR_CLOSED / POP3_ERR_TLS.
  socket.on('error', () => socket.destroy());
  return { socket };
}

/**
 * Implicit TLS (RFC 8314 §3.3): TLS from the first byte, so `tls.connect` makes the TCP connection itself.
 * That is what lets its reads go through one reused buffer: Node ignores `onread` when TLS wraps a socket
 * that is already open (the STLS upgrade below).
 */
async function openImplicitTls(
  options: Pop3ConnectOptions,
  port: number,
  limits: Pop3Limits,
  deadline: Deadline,
): Promise<OpenedSocket> {
  const reads = new BorrowedReads();
  // `onread` is documented for tls.connect (nodejs/node#35753) but missing from @types/node's ConnectionOptions.
  const connectOptions: tls.ConnectionOptions & { onread: net.OnReadOpts } = {
    ...tlsOptions(options),
    port,
    onread: reads.onread,
  };
  const secure = tls.connect(connectOptions);
  tune(secure);
  const connected = waitForConnect(secure, options.host, port);
  // Listening from the start: a failure during the connect is reported by `connected`, and this one's
  // rejection is then only observed, never thrown.
  const handshake = settleTls(secure, options);
  handshake.catch(() => {});
  await deadline.run('connect', limits.connectTimeoutMs, connected, {
    signal: options.signal,
    onTimeout: () => secure.destroy(),
  });
  await deadline.run('TLS handshake', limits.tlsHandshakeTimeoutMs, handshake, {
    signal: options.signal,
    onTimeout: () => secure.destroy(),
  });
  return { socket: secure, reads };
}

/** Wraps an open TCP socket in TLS (after the server said +OK to STLS, RFC 2595 §4). */
export async function upgradeToTls(
  socket: net.Socket,
  options: Pop3ConnectOptions,
  limits: Pop3Limits,
  deadline: Deadline,
): Promise<tls.TLSSocket> {
  const secure = tls.connect({ ...tlsOptions(options), socket });
  const handshake = settleTls(secure, options);
  return deadline.run('TLS handshake', limits.tlsHandshakeTimeoutMs, handshake, {
    signal: options.signal,
    onTimeout: () => secure.destroy(),
  });
}
