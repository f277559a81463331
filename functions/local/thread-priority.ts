/**
 * Lowering the CPU priority of the calling thread only (not its process), for
 * local mode's idle-priority event worker (event-worker-pool.ts).
 *
 * Linux schedules threads as tasks: setpriority(PRIO_PROCESS, tid) with a
 * thread's id changes that thread alone (setpriority(2), "NOTES": the nice
 * value is a per-thread attribute). Node's `os.setPriority` passes the id
 * through, and `/proc/thread-self` names the calling thread's id (Linux 3.17+).
 * Raising one's own nice value needs no privilege. Elsewhere there is no
 * portable per-thread nice, and the pool does not start such a worker.
 */
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';

/** The weakest claim on the CPU: a nice-19 thread runs when nothing at nice 0 wants the core. */
export const IDLE_NICE = 19;

/** Whether this platform can lower one thread's priority (see the module comment). */
export function canLowerThreadPriority(): boolean {
  return process.platform === 'linux';
}

/** Sets the calling thread's nice value to IDLE_NICE. Returns false, changing nothing, where it cannot. */
export function lowerThisThreadsPriority(): boolean {
  if (!canLowerThreadPriority()) return false;
  try {
    // "<pid>/task/<tid>"
    const tid = Number.parseInt(readlinkSync('/proc/thread-self').split('/').pop() ?? '', 10);
    if (!Number.isSafeInteger(tid) || tid <= 0) return false;
    setPriority(tid, IDLE_NICE);
    return true;
  } catch {
    // No /proc (a sandbox), or a seccomp profile that refuses setpriority: the worker runs at normal priority.
    return false;
  }
}
