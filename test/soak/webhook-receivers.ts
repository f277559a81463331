/**
 * The soak's webhook receivers: real HTTP servers on loopback that verify
 * every signature with the official `standardwebhooks` package and log every
 * request they get (webhook-id, message uid, what they answered). Normal
 * receivers answer 500/503, hold the answer past the bridge's timeout, or
 * answer 429 with Retry-After, as the fault plan says; the `gone` receiver
 * answers 410 once (after a few deliveries) and must then never hear again.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import type { FaultPlan } from './fault-plan.js';

export interface ReceivedWebhook {
  readonly endpoint: string;
  readonly webhookId: string;
  readonly uid: string;
  /** What the receiver answered; `timeout` when it held the answer past the bridge's timeout. */
  readonly answer: number | 'timeout';
  readonly signatureOk: boolean;
  readonly at: number;
}

export interface Receiver {
  readonly id: string;
  readonly url: string;
  readonly secret: string;
  close(): Promise<void>;
}

export interface ReceiverSet {
  readonly receivers: ReadonlyArray<Receiver>;
  readonly log: ReceivedWebhook[];
  /** When the gone receiver first answered 410 (undefined if it never did). */
  readonly goneAt: number | undefined;
  close(): Promise<void>;
}

/** Secrets of the form Standard Webhooks prescribes (`whsec_` + base64 of random-looking bytes, fixed for the seed). */
function secretFor(id: string, seed: number): string {
  return `whsec_${Buffer.from(`soak-${seed}-${id}-secret-bytes!`).toString('base64')}`;
}

async function listen(server: http.Server): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  return (server.address() as AddressInfo).port;
}

export async function startReceivers(
  plan: FaultPlan,
  options: { normal: ReadonlyArray<string>; gone: string; timeoutMs: number; goneAfter: number },
): Promise<ReceiverSet> {
  const log: ReceivedWebhook[] = [];
  const gone: { at: number | undefined } = { at: undefined };
  const receivers: Receiver[] = [];
  let goneSeen = 0;
  for (const id of [...options.normal, options.gone]) {
    const secret = secretFor(id, plan.seed);
    const verifier = new Webhook(secret);
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const headers = {
          'webhook-id': String(req.headers['webhook-id'] ?? ''),
          'webhook-timestamp': String(req.headers['webhook-timestamp'] ?? ''),
          'webhook-signature': String(req.headers['webhook-signature'] ?? ''),
        };
        let signatureOk = true;
        let uid = '';
        try {
          const event = verifier.verify(body, headers) as { data?: { uid?: string } };
          uid = event.data?.uid ?? '';
        } catch {
          signatureOk = false;
          uid = (JSON.parse(body) as { data?: { uid?: string } }).data?.uid ?? '';
        }
        const entry = (answer: number | 'timeout') =>
          log.push({ endpoint: id, webhookId: headers['webhook-id'], uid, answer, signatureOk, at: Date.now() });
        if (id === options.gone) {
          goneSeen += 1;
          const status = gone.at !== undefined || goneSeen > options.goneAfter ? 410 : 200;
          if (status === 410 && gone.at === undefined) {
            gone.at = Date.now();
            plan.count('webhook: 410 Gone');
          }
          entry(status);
          res.writeHead(status).end();
          return;
        }
        if (plan.chance(`webhook-${id}`, plan.rates.webhook)) {
          const pick = plan.int(`webhook-kind-${id}`, 0, 2);
          if (pick === 0) {
            plan.count('webhook: 5xx');
            const status = plan.chance(`webhook-5xx-${id}`, 0.5) ? 500 : 503;
            entry(status);
            res.writeHead(status, { 'content-type': 'text/plain' }).end('injected failure');
          } else if (pick === 1) {
            plan.count('webhook: timeout');
            entry('timeout');
            // Answer 200 only after the bridge gave up: a late success must not count as delivered.
            setTimeout(() => res.writeHead(200).end(), options.timeoutMs * 2).unref();
          } else {
            plan.count('webhook: 429 Retry-After');
            entry(429);
            res.writeHead(429, { 'retry-after': '1' }).end();
          }
          return;
        }
        entry(200);
        res.writeHead(200).end();
      });
    });
    // A bridge that timed out closes mid-answer; that is the fault being injected, not a receiver error.
    server.on('clientError', (_e, socket) => socket.destroy());
    const port = await listen(server);
    receivers.push({
      id,
      url: `http://127.0.0.1:${port}/hook/${id}`,
      secret,
      close: async () => {
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      },
    });
  }
  return {
    receivers,
    log,
    get goneAt() {
      return gone.at;
    },
    close: async () => {
      await Promise.all(receivers.map((r) => r.close()));
    },
  };
}
