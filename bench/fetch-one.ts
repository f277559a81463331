/**
 * Child process of bench/rss-100mb.ts: fetches message 1 of a mailbox with
 * our client into a file and prints its own peak RSS, so the figure holds
 * nothing but this fetch. With `baseline` it only imports the same modules.
 *
 *   node --import tsx bench/fetch-one.ts fetch <account.json> <out-file>
 *   node --import tsx bench/fetch-one.ts baseline
 *
 * Prints one JSON line: { mode, vmHwmKiB, maxRssKiB, bytes, ms }.
 */
import { createWriteStream, readFileSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { Pop3Client } from '../functions/pop3/client.js';
import { applyShims } from './shims.js';

interface Account {
  readonly host: string;
  readonly port: number;
  readonly servername: string;
  readonly caPem: string;
  readonly user: string;
  readonly password: string;
}

/** Peak resident set size of this process, from the kernel. */
function vmHwmKiB(): number {
  const status = readFileSync('/proc/self/status', 'utf8');
  const match = /^VmHWM:\s+(\d+)\s+kB$/m.exec(status);
  if (!match) throw new Error('no VmHWM in /proc/self/status');
  return Number.parseInt(match[1]!, 10);
}

async function fetchOne(account: Account, out: string): Promise<{ bytes: number; ms: number }> {
  const start = process.hrtime.bigint();
  const client = await Pop3Client.connect({
    host: account.host,
    port: account.port,
    tls: 'implicit',
    ca: account.caPem,
    servername: account.servername,
  });
  await client.login({ username: account.user, password: account.password });
  const sink = createWriteStream(out);
  await pipeline(await client.retr(1), sink);
  await client.quit();
  return { bytes: sink.bytesWritten, ms: Number(process.hrtime.bigint() - start) / 1e6 };
}

const [mode, accountFile, out] = process.argv.slice(2);
let result = { bytes: 0, ms: 0 };
if (mode === 'fetch' && accountFile !== undefined && out !== undefined) {
  applyShims();
  result = await fetchOne(JSON.parse(readFileSync(accountFile, 'utf8')) as Account, out);
} else if (mode !== 'baseline') {
  throw new Error('usage: fetch-one.ts fetch <account.json> <out-file> | baseline');
}
console.log(
  JSON.stringify({
    mode,
    vmHwmKiB: vmHwmKiB(),
    maxRssKiB: process.resourceUsage().maxRSS,
    Pop3Client: typeof Pop3Client,
    ...result,
  }),
);
