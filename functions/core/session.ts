/**
 * Opens a logged-in POP3 session for a configured mailbox: the one place that
 * maps the config schema onto the client's options and credentials.
 */
import { readFile } from 'node:fs/promises';
import type tls from 'node:tls';
import type { MailboxConfig } from '../config/schema.js';
import { Pop3Client } from '../pop3/client.js';
import type { Pop3Limits } from '../pop3/limits.js';
import { trustContext } from '../pop3/transport.js';
import { defaultRoots } from './default-roots.js';
import { isBridgeError } from './errors.js';
import { type Logger, silentLogger } from './logger.js';
import type { TokenSource } from './oauth/token-source.js';

export interface SessionOptions {
  readonly tokens: TokenSource;
  readonly signal?: AbortSignal | undefined;
  readonly limits?: Partial<Pop3Limits>;
  readonly trace?: (direction: 'C' | 'S', line: string) => void;
  /** Where a problem with NODE_EXTRA_CA_CERTS is reported (default-roots.ts): once, for the first mailbox with a `ca`. */
  readonly logger?: Logger;
}

/**
 * One TLS context per configured CA, built once: with Node's ~140 roots beside it a context takes ≈ 22 ms of CPU
 * to build (≈ 0.3 ms for one CA), and a `ca` option would build it again on every connection, every poll.
 */
const trustContexts = new Map<string, tls.SecureContext>();

async function trustFor(ca: string | undefined, logger: Logger): Promise<tls.SecureContext | undefined> {
  if (ca === undefined) return undefined;
  const pem = ca.includes('-----BEGIN') ? ca : await readFile(ca, 'utf8');
  let context = trustContexts.get(pem);
  if (context === undefined) {
    context = trustContext(await withDefaultRoots(pem, logger));
    trustContexts.set(pem, context);
  }
  return context;
}

/**
 * The config's `ca` is an *extra* trusted CA (docs/config.schema.json), but Node's `ca` option replaces the
 * root store: passed alone, adding an intermediate for a server that sends only its leaf made every public root
 * untrusted, and the connection failed. So what Node trusts by default goes with it: its bundled roots and the
 * operator's NODE_EXTRA_CA_CERTS (default-roots.ts; Node 20's `tls.rootCertificates` lacks the latter), added to
 * Node's own default context, which also holds OpenSSL's store under --use-openssl-ca (trustContext).
 */
export async function withDefaultRoots(pem: string, logger: Logger): Promise<string[]> {
  return [...(await defaultRoots(logger)), pem];
}

export async function openMailboxSession(mailbox: MailboxConfig, options: SessionOptions): Promise<Pop3Client> {
  const secureContext = await trustFor(mailbox.ca, options.logger ?? silentLogger);
  const client = await Pop3Client.connect({
    host: mailbox.host,
    port: mailbox.port,
    tls: mailbox.tls,
    allowInsecureAuth: mailbox.allowInsecureAuth,
    ...(secureContext !== undefined && { secureContext }),
    ...(mailbox.servername !== undefined && { servername: mailbox.servername }),
    ...(mailbox.pinnedSha256 !== undefined && { pinnedSha256: mailbox.pinnedSha256 }),
    ...(options.signal !== undefined && { signal: options.signal }),
    ...(options.limits !== undefined && { limits: options.limits }),
    ...(options.trace !== undefined && { trace: options.trace }),
  });
  try {
    const accessToken = mailbox.oauth2 ? await options.tokens.accessToken(mailbox.oauth2, options.signal) : undefined;
    await client.login({
      username: mailbox.username,
      method: mailbox.method,
      ...(mailbox.password !== undefined && { password: mailbox.password }),
      ...(accessToken !== undefined && { accessToken }),
    });
    return client;
  } catch (error) {
    client.close();
    // A token the server refused is not used again: it may predate a permission just granted (POP.AccessAsApp)
    // or have been revoked, and the cache would otherwise hand it out until it expires, an hour of failed polls.
    if (mailbox.oauth2 && isBridgeError(error, 'POP3_ERR_AUTH')) options.tokens.forget?.(mailbox.oauth2);
    throw error;
  }
}
