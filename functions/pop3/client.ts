/**
 * The POP3 client: one connection, its session state (RFC 1939 §3:
 * AUTHORIZATION → TRANSACTION → UPDATE), a command queue that pipelines when
 * the server advertises PIPELINING (RFC 2449 §6.6) and runs one command at a
 * time otherwise, and the public commands.
 *
 * Replies are read in order by ReplyReader. A RETR/TOP body is a Readable; the
 * next command is written only after its terminator was read (or, when
 * pipelining, is already on the wire and its reply is parsed after the body).
 */
import { createHash, randomUUID } from 'node:crypto';
import type net from 'node:net';
import type { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { BridgeError } from '../core/errors.js';
import {
  assumedCapabilities,
  errorForReply,
  parseCapabilities,
  parseGreeting,
  parseListEntry,
  parseStat,
  parseUidlEntry,
  type StatusLine,
} from './commands.js';
import { Deadline } from './deadline.js';
import { type Pop3Limits, resolveLimits, SASL_INITIAL_RESPONSE_MAX_LINE } from './limits.js';
import { type PendingReply, type Reply, ReplyReader, type ReplyShape } from './reply-reader.js';
import { createMechanism, type SaslMechanism, type SaslMechanismName } from './sasl.js';
import { type OpenedSocket, openSocket, type Pop3Socket, upgradeToTls } from './transport.js';
import type {
  AuthMethod,
  Capabilities,
  Greeting,
  ListEntry,
  NewestMessage,
  Pop3ConnectOptions,
  Pop3Credentials,
  SessionState,
  StatResult,
  UidlEntry,
} from './types.js';

interface QueuedCommand {
  /** The exact line to write, CRLF included. */
  readonly line: string;
  /** What the trace sees: secrets replaced. */
  readonly traceLine: string;
  /** Commands that change the session state are never pipelined (RFC 2449 §6.6). */
  readonly exclusive: boolean;
  readonly pending: PendingReply;
}

interface CommandOptions {
  readonly shape?: ReplyShape;
  readonly exclusive?: boolean;
  readonly allowContinuation?: boolean;
  /** Replaces the line in traces (credentials). */
  readonly traceAs?: string;
  /** The line answers a SASL challenge (RFC 5034) rather than being a command. */
  readonly saslResponse?: boolean;
}

/** Verbs allowed in each state (RFC 1939 §4–§6, RFC 2449 CAPA, RFC 2595 STLS, RFC 5034 AUTH). */
const ALLOWED: Readonly<Record<SessionState, ReadonlySet<string>>> = {
  AUTHORIZATION: new Set(['CAPA', 'STLS', 'USER', 'PASS', 'APOP', 'AUTH', 'QUIT', '*SASL']),
  TRANSACTION: new Set(['CAPA', 'STAT', 'LIST', 'UIDL', 'TOP', 'RETR', 'DELE', 'RSET', 'NOOP', 'QUIT']),
  UPDATE: new Set(),
  CLOSED: new Set(),
};

const SASL_PREFERENCE: ReadonlyArray<SaslMechanismName> = ['CRAM-MD5', 'PLAIN', 'LOGIN'];

function assertMessageNumber(n: number): void {
  if (!Number.isSafeInteger(n) || n < 1) {
    throw new BridgeError('POP3_ERR_STATE', `message number must be a positive integer, got ${n}`);
  }
}

function assertNoLineBreak(value: string, what: string): void {
  // A CR or LF in a credential would smuggle a second command onto the wire.
  if (/[\r\n\0]/.test(value)) throw new BridgeError('POP3_ERR_AUTH', `${what} contains a line break or NUL`);
}

export class Pop3Client {
  readonly limits: Pop3Limits;
  readonly options: Pop3ConnectOptions;
  private socket: Pop3Socket;
  private readonly reader: ReplyReader;
  private readonly queue: QueuedCommand[] = [];
  private inflight = 0;
  private pumpScheduled = false;
  private exclusiveInflight = false;
  private sessionState: SessionState = 'AUTHORIZATION';
  private encrypted: boolean;
  private caps: Capabilities = assumedCapabilities();
  private greetingInfo: Greeting = { text: '', apopTimestamp: undefined };
  private readonly onAbort = () =>
    this.reader.fatal(
      new BridgeError('POP3_ERR_ABORTED', 'aborted by the caller', { cause: this.options.signal?.reason }),
    );
  /** Identifies this session in logs; carries nothing secret. */
  readonly sessionId = randomUUID();

  private constructor(options: Pop3ConnectOptions, limits: Pop3Limits, opened: OpenedSocket, encrypted: boolean) {
    const { socket, reads } = opened;
    this.options = options;
    this.limits = limits;
    this.socket = socket;
    this.encrypted = encrypted;
    this.reader = new ReplyReader(limits, () => this.teardown());
    this.reader.attach(socket, reads);
    options.signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  /**
   * Connects, reads the greeting, learns the capabilities and, for
   * `tls: 'starttls'`, upgrades with STLS and asks CAPA again (RFC 2595 §4:
   * capabilities seen before TLS must be forgotten). Connect, handshake and
   * greeting share one deadline.
   */
  static async connect(options: Pop3ConnectOptions): Promise<Pop3Client> {
    const limits = resolveLimits(options.limits);
    const deadline = new Deadline(limits.connectTimeoutMs + limits.tlsHandshakeTimeoutMs + limits.greetingTimeoutMs);
    const mode = options.tls ?? 'implicit';
    const opened = await openSocket(options, limits, deadline);
    const client = new Pop3Client(options, limits, opened, mode === 'implicit');
    try {
      const greeting = await deadline.run(
        'greeting',
        limits.greetingTimeoutMs,
        client.expectReply('greeting', 'line'),
        {
          signal: options.signal,
          onTimeout: () => client.close(),
        },
      );
      if (!greeting.status.ok) throw errorForReply(greeting.status, 'greeting');
      client.greetingInfo = parseGreeting(greeting.status);
      await client.capa();
      if (mode === 'starttls') await client.startTls(deadline);
      return client;
    } catch (error) {
      client.close();
      throw error;
    }
  }

  get state(): SessionState {
    return this.sessionState;
  }

  get greeting(): Greeting {
    return this.greetingInfo;
  }

  get capabilities(): Capabilities {
    return this.caps;
  }

  /** True when the connection is TLS (implicit or after STLS). */
  get secure(): boolean {
    return this.encrypted;
  }

  /** True while commands are pipelined: the server advertised PIPELINING and we are past login. */
  get pipelining(): boolean {
    return this.caps.pipelining && this.sessionState === 'TRANSACTION';
  }

  // ---------------------------------------------------------------- session

  /** RFC 2449 CAPA. A server that answers -ERR (RFC 1939-only) gets the assumed TOP/UIDL/USER set. */
  async capa(): Promise<Capabilities> {
    const reply = await this.command('CAPA', { shape: 'list' });
    this.caps = reply.status.ok && reply.lines ? parseCapabilities(reply.lines) : assumedCapabilities();
    return this.caps;
  }

  private async startTls(deadline: Deadline): Promise<void> {
    const before = this.caps;
    const reply = await this.command('STLS', { exclusive: true });
    if (!reply.status.ok) {
      throw new BridgeError(
        'POP3_ERR_STLS_UNAVAILABLE',
        before.stls
          ? `server refused STLS: ${reply.status.text}`
          : 'server does not offer STLS and the mailbox requires it',
        { serverText: reply.status.text },
      );
    }
    this.reader.detach();
    if (this.reader.failed) throw this.reader.failed;
    this.socket = await upgradeToTls(this.socket as net.Socket, this.options, this.limits, deadline);
    this.encrypted = true;
    this.reader.attach(this.socket);
    await this.capa();
  }

  /** Authenticates with the method asked for, or the strongest one the server offers (`auto`). */
  async login(credentials: Pop3Credentials): Promise<void> {
    this.assertState('AUTHORIZATION', 'login');
    if (!this.encrypted && this.options.allowInsecureAuth !== true) {
      throw new BridgeError(
        'POP3_ERR_INSECURE',
        'refusing to send credentials over an unencrypted connection (use TLS, or set allowInsecureAuth explicitly)',
      );
    }
    assertNoLineBreak(credentials.username, 'username');
    if (credentials.password !== undefined) assertNoLineBreak(credentials.password, 'password');
    if (credentials.accessToken !== undefined) assertNoLineBreak(credentials.accessToken, 'access token');
    const method = this.chooseMethod(credentials);
    if (method === 'user') await this.loginUserPass(credentials);
    else if (method === 'apop') await this.loginApop(credentials);
    else await this.loginSasl(createMechanism(method, credentials, this.endpoint()));
    this.sessionState = 'TRANSACTION';
  }

  private endpoint(): { host: string; port: number } {
    const port = this.options.port ?? ((this.options.tls ?? 'implicit') === 'implicit' ? 995 : 110);
    return { host: this.options.servername ?? this.options.host, port };
  }

  private chooseMethod(credentials: Pop3Credentials): 'user' | 'apop' | SaslMechanismName {
    const method: AuthMethod = credentials.method ?? 'auto';
    const offered = new Set(this.caps.sasl);
    const unsupported = (what: string) =>
      new BridgeError('POP3_ERR_AUTH_UNSUPPORTED', `${what}; server offers SASL [${this.caps.sasl.join(' ')}]`);
    switch (method) {
      case 'user':
        return 'user';
      case 'apop':
        if (!this.greetingInfo.apopTimestamp)
          throw unsupported('APOP needs a timestamp in the greeting and there is none');
        return 'apop';
      case 'plain':
        return 'PLAIN';
      case 'login':
        return 'LOGIN';
      case 'cram-md5':
        return 'CRAM-MD5';
      case 'xoauth2':
        return 'XOAUTH2';
      case 'oauthbearer':
        return 'OAUTHBEARER';
      case 'auto': {
        if (credentials.accessToken !== undefined) {
          if (offered.has('XOAUTH2')) return 'XOAUTH2';
          if (offered.has('OAUTHBEARER')) return 'OAUTHBEARER';
          throw unsupported('an access token was given but the server offers neither XOAUTH2 nor OAUTHBEARER');
        }
        // Strongest first: CRAM-MD5 never shows the password to the server; then PLAIN/LOGIN inside TLS; USER last.
        for (const mech of SASL_PREFERENCE) if (offered.has(mech)) return mech;
        return 'user';
      }
    }
  }

  private async loginUserPass(credentials: Pop3Credentials): Promise<void> {
    if (credentials.password === undefined)
      throw new BridgeError('POP3_ERR_AUTH_UNSUPPORTED', 'USER/PASS needs a password');
    const user = await this.command(`USER ${credentials.username}`, { exclusive: true });
    if (!user.status.ok) throw errorForReply(user.status, 'USER', 'POP3_ERR_AUTH', this.caps.loginDelaySeconds);
    const pass = await this.command(`PASS ${credentials.password}`, { exclusive: true, traceAs: 'PASS ********' });
    if (!pass.status.ok) throw errorForReply(pass.status, 'PASS', 'POP3_ERR_AUTH', this.caps.loginDelaySeconds);
  }

  /** RFC 1939 §7 APOP: MD5 of the greeting timestamp followed by the shared secret. */
  private async loginApop(credentials: Pop3Credentials): Promise<void> {
    if (credentials.password === undefined) throw new BridgeError('POP3_ERR_AUTH_UNSUPPORTED', 'APOP needs a password');
    const digest = createHash('md5')
      .update(`${this.greetingInfo.apopTimestamp}${credentials.password}`, 'utf8')
      .digest('hex');
    const reply = await this.command(`APOP ${credentials.username} ${digest}`, {
      exclusive: true,
      traceAs: `APOP ${credentials.username} ********`,
    });
    if (!reply.status.ok) throw errorForReply(reply.status, 'APOP', 'POP3_ERR_AUTH', this.caps.loginDelaySeconds);
  }

  /**
   * RFC 5034 AUTH. The initial response goes on the AUTH line when the line
   * fits in 255 octets; otherwise (long OAuth tokens, as Microsoft 365 issues)
   * the server's empty `+ ` challenge is answered with it. A challenge we
   * cannot answer is cancelled with `*` (RFC 5034 §4).
   */
  private async loginSasl(mechanism: SaslMechanism): Promise<void> {
    const initial = mechanism.initialResponse();
    let deferredInitial: string | undefined;
    let line = `AUTH ${mechanism.name}`;
    if (initial !== undefined) {
      const encoded = initial.length === 0 ? '=' : initial.toString('base64');
      if (line.length + 1 + encoded.length + 2 <= SASL_INITIAL_RESPONSE_MAX_LINE) line += ` ${encoded}`;
      else deferredInitial = encoded;
    }
    let reply = await this.command(line, {
      exclusive: true,
      allowContinuation: true,
      traceAs: `AUTH ${mechanism.name}${line.length > `AUTH ${mechanism.name}`.length ? ' ********' : ''}`,
    });
    let index = 0;
    let cancelled = false;
    while (reply.status.continuation) {
      let answer: string;
      if (deferredInitial !== undefined) {
        answer = deferredInitial;
        deferredInitial = undefined;
      } else if (index > 8) {
        answer = '*';
      } else {
        const challenge = Buffer.from(reply.status.text.trim(), 'base64');
        const response = initial === undefined ? mechanism.respond(challenge, index) : undefined;
        index += 1;
        answer = response !== undefined ? response.toString('base64') : (mechanism.errorReply ?? '*');
      }
      if (answer === '*') cancelled = true;
      reply = await this.command(answer, {
        exclusive: true,
        saslResponse: true,
        allowContinuation: !cancelled,
        traceAs: answer === '*' ? '*' : '********',
      });
      if (cancelled) break;
    }
    if (!reply.status.ok) {
      throw errorForReply(reply.status, `AUTH ${mechanism.name}`, 'POP3_ERR_AUTH', this.caps.loginDelaySeconds);
    }
    if (cancelled) throw new BridgeError('POP3_ERR_AUTH', `AUTH ${mechanism.name} cancelled: unexpected challenge`);
  }

  // ------------------------------------------------------------ transaction

  async stat(): Promise<StatResult> {
    const reply = await this.transaction('STAT');
    return parseStat(reply.status.text);
  }

  /** LIST of every message. */
  async list(): Promise<ListEntry[]> {
    const reply = await this.transaction('LIST', 'list');
    return (reply.lines ?? []).map(parseListEntry);
  }

  async listOne(n: number): Promise<ListEntry> {
    assertMessageNumber(n);
    const reply = await this.transaction(`LIST ${n}`);
    return parseListEntry(reply.status.text);
  }

  /** UIDL of every message; POP3_ERR_UNSUPPORTED when the server has no UIDL. */
  async uidl(): Promise<UidlEntry[]> {
    const reply = await this.transaction('UIDL', 'list', 'POP3_ERR_UNSUPPORTED');
    return (reply.lines ?? []).map((line) => parseUidlEntry(line, this.limits.maxUidlLength));
  }

  async uidlOne(n: number): Promise<UidlEntry> {
    assertMessageNumber(n);
    const reply = await this.transaction(`UIDL ${n}`);
    return parseUidlEntry(reply.status.textLatin1 ?? reply.status.text, this.limits.maxUidlLength);
  }

  /** Header and first `lines` body lines of message `n`, as a stream. */
  async top(n: number, lines: number): Promise<Readable> {
    assertMessageNumber(n);
    if (!Number.isSafeInteger(lines) || lines < 0)
      throw new BridgeError('POP3_ERR_STATE', 'TOP line count must be >= 0');
    const reply = await this.transaction(`TOP ${n} ${lines}`, 'body');
    return reply.body!;
  }

  /** Message `n`: exact bytes, dot-unstuffed, ending at the terminator. Destroying it early closes the connection. */
  async retr(n: number): Promise<Readable> {
    assertMessageNumber(n);
    const reply = await this.transaction(`RETR ${n}`, 'body');
    return reply.body!;
  }

  /** Marks message `n` deleted; it is removed only when QUIT succeeds (RFC 1939 §6). */
  async dele(n: number): Promise<void> {
    assertMessageNumber(n);
    await this.transaction(`DELE ${n}`);
  }

  async rset(): Promise<void> {
    await this.transaction('RSET');
  }

  async noop(): Promise<void> {
    await this.transaction('NOOP');
  }

  /**
   * The cheap "anything new?" probe: STAT and `UIDL count`, pipelined when
   * possible — two short replies however large the mailbox. With the UIDL of
   * the newest message and the count, a caller that remembers both from its
   * last poll knows nothing arrived without listing every UIDL.
   */
  async newest(): Promise<NewestMessage> {
    const stat = await this.stat();
    if (stat.count === 0) return { count: 0, size: 0, lastUidl: undefined };
    const last = await this.uidlOne(stat.count);
    return { count: stat.count, size: stat.size, lastUidl: last.uidl };
  }

  /**
   * UIDL of several messages, pipelined when the server allows. Used by the
   * binary search over `UIDL n` that finds the first new message (fetchmail's
   * fastuidl) and for spot checks.
   */
  async uidlMany(ns: ReadonlyArray<number>): Promise<UidlEntry[]> {
    return Promise.all(ns.map((n) => this.uidlOne(n)));
  }

  /** DELE several messages, pipelined when the server allows. */
  async deleMany(ns: ReadonlyArray<number>): Promise<void> {
    await Promise.all(ns.map((n) => this.dele(n)));
  }

  /**
   * RETR each message and hand its stream to `consume`, in order. With
   * PIPELINING, the next RETRs are already on the wire while the current body
   * streams, so there is no round trip between messages; TCP flow control
   * still bounds what is buffered. `shouldContinue` is asked before each RETR
   * is sent: once it says no, nothing more is requested and the messages
   * already requested are still handed to `consume` (so a deadline never
   * leaves a half-read reply on the wire).
   *
   * `overlap` (default 1) lets up to that many `consume` calls run at once:
   * the next body is handed out as soon as the previous one has been read to
   * its end, while its consumer still finishes (fsync, rename, record). Bodies
   * are still read one after the other, in order.
   *
   * If a `consume` fails, the connection is closed (the rest of the replies
   * cannot be skipped safely), the other consumers are awaited, and the first
   * error is rethrown. `consume` must not wait for the reply to another
   * command of this client (e.g. an awaited DELE): that reply queues behind
   * the next body. Returns how many messages were consumed.
   */
  async retrEach(
    ns: ReadonlyArray<number>,
    consume: (n: number, body: Readable) => Promise<void>,
    options: { shouldContinue?: () => boolean; depth?: number; overlap?: number } = {},
  ): Promise<number> {
    const depth = this.pipelining ? Math.max(1, options.depth ?? 4) : 1;
    const overlap = Math.max(1, options.overlap ?? 1);
    // Only the bodies requested and not yet handed out (at most `depth`): a body handed out is the
    // consumer's, and keeping it here would keep every message's stream, and whatever its consumer hung on
    // it, alive until the last message of the session.
    const waiting: Array<Promise<Readable>> = [];
    let requested = 0;
    const running = new Set<Promise<void>>();
    let failure: { error: unknown } | undefined;
    let handedOut = 0;
    let consumed = 0;
    let stopped = false;
    const request = () => {
      while (!stopped && !failure && requested < ns.length && requested - handedOut < depth) {
        if (options.shouldContinue && !options.shouldContinue()) {
          stopped = true;
          break;
        }
        const body = this.retr(ns[requested]!);
        body.catch(() => {});
        waiting.push(body);
        requested += 1;
      }
    };
    request();
    try {
      while (handedOut < requested && !failure) {
        const body = await waiting.shift()!;
        const work = consume(ns[handedOut]!, body).then(
          () => {
            consumed += 1;
          },
          (error: unknown) => {
            failure ??= { error };
          },
        );
        handedOut += 1;
        running.add(work);
        void work.finally(() => running.delete(work));
        // The next body may go out once this one is off the wire (or its consumer is done with it).
        await Promise.race([finished(body).catch(() => {}), work]);
        while (running.size >= overlap && !failure) await Promise.race(running);
        request();
      }
    } catch (error) {
      failure ??= { error };
    }
    await Promise.all(running);
    if (failure) {
      this.close();
      throw failure.error;
    }
    return consumed;
  }

  /**
   * QUIT: in TRANSACTION state this enters UPDATE, where the server removes
   * the messages marked deleted (RFC 1939 §6). Its reply is checked: -ERR
   * means some deletions failed; a connection lost before the reply means we
   * cannot know, and both are errors the caller must see.
   */
  async quit(): Promise<void> {
    if (this.sessionState === 'CLOSED')
      throw this.reader.failed ?? new BridgeError('POP3_ERR_CLOSED', 'connection already closed');
    const wasTransaction = this.sessionState === 'TRANSACTION';
    const reply = this.command('QUIT', { exclusive: true });
    if (wasTransaction) this.sessionState = 'UPDATE';
    let status: StatusLine;
    try {
      status = (await reply).status;
    } finally {
      this.close();
    }
    if (!status.ok) throw errorForReply(status, 'QUIT');
  }

  /** Drops the connection without QUIT: deletions of this session are discarded by the server. */
  close(): void {
    if (this.sessionState === 'CLOSED') return;
    this.reader.fatal(new BridgeError('POP3_ERR_CLOSED', 'connection closed by the client'));
  }

  // -------------------------------------------------------------- internals

  private teardown(): void {
    this.sessionState = 'CLOSED';
    this.options.signal?.removeEventListener('abort', this.onAbort);
    const error = this.reader.failed;
    for (const queued of this.queue.splice(0)) queued.pending.fail(error!);
    this.socket.destroy();
  }

  private assertState(state: SessionState, what: string): void {
    if (this.sessionState !== state) {
      if (this.sessionState === 'CLOSED' && this.reader.failed) throw this.reader.failed;
      throw new BridgeError('POP3_ERR_STATE', `${what} is not allowed in the ${this.sessionState} state`);
    }
  }

  private async transaction(
    line: string,
    shape: ReplyShape = 'line',
    fallback?: 'POP3_ERR_UNSUPPORTED',
  ): Promise<Reply> {
    const verb = line.split(' ', 1)[0]!;
    const reply = await this.command(line, { shape });
    if (!reply.status.ok) throw errorForReply(reply.status, verb, fallback);
    return reply;
  }

  /** Expects a reply without sending anything (the greeting). */
  private expectReply(verb: string, shape: ReplyShape): Promise<Reply> {
    return new Promise<Reply>((resolve, reject) => {
      this.reader.expect({ verb, shape, allowContinuation: false, settle: resolve, fail: reject, complete: () => {} });
    });
  }

  private command(line: string, options: CommandOptions = {}): Promise<Reply> {
    // A SASL continuation answer is not a command; it is allowed only inside an AUTH exchange.
    const verb = options.saslResponse ? 'AUTH' : line.split(' ', 1)[0]!.toUpperCase();
    const stateVerb = options.saslResponse ? '*SASL' : verb;
    if (!ALLOWED[this.sessionState].has(stateVerb)) {
      if (this.sessionState === 'CLOSED' && this.reader.failed) return Promise.reject(this.reader.failed);
      return Promise.reject(
        new BridgeError('POP3_ERR_STATE', `${verb} is not allowed in the ${this.sessionState} state`),
      );
    }
    return new Promise<Reply>((resolve, reject) => {
      const exclusive = options.exclusive ?? false;
      const pending: PendingReply = {
        verb,
        shape: options.shape ?? 'line',
        allowContinuation: options.allowContinuation ?? false,
        settle: (reply) => {
          this.options.trace?.(
            'S',
            `${reply.status.continuation ? '+' : reply.status.ok ? '+OK' : '-ERR'} ${reply.status.text}`,
          );
          resolve(reply);
        },
        fail: reject,
        complete: () => {
          this.inflight -= 1;
          if (exclusive) this.exclusiveInflight = false;
          this.pump();
        },
      };
      this.queue.push({ line: `${line}\r\n`, traceLine: options.traceAs ?? line, exclusive, pending });
      this.schedulePump();
    });
  }

  /**
   * Commands issued in the same tick (uidlMany, deleMany) are written together: the pump runs once,
   * in a microtask, so a pipelined batch leaves in one write instead of one per command.
   */
  private schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    queueMicrotask(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  /** Writes as many queued commands as the pipelining rules allow, in one write. */
  private pump(): void {
    if (this.sessionState === 'CLOSED') return;
    const depth = this.pipelining ? this.limits.pipelineDepth : 1;
    let out = '';
    while (this.queue.length > 0) {
      const next = this.queue[0]!;
      const canWrite =
        this.inflight === 0 || (this.pipelining && !next.exclusive && !this.exclusiveInflight && this.inflight < depth);
      if (!canWrite) break;
      this.queue.shift();
      this.inflight += 1;
      if (next.exclusive) this.exclusiveInflight = true;
      this.reader.expect(next.pending);
      this.options.trace?.('C', next.traceLine);
      out += next.line;
    }
    if (out.length > 0) this.socket.write(out);
  }
}
