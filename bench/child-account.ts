/**
 * How a benchmark hands a Dovecot mailbox to a child process (so the child's
 * memory and start-up hold nothing of the parent): a small JSON file with the
 * connection facts and credentials, and the matching connect + login.
 */
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { Pop3Client } from '../functions/pop3/client.js';
import type { DovecotFacts, MailboxCredentials } from '../test/support/dovecot.js';

export interface ChildAccount {
  readonly host: string;
  readonly port: number;
  readonly servername: string;
  readonly caPem: string;
  readonly user: string;
  readonly password: string;
}

export async function writeChildAccount(file: string, facts: DovecotFacts, account: MailboxCredentials): Promise<void> {
  const data: ChildAccount = {
    host: facts.host,
    port: facts.tlsPort,
    servername: facts.servername,
    caPem: facts.caPem,
    user: account.user,
    password: account.password,
  };
  await writeFile(file, JSON.stringify(data), { mode: 0o600 });
}

export function readChildAccount(file: string): ChildAccount {
  return JSON.parse(readFileSync(file, 'utf8')) as ChildAccount;
}

/** Implicit TLS with the test CA, logged in: what every child benchmark measures from. */
export async function connectChildAccount(account: ChildAccount): Promise<Pop3Client> {
  const client = await Pop3Client.connect({
    host: account.host,
    port: account.port,
    tls: 'implicit',
    ca: account.caPem,
    servername: account.servername,
  });
  await client.login({ username: account.user, password: account.password });
  return client;
}
