/**
 * What the CLI tests of delivery share: a webhook receiver on 127.0.0.1 that
 * verifies every request with the official `standardwebhooks` package, and a
 * local-mode configuration with one Dovecot mailbox whose one webhook points
 * at it (through the allow-list, as an internal receiver is configured).
 */
import { writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { Webhook } from 'standardwebhooks';
import type { DovecotFacts } from './dovecot.js';

export const RECEIVER_SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

export interface VerifyingReceiver {
  readonly url: string;
  /** The webhook-id of every request that verified, in arrival order (repeats kept). */
  readonly verified: string[];
  /** `performance.now()` of each verified arrival. */
  readonly arrivals: number[];
  /** Requests whose signature did not verify (answered 400). */
  readonly bad: () => number;
  readonly close: () => Promise<void>;
}

/** `onRequest` runs as each request arrives, before its body is read. */
export async function startVerifyingReceiver(
  options: { readonly onRequest?: () => void; readonly onVerified?: (count: number) => void } = {},
): Promise<VerifyingReceiver> {
  const verified: string[] = [];
  const arrivals: number[] = [];
  let bad = 0;
  const server = createServer((req, res) => {
    options.onRequest?.();
    let body = '';
    req.setEncoding('utf8'); // characters split between chunks stay whole
    req.on('data', (d: string) => (body += d));
    req.on('end', () => {
      try {
        new Webhook(RECEIVER_SECRET).verify(body, req.headers as Record<string, string>);
        verified.push(String(req.headers['webhook-id']));
        arrivals.push(performance.now());
        res.writeHead(204).end();
        options.onVerified?.(verified.length);
      } catch {
        bad += 1;
        res.writeHead(400).end();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    verified,
    arrivals,
    bad: () => bad,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

interface Account {
  readonly user: string;
  readonly password: string;
}

export interface OneMailboxOptions {
  readonly name: string;
  readonly webhookUrl: string;
  /** Default 'state' (relative to the directory the CLI runs in). */
  readonly storeDir?: string;
  readonly mailbox?: object;
}

/**
 * A configuration (as the JSON file holds it) for one mailbox `name` on the test Dovecot, its one webhook at
 * `webhookUrl`; `mailbox` adds or overrides mailbox fields. Writes the CA file it names into `dir`.
 */
export async function oneMailboxConfig(
  dir: string,
  facts: DovecotFacts,
  account: Account,
  options: OneMailboxOptions,
): Promise<Record<string, unknown>> {
  await writeFile(path.join(dir, 'ca.pem'), facts.caPem);
  return {
    store: { dir: options.storeDir ?? 'state' },
    webhookAllowList: ['127.0.0.1'],
    links: { listen: '127.0.0.1:0' },
    mailboxes: [
      {
        name: options.name,
        host: facts.host,
        port: facts.tlsPort,
        servername: facts.servername,
        ca: path.join(dir, 'ca.pem'),
        username: account.user,
        password: account.password,
        webhooks: [{ url: options.webhookUrl, secret: RECEIVER_SECRET, allowHttp: true }],
        ...options.mailbox,
      },
    ],
  };
}

/** `oneMailboxConfig` written to `<dir>/pop3-bridge.json`, where the CLI finds it. */
export async function writeOneMailboxConfig(
  dir: string,
  facts: DovecotFacts,
  account: Account,
  options: OneMailboxOptions,
): Promise<void> {
  const config = await oneMailboxConfig(dir, facts, account, options);
  await writeFile(path.join(dir, 'pop3-bridge.json'), JSON.stringify(config));
}
