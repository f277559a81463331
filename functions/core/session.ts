/**
 * Opens a logged-in POP3 session for a configured mailbox: the one place that
 * maps the config schema onto the client's options and credentials.
 */
import { readFile } from 'node:fs/promises';
import type { MailboxConfig } from '../config/schema.js';
import { Pop3Client } from '../pop3/client.js';
import type { Pop3Limits } from '../pop3/limits.js';
import type { TokenSource } from './oauth/token-source.js';

export interface SessionOptions {
  readonly tokens: TokenSource;
  readonly signal?: AbortSignal | undefined;
  readonly limits?: Partial<Pop3Limits>;
  readonly trace?: (direction: 'C' | 'S', line: string) => void;
}

async function loadCa(ca: string | undefined): Promise<string | undefined> {
  if (ca === undefined) return undefined;
  return ca.includes('-----BEGIN') ? ca : readFile(ca, 'utf8');
}

export async function openMailboxSession(mailbox: MailboxConfig, options: SessionOptions): Promise<Pop3Client> {
  const ca = await loadCa(mailbox.ca);
  const client = await Pop3Client.connect({
    host: mailbox.host,
    port: mailbox.port,
    tls: mailbox.tls,
    allowInsecureAuth: mailbox.allowInsecureAuth,
    ...(ca !== undefined && { ca }),
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
    throw error;
  }
}
