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
import { type ChildAccount, connectChildAccount, readChildAccount } from './child-account.js';
import { applyShims } from './shims.js';

/** Peak resident set size of this process, from the kernel. */
function vmHwmKiB(): number {
  const status = readFileSync('/proc/self/status', 'utf8');
  const match = /^VmHWM:\s+(\d+)\s+kB$/m.exec(status);
  if (!match) throw new Error('no VmHWM in /proc/self/status');
  return Number.parseInt(match[1]!, 10);
}

async function fetchOne(account: ChildAccount, out: string): Promise<{ bytes: number; ms: number }> {
  const start = process.hrtime.bigint();
  const client = await connectChildAccount(account);
  const sink = createWriteStream(out);
  await pipeline(await client.retr(1), sink);
  await client.quit();
  return { bytes: sink.bytesWritten, ms: Number(process.hrtime.bigint() - start) / 1e6 };
}

const [mode, accountFile, out] = process.argv.slice(2);
let result = { bytes: 0, ms: 0 };
if (mode === 'fetch' && accountFile !== undefined && out !== undefined) {
  applyShims();
  result = await fetchOne(readChildAccount(accountFile), out);
} else if (mode !== 'baseline') {
  throw new Error('usage: fetch-one.ts fetch <account.json> <out-file> | baseline');
}
console.log(
  JSON.stringify({
    mode,
    vmHwmKiB: vmHwmKiB(),
    maxRssKiB: process.resourceUsage().maxRSS,
    client: typeof connectChildAccount, // the baseline loads the client's modules too
    ...result,
  }),
);
