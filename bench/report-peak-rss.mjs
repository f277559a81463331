// Preloaded with `node --import` into a process a benchmark wants the peak RSS of (bench/rss-delivery.ts runs
// the real CLI this way): on exit, writes the kernel's high-water mark of resident memory (VmHWM, KiB) to the
// file named by PEAK_RSS_FILE. Plain JavaScript, so it adds no loader of its own to the figure it measures.
import { readFileSync, writeFileSync } from 'node:fs';

const out = process.env.PEAK_RSS_FILE;
if (out) {
  process.on('exit', () => {
    const status = readFileSync('/proc/self/status', 'utf8');
    const kib = Number(/^VmHWM:\s+(\d+) kB$/m.exec(status)?.[1] ?? Number.NaN);
    writeFileSync(out, JSON.stringify({ vmHwmKiB: kib }));
  });
}
