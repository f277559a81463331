/**
 * One connection to the scripted server: reads command lines (recording each
 * TCP read, so tests can see what was pipelined), answers them in order as
 * RFC 1939 / 2449 / 5034 say, unless a fault hook says otherwise.
 *
 * Replies are written with real backpressure: a body is written in 64 KiB
 * pieces and the session waits for `drain` whenever `write()` returns false,
 * so `stats` shows how far a slow client let the server get.
 */
import { createHash } from 'node:crypto';
import type net from 'node:net';
import type { BodyFaults, FaultAction, FaultHooks, ReceivedCommand, SessionStateName } from './faults.js';
import type { Mailbox, MailboxView } from './mailbox.js';
import {
  decodeSaslResponse,
  type OAuthDetails,
  type SaslExchange,
  type ScriptedSaslMechanism,
  type ScriptedUser,
  startSasl,
} from './sasl-server.js';
import { multiLineBody, toBareLf, topOf } from './wire.js';

const LF = 0x0a;
const WRITE_PIECE = 64 * 1024;
/** A client line longer than this (without LF) gets the connection closed, as real servers do. */
const MAX_LINE = 64 * 1024;

export interface ReceivedLine {
  /** The line without CR LF. */
  readonly line: string;
  /** Index into `reads` of the TCP read that completed this line. */
  readonly read: number;
  /** True for a SASL response line (not a command). */
  readonly sasl: boolean;
}

export interface SessionStats {
  /** Bytes passed to `socket.write()`. */
  bytesQueued: number;
  /** Bytes whose write callback fired: handed to the kernel. */
  bytesFlushed: number;
  /** How often `socket.write()` returned false (the client was not reading fast enough). */
  writeReturnedFalse: number;
  /** True while the session waits for `drain`. */
  waitingForDrain: boolean;
}

/** Settings a session needs from the server. */
export interface SessionConfig {
  readonly mailbox: Mailbox;
  readonly users: ReadonlyArray<ScriptedUser>;
  readonly greetingLine: (session: number) => string | Buffer;
  /** CAPA lines; `null`: CAPA is answered -ERR (an RFC 1939-only server). */
  readonly capabilities: ReadonlyArray<string> | null;
  readonly uidl: boolean;
  readonly userPass: boolean;
  readonly saslMechanisms: ReadonlyArray<ScriptedSaslMechanism>;
  readonly oauthErrors: 'challenge' | 'direct';
  readonly maxAuthLineOctets: number;
  readonly faults: FaultHooks;
  readonly onEvent: ((session: number, event: string) => void) | undefined;
}

type LineFn = () => Promise<void>;

export class ScriptedSession {
  readonly received: ReceivedLine[] = [];
  /** Every chunk the server read from this connection, in order. */
  readonly reads: Buffer[] = [];
  /** `C: <line>` when a line arrives, `S: <status line>` / `S: end of <VERB> body` as replies go out. */
  readonly events: string[] = [];
  readonly stats: SessionStats = { bytesQueued: 0, bytesFlushed: 0, writeReturnedFalse: 0, waitingForDrain: false };
  /** OAuth payload details of the last XOAUTH2/OAUTHBEARER attempt. */
  oauth: OAuthDetails | undefined;
  /** The user who logged in, once in TRANSACTION. */
  user: string | undefined;
  /** Resolves when the socket has closed. */
  readonly closed: Promise<void>;

  private sessionState: SessionStateName = 'AUTHORIZATION';
  private input: Buffer = Buffer.alloc(0);
  private readonly pending: Array<{ line: string; index: number }> = [];
  private readonly verbCounts = new Map<string, number>();
  private working = false;
  private stalled = false;
  private gone = false;
  private pendingUser: string | undefined;
  private view: MailboxView | undefined;
  private sasl: SaslExchange | undefined;
  private readonly greetingText: string;
  private lastWrite: Promise<void> = Promise.resolve();

  constructor(
    readonly id: number,
    private readonly socket: net.Socket,
    private readonly config: SessionConfig,
  ) {
    socket.setNoDelay(true);
    this.closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.on('close', () => {
      this.gone = true;
      this.log('S: connection closed');
    });
    socket.on('error', () => socket.destroy());
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    const greeting = config.greetingLine(id);
    this.greetingText = Buffer.isBuffer(greeting) ? greeting.toString('latin1') : greeting;
    void this.write(greeting);
  }

  get state(): SessionStateName {
    return this.sessionState;
  }

  get isClosed(): boolean {
    return this.gone;
  }

  /** Destroys the socket at once. */
  destroy(): void {
    this.socket.destroy();
  }

  private log(event: string): void {
    this.events.push(event);
    this.config.onEvent?.(this.id, event);
  }

  private onData(chunk: Buffer): void {
    this.reads.push(chunk);
    const read = this.reads.length - 1;
    this.input = this.input.length === 0 ? chunk : Buffer.concat([this.input, chunk]);
    for (let nl = this.input.indexOf(LF); nl !== -1; nl = this.input.indexOf(LF)) {
      const end = nl > 0 && this.input[nl - 1] === 0x0d ? nl - 1 : nl;
      const line = this.input.subarray(0, end).toString('utf8');
      this.input = this.input.subarray(nl + 1);
      // Whether a line is a SASL response depends on the replies before it; decided when it is handled.
      this.received.push({ line, read, sasl: false });
      this.log(`C: ${line}`);
      this.pending.push({ line, index: this.received.length - 1 });
    }
    if (this.input.length > MAX_LINE) {
      this.log('S: line too long, closing');
      this.socket.destroy();
      return;
    }
    void this.work();
  }

  private async work(): Promise<void> {
    if (this.working) return;
    this.working = true;
    try {
      while (this.pending.length > 0 && !this.stalled && !this.gone) {
        const next = this.pending.shift()!;
        await this.handle(next.line, next.index);
      }
    } finally {
      this.working = false;
    }
  }

  // ------------------------------------------------------------- writing

  private write(data: string | Buffer): Promise<void> {
    if (this.gone || this.socket.destroyed) return Promise.resolve();
    const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    if (buf.length === 0) return Promise.resolve();
    this.stats.bytesQueued += buf.length;
    let accepted = true;
    this.lastWrite = new Promise<void>((resolve) => {
      accepted = this.socket.write(buf, (error) => {
        if (!error) this.stats.bytesFlushed += buf.length;
        resolve();
      });
    });
    if (!accepted) {
      this.stats.writeReturnedFalse += 1;
      return this.waitForDrain();
    }
    return Promise.resolve();
  }

  private waitForDrain(): Promise<void> {
    this.stats.waitingForDrain = true;
    return new Promise<void>((resolve) => {
      const done = () => {
        this.socket.off('drain', done);
        this.socket.off('close', done);
        this.stats.waitingForDrain = false;
        resolve();
      };
      this.socket.on('drain', done);
      this.socket.on('close', done);
    });
  }

  private async line(text: string): Promise<void> {
    this.log(`S: ${text}`);
    await this.write(`${text}\r\n`);
  }

  private async multiLine(status: string, lines: ReadonlyArray<string>): Promise<void> {
    this.log(`S: ${status}`);
    const body = lines.map((l) => `${l.startsWith('.') ? '.' : ''}${l}\r\n`).join('');
    await this.write(`${status}\r\n${body}.\r\n`);
  }

  /** Closes after everything written so far is flushed: FIN, or RST with `reset`. */
  private async hangUp(reset: boolean): Promise<void> {
    await this.lastWrite;
    if (reset) this.socket.resetAndDestroy();
    else this.socket.end(() => this.socket.destroy());
    this.gone = true;
  }

  /** Writes `data` in pieces cut at `offsets`, letting the client read each piece before the next is written. */
  private async writeSplit(data: Buffer, offsets: ReadonlyArray<number>): Promise<void> {
    const cuts = [...new Set(offsets)].filter((o) => o > 0 && o < data.length).sort((a, b) => a - b);
    let from = 0;
    for (const cut of cuts) {
      await this.write(data.subarray(from, cut));
      from = cut;
      await this.lastWrite;
      await ScriptedSession.nextTurn();
    }
    await this.write(data.subarray(from));
  }

  /** Lets the event loop run a full turn so the client reads what was written before the next piece. */
  private static nextTurn(): Promise<void> {
    return new Promise((resolve) => setImmediate(() => setImmediate(resolve)));
  }

  // ------------------------------------------------------------ commands

  private received_(line: string, sasl: boolean): ReceivedCommand {
    const space = line.indexOf(' ');
    const verb = sasl ? '*SASL' : (space === -1 ? line : line.slice(0, space)).toUpperCase();
    const nth = (this.verbCounts.get(verb) ?? 0) + 1;
    this.verbCounts.set(verb, nth);
    return {
      session: this.id,
      line,
      verb,
      args: sasl || space === -1 ? '' : line.slice(space + 1),
      nth,
      state: this.sessionState,
    };
  }

  private async handle(line: string, index: number): Promise<void> {
    const sasl = this.sasl !== undefined;
    if (sasl) this.received[index] = { ...this.received[index]!, sasl: true };
    const command = this.received_(line, sasl);
    const action = this.config.faults.override?.(command);
    if (action) {
      await this.applyFault(action);
      return;
    }
    if (this.sasl) {
      await this.saslResponse(line);
      return;
    }
    const handler = this.handlerFor(command);
    if (handler) await handler();
    else await this.line(`-ERR unknown command or not allowed in the ${this.sessionState} state`);
  }

  private async applyFault(action: FaultAction): Promise<void> {
    switch (action.kind) {
      case 'reply': {
        const raw = Buffer.from(action.raw);
        this.log(`S: [fault] ${raw.toString('latin1').trimEnd()}`);
        await this.writeSplit(raw, action.splitAt ?? []);
        return;
      }
      case 'stall':
        this.log('S: [fault] stall');
        this.stalled = true;
        return;
      case 'drop':
        this.log('S: [fault] drop');
        if (action.raw !== undefined) await this.write(action.raw);
        await this.hangUp(action.reset ?? false);
        return;
    }
  }

  private handlerFor(command: ReceivedCommand): LineFn | undefined {
    const { verb, args } = command;
    if (verb === 'CAPA') return () => this.capa();
    if (verb === 'QUIT') return () => this.quit();
    if (this.sessionState === 'AUTHORIZATION') {
      switch (verb) {
        case 'USER':
          return () => this.user_(args);
        case 'PASS':
          return () => this.pass(args);
        case 'APOP':
          return () => this.apop(args);
        case 'AUTH':
          return () => this.auth(command.line, args);
        case 'STLS':
          return () => this.line('-ERR STLS is not supported by the scripted server');
        default:
          return undefined;
      }
    }
    if (this.sessionState !== 'TRANSACTION') return undefined;
    switch (verb) {
      case 'STAT':
        return () => this.stat();
      case 'LIST':
        return () => this.list(args);
      case 'UIDL':
        return this.config.uidl ? () => this.uidl(args) : undefined;
      case 'RETR':
        return () => this.retr(command, args);
      case 'TOP':
        return () => this.top(command, args);
      case 'DELE':
        return () => this.dele(args);
      case 'RSET':
        return () => this.rset();
      case 'NOOP':
        return () => this.line('+OK');
      default:
        return undefined;
    }
  }

  private async capa(): Promise<void> {
    if (this.config.capabilities === null) {
      await this.line('-ERR unknown command');
      return;
    }
    await this.multiLine('+OK Capability list follows', this.config.capabilities);
  }

  private async quit(): Promise<void> {
    if (this.sessionState === 'TRANSACTION') {
      // RFC 1939 §6: QUIT in TRANSACTION enters UPDATE and removes the marked messages.
      this.sessionState = 'UPDATE';
      const removed = this.view!.commit();
      await this.line(`+OK Logging out, ${removed} messages deleted.`);
    } else {
      await this.line('+OK Logging out.');
    }
    await this.hangUp(false);
  }

  private enterTransaction(user: string): void {
    this.user = user;
    this.sessionState = 'TRANSACTION';
    this.view = this.config.mailbox.open();
  }

  private findUser(name: string): ScriptedUser | undefined {
    return this.config.users.find((u) => u.username === name);
  }

  private async user_(args: string): Promise<void> {
    if (!this.config.userPass) {
      await this.line('-ERR USER is not supported');
      return;
    }
    this.pendingUser = args;
    await this.line('+OK');
  }

  private async pass(args: string): Promise<void> {
    const name = this.pendingUser;
    this.pendingUser = undefined;
    if (name === undefined) {
      await this.line('-ERR No username given.');
      return;
    }
    const user = this.findUser(name);
    if (user?.password === undefined || user.password !== args) {
      await this.line('-ERR [AUTH] Authentication failed.');
      return;
    }
    this.enterTransaction(name);
    await this.line('+OK Logged in.');
  }

  /** RFC 1939 §7: APOP name digest, digest = MD5(timestamp + secret) in lower-case hex. */
  private async apop(args: string): Promise<void> {
    const timestamp = /<[^<>\s@]*@[^<>\s]*>/.exec(this.greetingText)?.[0];
    const match = /^(\S+) ([0-9a-f]{32})$/.exec(args);
    if (timestamp === undefined) {
      await this.line('-ERR APOP is not available (no timestamp in the greeting)');
      return;
    }
    const user = match ? this.findUser(match[1]!) : undefined;
    const expected =
      user?.password === undefined
        ? undefined
        : createHash('md5').update(`${timestamp}${user.password}`, 'utf8').digest('hex');
    if (!match || expected === undefined || expected !== match[2]) {
      await this.line('-ERR [AUTH] Authentication failed.');
      return;
    }
    this.enterTransaction(match[1]!);
    await this.line('+OK Logged in.');
  }

  private async auth(line: string, args: string): Promise<void> {
    // RFC 5034 §4: the AUTH line with its initial response is at most 255 octets including CR LF.
    if (Buffer.byteLength(line, 'utf8') + 2 > this.config.maxAuthLineOctets) {
      await this.line('-ERR AUTH line too long');
      return;
    }
    const [name, initial, extra] = args.split(' ');
    const mechanism = this.config.saslMechanisms.find((m) => m === name?.toUpperCase());
    if (mechanism === undefined || extra !== undefined) {
      await this.line('-ERR Unsupported authentication mechanism.');
      return;
    }
    let response: Buffer | undefined;
    if (initial !== undefined) {
      response = decodeSaslResponse(initial);
      if (response === undefined) {
        await this.line('-ERR Invalid base64 data in initial response');
        return;
      }
    }
    this.sasl = startSasl(mechanism, {
      users: this.config.users,
      oauthErrors: this.config.oauthErrors,
      cramChallenge: `<${1000 + this.id}.${this.id}@scripted.test>`,
      onOAuth: (details) => {
        this.oauth = details;
      },
    });
    await this.saslStep(response, initial ?? '');
  }

  private async saslResponse(line: string): Promise<void> {
    if (line === '*') {
      this.sasl = undefined;
      await this.line('-ERR Authentication cancelled.');
      return;
    }
    // An empty line is a valid answer only to an error challenge (XOAUTH2); decode it as empty.
    const response = line === '' ? Buffer.alloc(0) : decodeSaslResponse(line);
    if (response === undefined) {
      this.sasl = undefined;
      await this.line('-ERR Invalid base64 data in continued response');
      return;
    }
    await this.saslStep(response, line);
  }

  private async saslStep(response: Buffer | undefined, rawLine: string): Promise<void> {
    const step = this.sasl!.step(response, rawLine);
    if (step.kind === 'challenge') {
      await this.line(`+ ${step.text}`);
      return;
    }
    this.sasl = undefined;
    if (step.kind === 'failure') {
      await this.line(step.line);
      return;
    }
    this.enterTransaction(step.user);
    await this.line('+OK Logged in.');
  }

  /** Parses a message-number argument; answers -ERR itself and returns undefined when it is bad. */
  private async message(arg: string | undefined): Promise<[number, Buffer, string] | undefined> {
    if (arg === undefined || !/^\d{1,9}$/.test(arg)) {
      await this.line('-ERR Invalid message number');
      return undefined;
    }
    const n = Number(arg);
    const message = this.view!.get(n);
    if (!message) {
      await this.line(this.view!.isDeleted(n) ? `-ERR Message ${n} is deleted` : '-ERR There is no such message.');
      return undefined;
    }
    return [n, message.body, message.uidl];
  }

  private async stat(): Promise<void> {
    const live = this.view!.live();
    const size = live.reduce((sum, [, m]) => sum + m.body.length, 0);
    await this.line(`+OK ${live.length} ${size}`);
  }

  private async list(args: string): Promise<void> {
    if (args !== '') {
      const found = await this.message(args);
      if (found) await this.line(`+OK ${found[0]} ${found[1].length}`);
      return;
    }
    const live = this.view!.live();
    await this.multiLine(
      `+OK ${live.length} messages`,
      live.map(([n, m]) => `${n} ${m.body.length}`),
    );
  }

  private async uidl(args: string): Promise<void> {
    if (args !== '') {
      const found = await this.message(args);
      if (found) await this.line(`+OK ${found[0]} ${found[2]}`);
      return;
    }
    await this.multiLine(
      '+OK',
      this.view!.live().map(([n, m]) => `${n} ${m.uidl}`),
    );
  }

  private async dele(args: string): Promise<void> {
    const found = await this.message(args);
    if (!found) return;
    this.view!.dele(found[0]);
    await this.line(`+OK Marked to be deleted.`);
  }

  private async rset(): Promise<void> {
    this.view!.rset();
    await this.line(`+OK`);
  }

  private async retr(command: ReceivedCommand, args: string): Promise<void> {
    const found = await this.message(args);
    if (found) await this.sendBody(command, `+OK ${found[1].length} octets`, found[1]);
  }

  private async top(command: ReceivedCommand, args: string): Promise<void> {
    const [n, lines, extra] = args.split(' ');
    if (lines === undefined || !/^\d{1,9}$/.test(lines) || extra !== undefined) {
      await this.line('-ERR Invalid arguments');
      return;
    }
    const found = await this.message(n);
    if (found) await this.sendBody(command, '+OK', topOf(found[1], Number(lines)));
  }

  private bodyFaults(command: ReceivedCommand): BodyFaults {
    const hook = this.config.faults.body;
    return (typeof hook === 'function' ? hook(command) : hook) ?? {};
  }

  private async sendBody(command: ReceivedCommand, status: string, body: Buffer): Promise<void> {
    const faults = this.bodyFaults(command);
    const eol = faults.bareLf ? '\n' : '\r\n';
    const head = Buffer.from(`${status}${eol}`, 'latin1');
    const wire = Buffer.concat([head, multiLineBody(faults.bareLf ? toBareLf(body) : body, eol)]);
    this.log(`S: ${status}`);
    let limit = wire.length;
    if (faults.dropAfterBodyBytes !== undefined) limit = Math.min(limit, head.length + faults.dropAfterBodyBytes);
    if (faults.stallAfterBodyBytes !== undefined) limit = Math.min(limit, head.length + faults.stallAfterBodyBytes);
    if (faults.splitAt !== undefined && faults.splitAt.length > 0) {
      await this.writeSplit(wire.subarray(0, limit), faults.splitAt);
    } else {
      for (let from = 0; from < limit && !this.gone; from += WRITE_PIECE) {
        await this.write(wire.subarray(from, Math.min(limit, from + WRITE_PIECE)));
      }
    }
    if (limit === wire.length) {
      this.log(`S: end of ${command.verb} body`);
      return;
    }
    if (faults.dropAfterBodyBytes !== undefined && limit === head.length + faults.dropAfterBodyBytes) {
      this.log(`S: [fault] drop after ${faults.dropAfterBodyBytes} body bytes`);
      await this.hangUp(faults.reset ?? false);
    } else {
      this.log(`S: [fault] stall after ${faults.stallAfterBodyBytes} body bytes`);
      this.stalled = true;
    }
  }
}
