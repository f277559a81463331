/**
 * The scripted server's in-memory maildrop, with RFC 1939 UPDATE semantics:
 * a session sees a numbered snapshot taken when it enters TRANSACTION; DELE
 * only marks a message; the marks are applied when QUIT is answered in the
 * TRANSACTION state (§6) and forgotten when the connection drops (§6: "if the
 * session ends for any other reason, messages marked as deleted are not
 * removed").
 */

export interface ScriptedMessageInit {
  readonly body: string | Buffer;
  /** Any string, including duplicates and ones longer than RFC 1939's 70 characters. Default `uid-<n>`. */
  readonly uidl?: string;
}

export interface StoredMessage {
  /** Server-internal identity; never shown to clients. */
  readonly id: number;
  readonly body: Buffer;
  readonly uidl: string;
}

function toMessageInit(init: string | Buffer | ScriptedMessageInit): ScriptedMessageInit {
  return typeof init === 'string' || Buffer.isBuffer(init) ? { body: init } : init;
}

export class Mailbox {
  private readonly stored: StoredMessage[] = [];
  private nextId = 1;

  constructor(messages: ReadonlyArray<string | Buffer | ScriptedMessageInit> = []) {
    for (const message of messages) this.add(message);
  }

  /** Adds a message at the end of the maildrop; sessions already in TRANSACTION do not see it (their snapshot is fixed). */
  add(init: string | Buffer | ScriptedMessageInit): StoredMessage {
    const { body, uidl } = toMessageInit(init);
    const id = this.nextId;
    this.nextId += 1;
    const message: StoredMessage = Object.freeze({
      id,
      body: Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8'),
      uidl: uidl ?? `uid-${id}`,
    });
    this.stored.push(message);
    return message;
  }

  /** The messages currently in the maildrop, in order. */
  get messages(): ReadonlyArray<StoredMessage> {
    return [...this.stored];
  }

  /** A numbered view for one session (RFC 1939 §5: numbers are fixed for the session's lifetime). */
  open(): MailboxView {
    return new MailboxView(this, [...this.stored]);
  }

  /** Removes messages by identity; called only from a successful UPDATE. */
  remove(ids: ReadonlySet<number>): void {
    for (let i = this.stored.length - 1; i >= 0; i -= 1) {
      if (ids.has(this.stored[i]!.id)) this.stored.splice(i, 1);
    }
  }
}

export class MailboxView {
  private readonly deleted = new Set<number>();

  constructor(
    private readonly mailbox: Mailbox,
    private readonly snapshot: ReadonlyArray<StoredMessage>,
  ) {}

  /** Message `n` (1-based) unless it does not exist or is marked deleted. */
  get(n: number): StoredMessage | undefined {
    const message = this.snapshot[n - 1];
    if (message === undefined || this.deleted.has(n)) return undefined;
    return message;
  }

  isDeleted(n: number): boolean {
    return this.deleted.has(n);
  }

  /** `[n, message]` for every message not marked deleted. */
  live(): Array<[number, StoredMessage]> {
    const out: Array<[number, StoredMessage]> = [];
    this.snapshot.forEach((message, i) => {
      if (!this.deleted.has(i + 1)) out.push([i + 1, message]);
    });
    return out;
  }

  dele(n: number): boolean {
    if (this.get(n) === undefined) return false;
    this.deleted.add(n);
    return true;
  }

  rset(): void {
    this.deleted.clear();
  }

  /** RFC 1939 §6 UPDATE: removes the marked messages from the maildrop. */
  commit(): number {
    const ids = new Set<number>();
    for (const n of this.deleted) ids.add(this.snapshot[n - 1]!.id);
    this.mailbox.remove(ids);
    return ids.size;
  }
}
