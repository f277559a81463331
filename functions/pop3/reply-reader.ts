/**
 * Reads POP3 replies off a socket, in the order the commands were sent (which
 * is what makes RFC 2449 PIPELINING safe): single status lines, multi-line
 * lists (CAPA, LIST, UIDL) collected as lines, and multi-line bodies (RETR,
 * TOP) handed out as a Readable while they arrive.
 *
 * Backpressure is real: when a body's consumer stops reading, the socket is
 * paused and nothing more is read from the kernel until the consumer asks.
 * A connection that ends before a reply is complete fails that reply with
 * POP3_ERR_CLOSED — a truncated body is never reported as a clean end.
 */
import type { Duplex } from 'node:stream';
import { Readable } from 'node:stream';
import { offerChunkRecycling } from '../core/chunk-recycling.js';
import { BridgeError, isBridgeError } from '../core/errors.js';
import type { BorrowedReads } from './borrowed-reads.js';
import { parseStatusLine, type StatusLine } from './commands.js';
import { DotDecoder } from './dot-decoder.js';
import type { Pop3Limits } from './limits.js';

const LF = 0x0a;

export type ReplyShape = 'line' | 'list' | 'body';

export interface Reply {
  readonly status: StatusLine;
  /** List lines (latin1, so any byte survives), when the shape was `list` and the status +OK. */
  readonly lines?: string[];
  /** The body, when the shape was `body` and the status +OK. */
  readonly body?: Readable;
}

export interface PendingReply {
  readonly verb: string;
  readonly shape: ReplyShape;
  /** SASL exchanges (RFC 5034) may answer with a `+ challenge` line instead of +OK/-ERR. */
  readonly allowContinuation: boolean;
  /** Called once with the status line (and the list or body stream). */
  readonly settle: (reply: Reply) => void;
  /** Called instead of settle when the connection fails first. */
  readonly fail: (error: BridgeError) => void;
  /** Called once the whole reply has been read off the wire (for a body: at its terminator). */
  readonly complete: () => void;
}

interface BodyInProgress {
  readonly pending: PendingReply;
  readonly decoder: DotDecoder;
  readonly stream: BodyStream;
}

/**
 * Servers send bodies in small TLS records (Dovecot: about 4 KiB), one socket
 * read each. Handing those on one by one costs the consumer a write per 4 KiB;
 * gathering them into chunks of up to 64 KiB (the stream's high-water mark)
 * costs one copy and bounds what we hold. The copy is also what lets the
 * socket read into one reused buffer (borrowed-reads.ts): nothing pushed
 * points into it.
 */
const GATHER_BYTES = 64 * 1024;
/**
 * Gathering buffers given back by a consumer that claimed recycling (core/chunk-recycling.ts) and kept for the
 * next chunks. The folder store gives each chunk back as soon as it is written, so one or two are in use at a
 * time; four leave room for a consumer that returns a few chunks late, and more would only hold memory.
 */
const SPARE_BUFFERS = 4;

interface ListInProgress {
  readonly pending: PendingReply;
  readonly status: StatusLine;
  readonly lines: string[];
  /** Bytes of the entries so far (checked against maxListBytes). */
  bytes: number;
}

/** The status line in `line`, with its latin1 text beside the UTF-8 one when the two differ. */
function statusOf(line: Buffer): StatusLine {
  const status = parseStatusLine(line.toString('utf8'));
  for (const byte of line) {
    if (byte > 0x7f) return { ...status, textLatin1: parseStatusLine(line.toString('latin1')).text };
  }
  return status;
}

/**
 * A UIDL or LIST entry is a message number, a space and a UIDL or a size: no longer than the longest UIDL
 * accepted plus this. Checked per line as it arrives, so a server cannot make us hold a listing of long lines
 * before parseUidlEntry would refuse them (8 KiB lines × 2,000,000 entries ran the heap out).
 */
const LIST_ENTRY_EXTRA_BYTES = 32;

class BodyStream extends Readable {
  /** A consumer claimed recycling: the last chunk may be handed out in its gathering buffer (no copy). */
  recycling = false;

  constructor(
    private readonly onRead: () => void,
    private readonly onEarlyDestroy: () => void,
  ) {
    super({ highWaterMark: 64 * 1024 });
  }
  finishedOnWire = false;

  override _read(): void {
    this.onRead();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    // A body destroyed before its terminator leaves the rest of it on the wire:
    // the only safe thing is to close the connection (see STYLE.md, imapflow).
    if (!this.finishedOnWire) this.onEarlyDestroy();
    callback(error);
  }
}

export class ReplyReader {
  private readonly queue: PendingReply[] = [];
  private socket: Duplex | undefined;
  private reads: BorrowedReads | undefined;
  private buffer: Buffer | undefined;
  private body: BodyInProgress | undefined;
  /**
   * Decoded body bytes not yet pushed, in `gather[0, gathered)`. A full buffer is pushed as it is and a new
   * one taken; a body's last bytes are pushed as an exact-size copy and the buffer kept for the next body,
   * so a message allocates about its own size, not a multiple of 64 KiB.
   */
  private gather: Buffer | undefined;
  private gathered = 0;
  /** Gathering buffers given back, ready to be filled again. */
  private readonly spare: Buffer[] = [];
  /**
   * The chunks handed out to a recycling consumer and not yet given back: their buffer, and the length pushed
   * with it. Only those are taken back, whole and once, so a slice of one or a second return cannot put a
   * buffer still in use on the spare list.
   */
  private readonly handedOut = new WeakMap<ArrayBufferLike, number>();
  /**
   * Bytes that arrived while a body's consumer made us wait, joined once when it reads again. A socket with
   * `onread` (borrowed-reads.ts) keeps handing over what it had already decrypted after it is paused, and
   * reports the end of the connection at once, where 'data' events would have come first.
   */
  private arrivedWhilePaused: Buffer[] = [];
  /** The connection ended while bytes still waited in arrivedWhilePaused: handled once they are read. */
  private endWaiting = false;
  private list: ListInProgress | undefined;
  private paused = false;
  private processing = false;
  private failure: BridgeError | undefined;
  private timer: NodeJS.Timeout | undefined;
  private timerKind: 'command' | 'idle' | undefined;
  /** The reply a command timer was started for: another one at the head of the queue starts it again. */
  private timerFor: unknown;
  private readonly listeners = {
    data: (chunk: Buffer) => this.onData(chunk),
    end: () => this.onEnd(),
    close: () => this.onEnd(),
    error: (error: Error) => this.onSocketError(error),
  };

  constructor(
    private readonly limits: Pop3Limits,
    /** Told once when the connection becomes unusable; the owner destroys the socket. */
    private readonly onFatal: (error: BridgeError) => void,
  ) {}

  get failed(): BridgeError | undefined {
    return this.failure;
  }

  get pendingCount(): number {
    return this.queue.length;
  }

  /**
   * Reads replies from `socket`: from its 'data' events, or, when it was opened with `onread`, from `reads`,
   * whose bytes are valid only during the call (onBorrowed keeps copies).
   */
  attach(socket: Duplex, reads?: BorrowedReads): void {
    this.socket = socket;
    this.reads = reads;
    if (reads) reads.setConsumer((view) => this.onBorrowed(view));
    else socket.on('data', this.listeners.data);
    socket.on('end', this.listeners.end);
    socket.on('close', this.listeners.close);
    socket.on('error', this.listeners.error);
    if (this.paused) socket.pause();
  }

  /**
   * Stops reading from the socket (before a TLS upgrade). Bytes already read
   * but not consumed would be plaintext injected before the handshake (the
   * STARTTLS injection flaw, CVE-2011-0411): that is a protocol error.
   */
  detach(): void {
    const socket = this.socket;
    if (!socket) return;
    if (this.reads) this.reads.setConsumer(undefined);
    else socket.off('data', this.listeners.data);
    this.reads = undefined;
    socket.off('end', this.listeners.end);
    socket.off('close', this.listeners.close);
    socket.off('error', this.listeners.error);
    this.socket = undefined;
    if ((this.buffer !== undefined && this.buffer.length > 0) || this.arrivedWhilePaused.length > 0) {
      this.fatal(
        new BridgeError('POP3_ERR_PROTOCOL', 'server sent data after the STLS reply, before the TLS handshake'),
      );
    }
  }

  expect(pending: PendingReply): void {
    if (this.failure) {
      pending.fail(this.failure);
      return;
    }
    this.queue.push(pending);
    if (this.queue.length === 1) this.armTimer();
    this.process();
  }

  /** Fails every pending reply and the body in progress; idempotent. */
  fatal(error: BridgeError): void {
    if (this.failure) return;
    this.failure = error;
    this.arrivedWhilePaused = [];
    this.clearTimer();
    const body = this.body;
    this.body = undefined;
    this.list = undefined;
    const pending = this.queue.splice(0);
    if (body) {
      body.stream.finishedOnWire = true;
      body.stream.destroy(error);
    }
    for (const p of pending) {
      if (p !== body?.pending) p.fail(error);
    }
    this.onFatal(error);
  }

  private onData(chunk: Buffer): void {
    if (this.paused) {
      this.arrivedWhilePaused.push(chunk);
      return;
    }
    this.buffer = this.buffer === undefined || this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    this.process();
  }

  /** Bytes from the socket's reused read buffer: whatever is left unprocessed is copied before the next read. */
  private onBorrowed(view: Buffer): void {
    if (this.paused) {
      this.arrivedWhilePaused.push(Buffer.from(view));
      return;
    }
    this.onData(view);
    const left = this.buffer;
    if (left !== undefined && left.length > 0 && left.buffer === view.buffer) this.buffer = Buffer.from(left);
  }

  private onEnd(): void {
    if (this.failure) return;
    if (this.paused && this.arrivedWhilePaused.length > 0) {
      // Everything before the end was received; the reply may well be complete in it.
      this.endWaiting = true;
      return;
    }
    if (this.queue.length > 0 || this.body) {
      const what = this.body ? 'before the end of the message' : 'before the reply was complete';
      this.fatal(
        new BridgeError('POP3_ERR_CLOSED', `connection closed ${what}`, {
          context: { command: this.queue[0]?.verb ?? 'unknown' },
        }),
      );
    } else {
      this.fatal(new BridgeError('POP3_ERR_CLOSED', 'connection closed by the server'));
    }
  }

  private onSocketError(error: Error): void {
    this.fatal(
      isBridgeError(error)
        ? error
        : new BridgeError(
            'POP3_ERR_CLOSED',
            `connection failed: ${(error as NodeJS.ErrnoException).code ?? error.message}`,
            {
              cause: error,
            },
          ),
    );
  }

  private resumeFromConsumer(): void {
    if (!this.paused) return;
    this.paused = false;
    this.socket?.resume();
    this.armTimer();
    this.process();
  }

  private process(): void {
    if (this.processing || this.failure) return;
    this.processing = true;
    try {
      if (!this.paused && this.arrivedWhilePaused.length > 0) {
        const parts = this.buffer !== undefined && this.buffer.length > 0 ? [this.buffer] : [];
        this.buffer = Buffer.concat(parts.concat(this.arrivedWhilePaused));
        this.arrivedWhilePaused = [];
      }
      this.processLoop();
    } catch (error) {
      this.fatal(
        isBridgeError(error)
          ? error
          : new BridgeError('POP3_ERR_PROTOCOL', 'could not parse the reply', { cause: error }),
      );
    } finally {
      this.processing = false;
    }
    if (this.endWaiting && !this.paused && !this.failure) {
      this.endWaiting = false;
      this.onEnd();
    }
    if (!this.failure) this.armTimer();
  }

  private processLoop(): void {
    while (!this.paused && !this.failure && this.buffer !== undefined && this.buffer.length > 0) {
      if (this.body) {
        if (!this.feedBody(this.body)) return;
        continue;
      }
      if (this.list) {
        if (!this.feedList(this.list)) return;
        continue;
      }
      const head = this.queue[0];
      if (!head) {
        throw new BridgeError('POP3_ERR_PROTOCOL', 'server sent data nobody asked for', {
          serverText: this.buffer.subarray(0, 200).toString('utf8').trim(),
        });
      }
      const line = this.takeLine(this.limits.maxStatusLineBytes, 'status line');
      if (line === undefined) return;
      const status = statusOf(line);
      if (status.continuation && !head.allowContinuation) {
        throw new BridgeError('POP3_ERR_PROTOCOL', `unexpected continuation line in reply to ${head.verb}`);
      }
      if (!status.ok || status.continuation || head.shape === 'line') {
        this.queue.shift();
        head.settle({ status });
        head.complete();
      } else if (head.shape === 'list') {
        this.list = { pending: head, status, lines: [], bytes: 0 };
      } else {
        const stream = new BodyStream(
          () => this.resumeFromConsumer(),
          () =>
            this.fatal(
              new BridgeError('POP3_ERR_ABORTED', `${head.verb} stream destroyed before its end; connection closed`),
            ),
        );
        // A pipelined body may fail before anyone reads it (the connection dropped while the previous
        // message streamed): that must not crash the process. A later reader still sees `errored`.
        stream.on('error', () => {});
        offerChunkRecycling(stream, () => {
          stream.recycling = true;
          return (chunk) => this.takeBack(chunk);
        });
        this.gathered = 0;
        this.body = { pending: head, decoder: new DotDecoder(this.limits), stream };
        head.settle({ status, body: stream });
      }
    }
  }

  /** Returns false when more input is needed or the consumer asked us to wait. */
  private feedBody(body: BodyInProgress): boolean {
    const input = this.buffer!;
    this.buffer = undefined;
    const result = body.decoder.feed(input);
    for (const slice of result.out) this.gatherBody(body, slice);
    if (result.done) {
      this.pushLastBytes(body);
      // The finished body needs no more backpressure: its last bytes are already queued in the stream.
      this.paused = false;
      this.buffer = result.rest;
      this.body = undefined;
      this.queue.shift();
      body.stream.finishedOnWire = true;
      body.stream.push(null);
      body.pending.complete();
      return true;
    }
    if (this.paused) {
      this.socket?.pause();
      this.clearTimer();
    }
    return false;
  }

  /** Copies a decoded slice into the gathering buffer, pushing each buffer as it fills. */
  private gatherBody(body: BodyInProgress, slice: Buffer): void {
    let offset = 0;
    while (offset < slice.length) {
      // allocUnsafeSlow: never a slice of the shared pool, whatever Buffer.poolSize is (Node 24 raised it to
      // 64 KiB), so each gathering buffer owns its ArrayBuffer, which is what takeBack recognises it by.
      this.gather ??= this.spare.pop() ?? Buffer.allocUnsafeSlow(GATHER_BYTES);
      const copied = slice.copy(this.gather, this.gathered, offset);
      this.gathered += copied;
      offset += copied;
      if (this.gathered === GATHER_BYTES) {
        const full = this.gather;
        this.gather = undefined;
        this.gathered = 0;
        if (body.stream.recycling) this.handedOut.set(full.buffer, full.length);
        if (!body.stream.push(full)) this.paused = true;
      }
    }
  }

  /**
   * A consumer that recycles gets the last bytes in the gathering buffer itself, which comes back; any other
   * gets an exact-size copy, and the buffer is kept for the next body (so a message allocates about its own
   * size, not a multiple of 64 KiB).
   */
  private pushLastBytes(body: BodyInProgress): void {
    if (this.gather === undefined || this.gathered === 0) return;
    let last: Buffer;
    if (body.stream.recycling) {
      last = this.gather.subarray(0, this.gathered);
      this.handedOut.set(last.buffer, last.length);
      this.gather = undefined;
    } else {
      last = Buffer.from(this.gather.subarray(0, this.gathered));
    }
    this.gathered = 0;
    if (!body.stream.push(last)) this.paused = true;
  }

  /** A recycling consumer gives a chunk back: its buffer becomes spare if it is one handed out, whole. */
  private takeBack(chunk: Buffer): void {
    const buffer = chunk.buffer;
    if (chunk.byteOffset !== 0 || this.handedOut.get(buffer) !== chunk.length) return;
    this.handedOut.delete(buffer);
    if (this.spare.length < SPARE_BUFFERS) this.spare.push(Buffer.from(buffer, 0, GATHER_BYTES));
  }

  private feedList(list: ListInProgress): boolean {
    const verb = list.pending.verb;
    const maxLine =
      verb === 'UIDL' || verb === 'LIST'
        ? Math.min(this.limits.maxStatusLineBytes, this.limits.maxUidlLength + LIST_ENTRY_EXTRA_BYTES)
        : this.limits.maxStatusLineBytes;
    for (;;) {
      const raw = this.takeLine(maxLine, `${verb} list entry`);
      if (raw === undefined) return false;
      if (raw.length === 1 && raw[0] === 0x2e) {
        this.list = undefined;
        this.queue.shift();
        list.pending.settle({ status: list.status, lines: list.lines });
        list.pending.complete();
        return true;
      }
      if (list.lines.length >= this.limits.maxListEntries) {
        throw new BridgeError(
          'POP3_ERR_LIMIT',
          `${list.pending.verb} reply has more than ${this.limits.maxListEntries} entries`,
          {
            context: { limit: 'maxListEntries' },
          },
        );
      }
      list.bytes += raw.length;
      if (list.bytes > this.limits.maxListBytes) {
        throw new BridgeError('POP3_ERR_LIMIT', `${verb} reply is larger than ${this.limits.maxListBytes} bytes`, {
          context: { limit: 'maxListBytes' },
        });
      }
      // RFC 1939 §3 byte-stuffing applies to list replies too.
      list.lines.push((raw[0] === 0x2e ? raw.subarray(1) : raw).toString('latin1'));
    }
  }

  /** Takes one line (without CR LF) off the buffer, or undefined if it is not complete yet. */
  private takeLine(max: number, what: string): Buffer | undefined {
    // feedList calls this in a loop: after the last complete line the buffer is empty (undefined).
    const buf = this.buffer;
    if (buf === undefined) return undefined;
    const nl = buf.indexOf(LF);
    if (nl === -1) {
      if (buf.length > max) {
        throw new BridgeError('POP3_ERR_LIMIT', `${what} longer than ${max} bytes`, {
          context: { limit: 'maxStatusLineBytes' },
        });
      }
      return undefined;
    }
    const end = nl > 0 && buf[nl - 1] === 0x0d ? nl - 1 : nl;
    if (end > max) {
      throw new BridgeError('POP3_ERR_LIMIT', `${what} longer than ${max} bytes`, {
        context: { limit: 'maxStatusLineBytes' },
      });
    }
    const line = buf.subarray(0, end);
    this.buffer = nl + 1 < buf.length ? buf.subarray(nl + 1) : undefined;
    return line;
  }

  /**
   * One timer: waiting for a status line counts against the command timeout;
   * a list or body in progress against the idle timeout; a consumer that holds
   * us paused, or an idle connection with nothing pending, against nothing.
   */
  private armTimer(): void {
    if (this.failure || this.queue.length === 0 || this.paused) {
      this.clearTimer();
      return;
    }
    const kind = this.body || this.list ? 'idle' : 'command';
    const ms = kind === 'idle' ? this.limits.idleTimeoutMs : this.limits.commandTimeoutMs;
    const head = this.queue[0];
    if (this.timer && this.timerKind === kind) {
      // A body or list in progress: any data is progress, so silence is what counts. A status line: the time
      // from the command to its whole line counts, so data that is not yet the line end does not restart it
      // (one byte a minute would otherwise hold a session, and its mailbox's lease, for days).
      if (kind === 'idle') this.timer.refresh();
      else if (this.timerFor !== head) {
        this.timerFor = head;
        this.timer.refresh();
      }
      return;
    }
    this.clearTimer();
    this.timerKind = kind;
    this.timerFor = head;
    this.timer = setTimeout(() => {
      const verb = this.queue[0]?.verb ?? 'command';
      this.fatal(
        new BridgeError('POP3_ERR_TIMEOUT', `no ${kind === 'idle' ? 'data' : 'reply'} to ${verb} for ${ms} ms`, {
          context: { command: verb, timeout: kind },
        }),
      );
    }, ms);
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerKind = undefined;
    this.timerFor = undefined;
  }
}
