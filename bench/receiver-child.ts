/**
 * A webhook receiver for benchmarks, in its own process: verifies every
 * request's Standard Webhooks signature and answers 204 (or 400 for a bad
 * one). Prints its URL first; answers `count` on stdin with
 * `{"verified":N,"bad":M}`.
 *
 *   receiver-child.ts <whsec_ secret> [node-crypto | standardwebhooks]
 *
 * `node-crypto` (the default) verifies each request with `node:crypto`'s
 * HMAC-SHA256 as the spec says (https://www.standardwebhooks.com/), and every
 * 50th one with the official `standardwebhooks` package as well: a request
 * the two disagree on counts as bad. Why not the package for every request:
 * it hashes in pure JavaScript (fast-sha256), 0.2–0.7 ms of CPU per event of
 * the bench mailbox against 10–45 µs for `node:crypto`, and this receiver
 * shares the machine's two cores with the bridge it is measuring, where a
 * real receiver runs on its own host. `standardwebhooks` verifies every
 * request, as before, in the tests (test/delivery) and with this argument.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import { Webhook } from 'standardwebhooks';

const secret = process.argv[2] ?? '';
const mode = process.argv[3] ?? 'node-crypto';
if (mode !== 'node-crypto' && mode !== 'standardwebhooks') throw new Error(`unknown verifier ${mode}`);
const CROSS_CHECK_EVERY = 50;
/** The spec's replay window: a timestamp more than 5 minutes from now is refused. */
const TOLERANCE_SECONDS = 5 * 60;

const official = new Webhook(secret);
const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');

function header(headers: IncomingHttpHeaders, name: string): string {
  const value = headers[name];
  if (typeof value !== 'string' || value === '') throw new Error(`missing ${name}`);
  return value;
}

/** Standard Webhooks verification over the raw bytes; throws when no `v1` signature matches. */
function verifyWithNodeCrypto(body: Buffer, headers: IncomingHttpHeaders): void {
  const id = header(headers, 'webhook-id');
  const timestamp = header(headers, 'webhook-timestamp');
  const seconds = Number(timestamp);
  if (!/^\d+$/.test(timestamp) || Math.abs(Date.now() / 1000 - seconds) > TOLERANCE_SECONDS) {
    throw new Error('timestamp outside the tolerance');
  }
  const expected = createHmac('sha256', key).update(`${id}.${timestamp}.`).update(body).digest();
  for (const candidate of header(headers, 'webhook-signature').split(' ')) {
    const [version, signature] = candidate.split(',', 2);
    if (version !== 'v1' || signature === undefined) continue;
    const given = Buffer.from(signature, 'base64');
    if (given.length === expected.length && timingSafeEqual(given, expected)) return;
  }
  throw new Error('no matching signature');
}

let verified = 0;
let bad = 0;
let requests = 0;
const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (d: Buffer) => chunks.push(d));
  req.on('end', () => {
    requests += 1;
    try {
      const body = Buffer.concat(chunks);
      if (mode === 'standardwebhooks' || requests % CROSS_CHECK_EVERY === 0) {
        official.verify(body.toString('utf8'), req.headers as Record<string, string>);
      }
      if (mode === 'node-crypto') verifyWithNodeCrypto(body, req.headers);
      verified += 1;
      res.writeHead(204).end();
    } catch {
      bad += 1;
      res.writeHead(400).end();
    }
  });
});
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`http://127.0.0.1:${(server.address() as AddressInfo).port}/hook\n`);
});
createInterface({ input: process.stdin }).on('line', (line) => {
  if (line.trim() === 'count') process.stdout.write(`${JSON.stringify({ verified, bad })}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
