/**
 * `pop3-bridge demo`: the real bridge end to end on one machine, nothing to
 * configure. It serves a generated mailbox from the project's scripted POP3
 * server, starts a webhook receiver that verifies every signature with the
 * official `standardwebhooks` package, runs the local mode (folder + SQLite in
 * ./.pop3-bridge-demo) against them, and shows the promises: everything
 * stored once, every event delivered and verified, a second poll fetching
 * nothing, and the links in events working.
 */
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import path from 'node:path';
import { Webhook } from 'standardwebhooks';
import { parseConfig } from '../../config/validate.js';
import { createJsonLogger, type LogLevel } from '../../core/logger.js';
import { type PollResult, pollMailbox } from '../../core/poll/poll-mailbox.js';
import { pollTargetOf } from '../../core/poll/target.js';
import { demoMessages } from '../../demo/demo-mailbox.js';
import type { EmailReceivedEvent } from '../../events/schema.js';
import { startLinkServer } from '../../local/link-server.js';
import { openLocalRuntime } from '../../local/runtime.js';
import { startScriptedServer } from '../../scripted-server/index.js';
import { ExitCode } from '../exit-codes.js';
import { formatBytes, table } from '../output.js';
import { drainDeliveries } from './deliver.js';
import { describeResults } from './poll.js';

const DEMO_DIR = '.pop3-bridge-demo';

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

export async function demoCommand(options: { json: boolean; logLevel: LogLevel }): Promise<number> {
  const out = (text: string) => {
    if (!options.json) process.stdout.write(`${text}\n`);
  };
  const storeDir = path.resolve(DEMO_DIR);
  rmSync(storeDir, { recursive: true, force: true });

  const messages = demoMessages(12);
  const pop3 = await startScriptedServer({ messages, users: [{ username: 'demo', password: 'demo-password' }] });
  const secret = `whsec_${randomBytes(32).toString('base64')}`;
  const received: Array<{ id: string; event: EmailReceivedEvent }> = [];
  let badSignatures = 0;
  const receiver = createServer((req, res) => {
    // Decoded once at the end: a chunk's toString() would turn a character split between chunks into U+FFFD.
    const chunks: Buffer[] = [];
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', () => {
      try {
        const body = Buffer.concat(chunks).toString('utf8');
        const event = new Webhook(secret).verify(body, req.headers as IncomingHttpHeaders & Record<string, string>);
        received.push({ id: String(req.headers['webhook-id']), event: event as EmailReceivedEvent });
        res.writeHead(204).end();
      } catch {
        badSignatures += 1;
        res.writeHead(400).end('bad signature');
      }
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const hookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/webhook`;
  const linkPort = await freePort();

  const { config } = parseConfig({
    store: { dir: storeDir },
    // The demo receiver and link server live on loopback, which the SSRF guard refuses unless listed.
    webhookAllowList: ['127.0.0.1'],
    links: { listen: `127.0.0.1:${linkPort}` },
    mailboxes: [
      {
        name: 'demo',
        host: pop3.host,
        port: pop3.port,
        // Plain TCP on loopback only: the scripted server has no certificate. Real mailboxes use TLS.
        tls: 'none',
        allowInsecureAuth: true,
        username: 'demo',
        password: 'demo-password',
        mode: 'leave',
        webhooks: [{ id: 'demo-receiver', url: hookUrl, secret, allowHttp: true }],
      },
    ],
  });
  const mailbox = config.mailboxes[0]!;
  const logger = createJsonLogger({ level: options.logLevel === 'info' ? 'warn' : options.logLevel });
  const runtime = openLocalRuntime(config);
  const links = await startLinkServer({
    store: runtime.store,
    key: runtime.linkKey,
    host: '127.0.0.1',
    port: linkPort,
    logger,
  });
  const ctx = { logger } as Parameters<typeof drainDeliveries>[1];
  try {
    out(`Demo mailbox: ${messages.length} messages on the scripted POP3 server at ${pop3.host}:${pop3.port}`);
    out(`Webhook receiver (verifies signatures with standardwebhooks): ${hookUrl}`);
    out(`Local store: ${storeDir}\n`);

    const polls: PollResult[] = [];
    polls.push(await pollMailbox(pollTargetOf(mailbox), runtime.depsFor(mailbox, logger), { force: true }));
    const delivery = await drainDeliveries(runtime, ctx);
    polls.push(await pollMailbox(pollTargetOf(mailbox), runtime.depsFor(mailbox, logger), { force: true }));
    out('Two polls of the same mailbox (the second must fetch nothing):');
    out(describeResults(polls));

    out(
      `\nWebhooks: ${delivery.delivered} delivered, ${received.length} verified by the receiver, ${badSignatures} bad signatures`,
    );
    out(
      table(
        ['WEBHOOK-ID', 'FROM', 'SUBJECT', 'ATTACHMENTS'],
        received.map(({ id, event }) => [
          id,
          event.data.from[0]?.address ?? '',
          (event.data.subject ?? '').slice(0, 40),
          event.data.attachments.map((a) => `${a.filename ?? '?'} (${formatBytes(a.size)})`).join(', ') || '-',
        ]),
      ),
    );

    const sample = received.find((r) => r.event.data.raw.url);
    let linkWorks = false;
    if (sample?.event.data.raw.url) {
      const response = await fetch(sample.event.data.raw.url);
      linkWorks = response.ok && (await response.arrayBuffer()).byteLength === sample.event.data.raw.size;
      out(
        `\nThe raw-message link in an event (served by the bridge, signed, expiring): ${linkWorks ? 'works' : 'FAILED'}`,
      );
    }
    const stored = polls[0]?.fetched ?? 0;
    const ok =
      stored === messages.length &&
      polls[1]?.fetched === 0 &&
      received.length === messages.length &&
      new Set(received.map((r) => r.id)).size === messages.length &&
      badSignatures === 0 &&
      linkWorks;
    out(
      ok
        ? `\nAll promises held: ${stored} stored once, ${received.length} delivered once with verified signatures, nothing fetched twice.`
        : '\nSomething did not hold: see the tables above.',
    );
    out(
      `Look around: ${path.relative(process.cwd(), storeDir)}/mail/raw holds the .eml files, state.db the SQLite state.`,
    );
    if (options.json) {
      process.stdout.write(
        `${JSON.stringify({ ok, polls: polls.map((p) => ({ ...p, error: p.error?.toJSON() })), delivery, verified: received.length, badSignatures, linkWorks, storeDir }, null, 2)}\n`,
      );
    }
    return ok ? ExitCode.OK : ExitCode.MAILBOX_FAILED;
  } finally {
    await links.close();
    await runtime.close();
    receiver.closeAllConnections();
    await new Promise((resolve) => receiver.close(resolve));
    await pop3.close();
  }
}
