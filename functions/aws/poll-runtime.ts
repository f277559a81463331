/**
 * The poll function's wiring on top of the shared AWS runtime: the S3 raw
 * store messages stream into, and POP3 sessions with an OAuth2 token source
 * (tokens cached for the life of the container). Kept apart from runtime.ts so
 * the dispatch bundle carries neither the POP3 client nor the upload code.
 */
import type { MailboxConfig } from '../config/schema.js';
import type { Logger } from '../core/logger.js';
import { createTokenSource } from '../core/oauth/token-source.js';
import type { PollDeps } from '../core/poll/poll-mailbox.js';
import { openMailboxSession } from '../core/session.js';
import type { AwsRuntime } from './runtime.js';
import { S3RawStore } from './s3-raw-store.js';

export interface AwsPollRuntime {
  pollDeps(mailbox: MailboxConfig, logger: Logger): PollDeps;
}

/** Call once per container (module scope): the store and token cache are reused across invocations. */
export function createAwsPollRuntime(runtime: AwsRuntime): AwsPollRuntime {
  const store = new S3RawStore(runtime.clients.s3, { bucket: runtime.env.bucketName });
  const tokens = createTokenSource();
  return {
    pollDeps(mailbox, logger) {
      return {
        state: runtime.state,
        store,
        logger,
        openSession: () => openMailboxSession(mailbox, { tokens, logger }),
      };
    },
  };
}
