/**
 * Socket reads into one buffer that lives as long as the connection (Node's
 * `onread` option of `net.connect` and `tls.connect`), instead of a fresh
 * Buffer for every read.
 *
 * Why: V8 counts the Buffer bytes allocated since its last full GC against
 * the old generation's headroom, which is small on the thread that runs the
 * poll (its JS heap is small). A Buffer per decrypted TLS record (Dovecot
 * sends ~4 KiB records) made that thread allocate about the size of every
 * message twice (records, then the reply reader's gathering), and run a full
 * GC every few megabytes: 23–36 per 2,000 bench messages
 * (docs/performance.md, 2026-11-28). With one read buffer only the gathering
 * allocates.
 *
 * The bytes handed on are valid only until the callback returns: the next
 * read overwrites them. The consumer (ReplyReader) copies what it keeps.
 */

/** Large enough for the plaintext of several TLS records (at most 16 KiB each, RFC 8446 §5.1). */
export const READ_BUFFER_BYTES = 64 * 1024;

export class BorrowedReads {
  readonly #buffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);
  #consumer: ((view: Buffer) => void) | undefined;
  /** Bytes that arrived before a consumer was set (copies). */
  #early: Buffer[] = [];

  /** The `onread` option to pass to `net.connect` / `tls.connect`. */
  readonly onread = {
    buffer: this.#buffer,
    callback: (bytes: number): boolean => {
      const view = this.#buffer.subarray(0, bytes);
      if (this.#consumer) this.#consumer(view);
      else this.#early.push(Buffer.from(view));
      // Never pause from here: the consumer pauses the socket itself when its reader must wait.
      return true;
    },
  };

  /** Sets the one consumer; bytes that arrived before it are handed on first. */
  setConsumer(consumer: ((view: Buffer) => void) | undefined): void {
    this.#consumer = consumer;
    if (consumer === undefined) return;
    const early = this.#early;
    this.#early = [];
    for (const bytes of early) consumer(bytes);
  }
}
