/**
 * Socket reads into one buffer that lives as long as the connection (Node's
 * `onread` option of `net.connect` and `tls.connect`), instead of a fresh
 * Buffer for every read.
 *
 * Why: Dovecot sends a body in TLS records of about 4 KiB, and Node's TLS
 * socket made a Buffer for each one's plaintext, on the thread that also runs
 * the poll and the delivery: about the size of every message in Buffers,
 * besides the reply reader's gathering copy, each with its ArrayBuffer to
 * create and later collect. Measured with `bench/e2e-delivery.ts` (N=5000,
 * four runs, old and new alternated, 2026-11-28 04:21–04:28 UTC): the
 * bridge's CPU per message in the "beside" run went from 3.46 / 3.51 ms to
 * 3.35 / 3.25 ms, and `bench/local-poll.ts` from 5.41 / 5.13 s to
 * 4.93 / 4.83 s (store on tmpfs: 3.22 / 3.23 s to 2.74 / 2.75 s);
 * docs/performance.md. The cost: with fewer JS objects per byte, V8
 * scavenges less often, so dead 64 KiB body chunks wait for its trigger on
 * young backing stores (32 MB of them): the client alone fetching a 100 MiB
 * message peaks at 77 MiB instead of 70 (`bench/rss-100mb.ts`, target 100);
 * a constant, not a share of the message.
 *
 * The bytes handed on are valid only until the callback returns: the next
 * read overwrites them. The consumer (ReplyReader) copies what it keeps.
 */

/** Holds a whole TLS record's plaintext (at most 16 KiB, RFC 8446 §5.1) with room to spare; one per connection. */
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
