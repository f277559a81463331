/**
 * CPU time of other processes, from /proc (Linux), so a benchmark can say where a run's CPU went: the bridge,
 * the receiver, Dovecot, mpop. Times are user + system. A process's children count once they have exited and
 * been waited for (the kernel adds them to the parent's cutime/cstime); live descendants are read directly.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

const TICKS_PER_SECOND = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

interface Stat {
  readonly ppid: number;
  /** utime + stime + cutime + cstime, in clock ticks. */
  readonly ticks: number;
}

function readStat(pid: number | 'self'): Stat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined; // exited meanwhile
  }
  // The command name (field 2) may hold spaces and parentheses: split after its last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state); utime..cstime are fields 14..17, ppid is field 4.
  const num = (field: number) => Number(fields[field - 3]);
  return { ppid: num(4), ticks: num(14) + num(15) + num(16) + num(17) };
}

/** CPU ms of `pid`, its exited children, and every live descendant. */
export function processTreeCpuMs(pid: number): number {
  const stats = new Map<number, Stat>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = readStat(Number(name));
    if (stat) stats.set(Number(name), stat);
  }
  const inTree = (candidate: number): boolean => {
    for (let p = candidate, hops = 0; p > 1 && hops < 64; hops += 1) {
      if (p === pid) return true;
      const parent = stats.get(p)?.ppid;
      if (parent === undefined) return false;
      p = parent;
    }
    return false;
  };
  let ticks = 0;
  for (const [candidate, stat] of stats) if (inTree(candidate)) ticks += stat.ticks;
  return (ticks * 1000) / TICKS_PER_SECOND;
}

/** CPU ms of this process's children that have exited and been waited for (e.g. an mpop run). */
export function exitedChildrenCpuMs(): number {
  const text = readFileSync('/proc/self/stat', 'utf8');
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[16 - 3]) + Number(fields[17 - 3])) * 1000) / TICKS_PER_SECOND;
}

/** CPU ms of this process so far (user + system). */
export function ownCpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}
