/**
 * A small, real POP3 server for tests and the `demo` command, programmable
 * for what Dovecot cannot be made to do: any greeting and capability list,
 * arbitrary UIDLs, exact Gmail/Microsoft OAuth exchanges, and fault hooks
 * (raw replies, stalls, dropped connections, bodies cut at chosen offsets).
 *
 * It listens on 127.0.0.1 and a free port, plain TCP or implicit TLS when
 * given a key and certificate (STLS is not supported). `close()` destroys
 * every open socket, so a test never hangs on a connection it forgot.
 */
import net from 'node:net';
import tls from 'node:tls';
import type { FaultHooks } from './faults.js';
import { Mailbox, type ScriptedMessageInit } from './mailbox.js';
import { ALL_SASL_MECHANISMS, type ScriptedSaslMechanism, type ScriptedUser } from './sasl-server.js';
import { type ReceivedLine, ScriptedSession, type SessionConfig } from './session.js';

export interface ScriptedServerOptions {
  /**
   * Greeting text after `+OK `. Default: `POP3 scripted server ready <1896.N@scripted.test>` — with an APOP
   * timestamp (N is the session number). A function gets the session number.
   */
  readonly greeting?: string | ((session: number) => string);
  /** Raw bytes instead of the whole greeting line (add CR LF yourself); `''` sends no greeting at all. */
  readonly greetingRaw?: string | Buffer;
  /** Accounts. Default: `demo` / password `demo` / access token `demo-token`. */
  readonly users?: ReadonlyArray<ScriptedUser>;
  /** The maildrop's initial messages (shared by all users). */
  readonly messages?: ReadonlyArray<string | Buffer | ScriptedMessageInit>;
  /**
   * CAPA reply lines, verbatim. Default: derived from the options below. `null`: CAPA is answered -ERR,
   * like an RFC 1939-only server.
   */
  readonly capabilities?: ReadonlyArray<string> | null;
  /** Whether UIDL is implemented (and, by default, advertised). Default true. */
  readonly uidl?: boolean;
  /** Whether USER/PASS is accepted (and USER advertised). Default true. */
  readonly userPass?: boolean;
  /** Whether PIPELINING is advertised (the server always answers queued commands in order). Default true. */
  readonly pipelining?: boolean;
  /** Mechanisms accepted and advertised in `SASL`. Default all: PLAIN LOGIN CRAM-MD5 XOAUTH2 OAUTHBEARER. */
  readonly saslMechanisms?: ReadonlyArray<ScriptedSaslMechanism>;
  /** How a bad OAuth token is rejected: Gmail's error challenge (default) or Microsoft's direct -ERR. */
  readonly oauthErrors?: 'challenge' | 'direct';
  /** AUTH lines longer than this (CR LF included) are refused, as RFC 5034 §4 allows. Default 255. */
  readonly maxAuthLineOctets?: number;
  readonly faults?: FaultHooks;
  /** Implicit TLS (port-995 style) with this key and certificate (PEM). */
  readonly tls?: { readonly key: string | Buffer; readonly cert: string | Buffer };
  /** Sees every event of every session (`C: line`, `S: line`), e.g. for a demo's console. Lines include credentials. */
  readonly onEvent?: (session: number, event: string) => void;
}

export interface ScriptedServer {
  readonly host: '127.0.0.1';
  readonly port: number;
  readonly mailbox: Mailbox;
  /** Every session so far, in connection order (session `id` is its 1-based position). */
  readonly sessions: ReadonlyArray<ScriptedSession>;
  /** Every line every session received, in arrival order per session, sessions in order. */
  received(): ReadonlyArray<ReceivedLine & { readonly session: number }>;
  /** How many received lines start with `verb` (case-insensitive), SASL response lines excluded; all lines without a verb. */
  count(verb?: string): number;
  /** Resolves with session `id` once it has connected. */
  session(id: number): Promise<ScriptedSession>;
  /** Stops listening and destroys every open connection. */
  close(): Promise<void>;
}

const DEFAULT_USERS: ReadonlyArray<ScriptedUser> = [{ username: 'demo', password: 'demo', accessToken: 'demo-token' }];

function defaultCapabilities(
  uidl: boolean,
  userPass: boolean,
  pipelining: boolean,
  sasl: ReadonlyArray<string>,
): string[] {
  return [
    'TOP',
    ...(uidl ? ['UIDL'] : []),
    'RESP-CODES',
    ...(pipelining ? ['PIPELINING'] : []),
    'AUTH-RESP-CODE',
    ...(userPass ? ['USER'] : []),
    ...(sasl.length > 0 ? [`SASL ${sasl.join(' ')}`] : []),
    'IMPLEMENTATION pop3-bridge-scripted',
  ];
}

export async function startScriptedServer(options: ScriptedServerOptions = {}): Promise<ScriptedServer> {
  const mailbox = new Mailbox(options.messages);
  const uidl = options.uidl ?? true;
  const userPass = options.userPass ?? true;
  const saslMechanisms = options.saslMechanisms ?? ALL_SASL_MECHANISMS;
  const greeting = options.greeting ?? ((n: number) => `POP3 scripted server ready <1896.${n}@scripted.test>`);
  const config: SessionConfig = {
    mailbox,
    users: options.users ?? DEFAULT_USERS,
    greetingLine: (n) => options.greetingRaw ?? `+OK ${typeof greeting === 'function' ? greeting(n) : greeting}\r\n`,
    capabilities:
      options.capabilities === undefined
        ? defaultCapabilities(uidl, userPass, options.pipelining ?? true, saslMechanisms)
        : options.capabilities,
    uidl,
    userPass,
    saslMechanisms,
    oauthErrors: options.oauthErrors ?? 'challenge',
    maxAuthLineOctets: options.maxAuthLineOctets ?? 255,
    faults: options.faults ?? {},
    onEvent: options.onEvent,
  };

  const sessions: ScriptedSession[] = [];
  const waiters = new Map<number, Array<(s: ScriptedSession) => void>>();
  const onConnection = (socket: net.Socket) => {
    const session = new ScriptedSession(sessions.length + 1, socket, config);
    sessions.push(session);
    for (const resolve of waiters.get(session.id) ?? []) resolve(session);
    waiters.delete(session.id);
  };
  const server = options.tls
    ? tls.createServer({ key: options.tls.key, cert: options.tls.cert }, onConnection)
    : net.createServer(onConnection);
  // A client that resets during the TLS handshake must not crash the test process.
  server.on('tlsClientError', () => {});

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as net.AddressInfo;

  return {
    host: '127.0.0.1',
    port: address.port,
    mailbox,
    sessions,
    received: () => sessions.flatMap((s) => s.received.map((r) => ({ ...r, session: s.id }))),
    count: (verb) => {
      const all = sessions.flatMap((s) => s.received);
      if (verb === undefined) return all.length;
      const upper = verb.toUpperCase();
      return all.filter((r) => !r.sasl && (r.line.split(' ', 1)[0] ?? '').toUpperCase() === upper).length;
    },
    session: (id) => {
      const existing = sessions[id - 1];
      if (existing) return Promise.resolve(existing);
      return new Promise((resolve) => {
        waiters.set(id, [...(waiters.get(id) ?? []), resolve]);
      });
    },
    close: async () => {
      const closing = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const session of sessions) session.destroy();
      await Promise.all([closing, ...sessions.map((s) => s.closed)]);
    },
  };
}

export type { ReceivedLine, ScriptedSession, SessionStats } from './session.js';
