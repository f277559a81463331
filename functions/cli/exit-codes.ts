/** Exit codes of `pop3-bridge`, documented in README.md. */
export const ExitCode = {
  /** Everything asked for succeeded (a mailbox another process is polling counts as success). */
  OK: 0,
  /**
   * At least one mailbox failed (status: is marked failing), or was skipped because its config is invalid; or
   * (deliver, replay) a delivery was dead-lettered; or `run` stopped on an error it cannot go on after, once its
   * work in flight had ended (a single mailbox's failure never stops it).
   */
  MAILBOX_FAILED: 1,
  /** Bad command line, or a config file that cannot be read or has no valid top level. */
  USAGE: 2,
  /** The webhook-id or message named on the command line is not in the state store. */
  NOT_FOUND: 3,
} as const;
