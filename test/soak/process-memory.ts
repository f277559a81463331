/**
 * Watches the resident memory of a process group (moto_server and the pyenv
 * shim in front of it) during a soak: records the peak, and calls `onOverCap`
 * once when it passes a cap, so a run can stop moto before the machine starts
 * thrashing. moto 5.2 keeps every model instance it ever created (see
 * docs/soak.md), so its memory grows with the square of the messages stored.
 *
 * Linux only (/proc); elsewhere the peak stays undefined and nothing is capped.
 */
import { readdir, readFile } from 'node:fs/promises';

export interface MemoryWatch {
  /** Highest sum of VmRSS over the group seen so far, in MiB; undefined if never measured. */
  peakMb(): number | undefined;
  /**
   * Takes a sample now (after any in progress), calling `onOverCap` if it is over the cap. A run that ends
   * between two timer samples is still held to the cap: on a fast machine a short run can end before the first.
   */
  check(): Promise<void>;
  /** Takes one more sample, then stops the timer. */
  stop(): Promise<void>;
}

export interface MemoryWatchOptions {
  readonly everyMs?: number;
  readonly capMb?: number;
  readonly onOverCap?: (rssMb: number) => void;
}

/** Field 5 of /proc/<pid>/stat is the process group; the command name before it may contain spaces and ')'. */
function groupOf(stat: string): number {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[2]);
}

function rssKbOf(status: string): number {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  return match ? Number(match[1]) : 0;
}

/** Sum of VmRSS (MiB) of the processes in group `pgid`; undefined when /proc cannot be read. */
export async function groupRssMb(pgid: number): Promise<number | undefined> {
  let pids: string[];
  try {
    pids = (await readdir('/proc')).filter((name) => /^\d+$/.test(name));
  } catch {
    return undefined;
  }
  let kb = 0;
  let found = false;
  await Promise.all(
    pids.map(async (pid) => {
      try {
        if (groupOf(await readFile(`/proc/${pid}/stat`, 'utf8')) !== pgid) return;
        kb += rssKbOf(await readFile(`/proc/${pid}/status`, 'utf8'));
        found = true;
      } catch {
        // The process ended between readdir and read.
      }
    }),
  );
  return found ? kb / 1024 : undefined;
}

export function watchGroupMemory(pgid: number, options: MemoryWatchOptions = {}): MemoryWatch {
  let peak: number | undefined;
  let tripped = false;
  let sampling: Promise<void> = Promise.resolve();
  const sample = async (): Promise<void> => {
    const mb = await groupRssMb(pgid);
    if (mb === undefined) return;
    peak = Math.max(peak ?? 0, mb);
    if (options.capMb !== undefined && mb > options.capMb && !tripped) {
      tripped = true;
      options.onOverCap?.(mb);
    }
  };
  const timer = setInterval(() => {
    // One sample at a time: a slow /proc scan on a loaded machine must not pile up.
    sampling = sampling.then(sample);
  }, options.everyMs ?? 2_000);
  timer.unref();
  return {
    peakMb: () => peak,
    check: async () => {
      sampling = sampling.then(sample);
      await sampling;
    },
    stop: async () => {
      clearInterval(timer);
      sampling = sampling.then(sample);
      await sampling;
    },
  };
}
