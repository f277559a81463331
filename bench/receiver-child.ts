/**
 * A webhook receiver for benchmarks, in its own process: verifies every
 * request with the official `standardwebhooks` package and answers 204 (or
 * 400 for a bad signature). Prints its URL first; answers `count` on stdin
 * with `{"verified":N,"bad":M}`.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import { Webhook } from 'standardwebhooks';

const webhook = new Webhook(process.argv[2] ?? '');
let verified = 0;
let bad = 0;
const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (d: Buffer) => chunks.push(d));
  req.on('end', () => {
    try {
      webhook.verify(Buffer.concat(chunks).toString('utf8'), req.headers as Record<string, string>);
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
