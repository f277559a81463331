/**
 * Fault hooks of the scripted server: what Dovecot cannot be made to do.
 *
 * `override` is asked about every line the server receives (commands and
 * SASL response lines) and may answer it with raw bytes, stall, or drop the
 * connection. `body` shapes how a RETR/TOP reply goes on the wire: cut into
 * writes at given offsets, truncated by a dropped connection, stalled half
 * way, or sent with bare LF line ends.
 */
/** RFC 1939 §3 session states as the scripted server tracks them. */
export type SessionStateName = 'AUTHORIZATION' | 'TRANSACTION' | 'UPDATE';

/** A line the server received, as handed to the hooks. */
export interface ReceivedCommand {
  /** 1-based session number on this server. */
  readonly session: number;
  /** The line without its CR LF, exactly as received (credentials included: this is a test server). */
  readonly line: string;
  /** Upper-cased first word; `''` for an empty line. SASL response lines have verb `*SASL`. */
  readonly verb: string;
  /** The rest of the line after the verb and one space. */
  readonly args: string;
  /** How many lines with this verb this session has received, this one included (1-based). */
  readonly nth: number;
  /** Session state when the line arrived. */
  readonly state: SessionStateName;
}

export type FaultAction =
  /**
   * Write these bytes instead of the normal reply (add the CR LF yourself); the session state does not change.
   * `splitAt` cuts them into separate writes at these offsets, each read by the client before the next.
   */
  | { readonly kind: 'reply'; readonly raw: string | Buffer; readonly splitAt?: ReadonlyArray<number> }
  /** Send nothing, now or later: the session ignores every further line (for timeout tests). */
  | { readonly kind: 'stall' }
  /** Optionally write `raw`, then close the connection: FIN after the bytes are flushed, or a TCP RST with `reset`. */
  | { readonly kind: 'drop'; readonly raw?: string | Buffer; readonly reset?: boolean };

export const reply = (raw: string | Buffer, splitAt?: ReadonlyArray<number>): FaultAction => ({
  kind: 'reply',
  raw,
  ...(splitAt !== undefined && { splitAt }),
});
/** A reply line: `replyLine('-ERR [IN-USE] locked')` writes it with CR LF. */
export const replyLine = (line: string): FaultAction => ({ kind: 'reply', raw: `${line}\r\n` });
export const stall = (): FaultAction => ({ kind: 'stall' });
export const drop = (options: { raw?: string | Buffer; reset?: boolean } = {}): FaultAction => ({
  kind: 'drop',
  ...options,
});

export interface BodyFaults {
  /**
   * Write the whole reply (status line, stuffed body, terminator) as separate
   * writes cut at these byte offsets of the reply, letting the client read
   * each piece before the next is written.
   */
  readonly splitAt?: ReadonlyArray<number>;
  /** Close the connection after this many bytes of the stuffed body (after the status line). */
  readonly dropAfterBodyBytes?: number;
  /** With `dropAfterBodyBytes`: close with a TCP RST instead of a FIN. */
  readonly reset?: boolean;
  /** Stop sending after this many bytes of the stuffed body and ignore every further line. */
  readonly stallAfterBodyBytes?: number;
  /** Send the status line, body line ends and terminator with bare LF (the message's CR LF become LF). */
  readonly bareLf?: boolean;
}

/** Asked for every received line; `undefined` means: handle it normally. */
export type CommandOverride = (command: ReceivedCommand) => FaultAction | undefined;

export interface FaultHooks {
  readonly override?: CommandOverride;
  /** Asked for every RETR/TOP that is answered +OK; `undefined` means: send it plainly. */
  readonly body?: BodyFaults | ((command: ReceivedCommand) => BodyFaults | undefined);
}

/** Convenience: an override that answers one verb (optionally only its `nth` occurrence in a session). */
export function onVerb(verb: string, action: FaultAction, options: { nth?: number } = {}): CommandOverride {
  const upper = verb.toUpperCase();
  return (command) =>
    command.verb === upper && (options.nth === undefined || command.nth === options.nth) ? action : undefined;
}
