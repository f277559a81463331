/**
 * A Lambda handler bundle in a child process of its own, for the memory benchmarks (rss-aws-handlers.ts,
 * poll-batch-rss.ts): it imports only the bundle, as Lambda does, and runs one invocation per request from
 * the parent, reporting resident memory and, for a measured one, the peak during it.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';

/** Lambda's own limit for poll (5 min); deliver's is 2 min. */
const INVOCATION_TIMEOUT_MS = 5 * 60_000;

/**
 * The child: the bundle's handler, then one invocation per line of stdin (a JSON event); for each it writes one
 * JSON line to stdout. An invocation marked `measure` first reports resident memory, then resets the peak
 * (VmHWM, /proc/self/clear_refs) and reports the peak during it.
 */
const CHILD = `
import { readFileSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
const status = (field) => Number(readFileSync('/proc/self/status', 'utf8').split('\\n').find((l) => l.startsWith(field + ':')).replace(/[^0-9]/g, '')) / 1024;
const { handler } = await import(process.env.BENCH_BUNDLE_URL);
const context = { getRemainingTimeInMillis: () => 300000 };
process.stdout.write('BENCH {"ready":true}\\n');
for await (const line of createInterface({ input: process.stdin })) {
  const { event, measure } = JSON.parse(line);
  const before = status('VmRSS');
  if (measure) writeFileSync('/proc/self/clear_refs', '5');
  const max = { arrayBuffers: 0, heapUsed: 0, heapTotal: 0 };
  const sampler = setInterval(() => { const m = process.memoryUsage(); for (const k of Object.keys(max)) max[k] = Math.max(max[k], m[k] / 1048576); }, 20);
  const start = performance.now();
  const response = await handler(event, context);
  const ms = performance.now() - start;
  clearInterval(sampler);
  process.stdout.write('BENCH ' + JSON.stringify({ before, peak: status('VmHWM'), ms, max, failed: response?.batchItemFailures?.length ?? 0 }) + '\\n');
}
`;

export interface ChildResult {
  readonly before: number;
  readonly peak: number;
  readonly ms: number;
  /** Highest `process.memoryUsage()` figures (MiB) sampled every 20 ms during the invocation. */
  readonly max: { readonly arrayBuffers: number; readonly heapUsed: number; readonly heapTotal: number };
}

/** An SQS event as Lambda's event source hands it to a handler, one record per body. */
export const sqsEvent = (bodies: ReadonlyArray<string>) => ({
  Records: bodies.map((body, i) => ({ messageId: `job-${i}`, body })),
});

/**
 * Starts one handler bundle in its own plain `node` process (`bin`), as Lambda runs it, with `env`; `invoke`
 * sends it an event and waits for its report.
 */
export async function startHandlerChild(bin: string, bundle: string, env: NodeJS.ProcessEnv) {
  const child = spawn(bin, ['--input-type=module', '-e', CHILD], {
    env: { ...env, BENCH_BUNDLE_URL: pathToFileURL(bundle).href },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const lines = createInterface({ input: child.stdout });
  const waiters: Array<(line: string | undefined) => void> = [];
  // The handlers log to stdout too (Powertools); the child's own lines start with BENCH.
  lines.on('line', (line) => {
    if (line.startsWith('BENCH ')) waiters.shift()?.(line.slice('BENCH '.length));
  });
  lines.on('close', () => {
    for (const waiter of waiters.splice(0)) waiter(undefined);
  });
  const next = async (): Promise<string> => {
    const line = await new Promise<string | undefined>((resolve) => {
      waiters.push(resolve);
    });
    if (line === undefined) throw new Error(`${path.basename(path.dirname(bundle))} child exited: ${stderr}`);
    return line;
  };
  await next();
  return {
    async invoke(event: unknown, measure = false): Promise<ChildResult> {
      const reply = next();
      child.stdin.write(`${JSON.stringify({ event, measure })}\n`);
      // A handler that hangs must not hang the benchmark: killing the child ends `next` with an error.
      const timer = setTimeout(() => child.kill('SIGKILL'), INVOCATION_TIMEOUT_MS);
      const result = JSON.parse(await reply.finally(() => clearTimeout(timer))) as ChildResult & { failed: number };
      if (result.failed > 0) throw new Error(`${path.basename(path.dirname(bundle))}: a record failed: ${stderr}`);
      return result;
    },
    stop: () => child.kill('SIGTERM'),
  };
}
