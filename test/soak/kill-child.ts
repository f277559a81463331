/**
 * One soak poll in a child process that SIGKILLs itself at a chosen point,
 * like a Lambda timeout or an OOM kill: no finally blocks, no QUIT, the lease
 * left held. Same points as test/core/crash-safety.test.ts, on the soak's
 * backend (local or AWS through the fault proxy) and the faulty scripted server.
 *
 * argv[2]: JSON KillPlan. Prints the poll result as one JSON line if it was not killed
 * (the chosen point never came: e.g. nothing new to fetch).
 */
import { pipeline, Transform } from 'node:stream';
import { silentLogger } from '../../functions/core/logger.js';
import { type PollProbePoint, pollMailbox } from '../../functions/core/poll/poll-mailbox.js';
import { pollTargetOf } from '../../functions/core/poll/target.js';
import type { RawStore } from '../../functions/core/ports.js';
import type { Pop3Limits } from '../../functions/pop3/limits.js';
import { type BackendSpec, openBackend } from './backends.js';

export interface KillPlan {
  readonly spec: BackendSpec;
  readonly limits: Partial<Pop3Limits>;
  /** A probe point, or `mid-retr`: killed once `occurrence` KB of message bodies reached the store. */
  readonly point: PollProbePoint | 'mid-retr';
  readonly occurrence: number;
  readonly leaseTtlMs: number;
}

const plan = JSON.parse(process.argv[2] ?? '{}') as KillPlan;
const die = (): void => {
  process.kill(process.pid, 'SIGKILL');
};

const backend = openBackend(plan.spec);
let bodyBytes = 0;
const store: RawStore =
  plan.point === 'mid-retr'
    ? {
        put: (input, kind) => {
          const counting = new Transform({
            transform(chunk: Buffer, _enc, done) {
              bodyBytes += chunk.length;
              if (bodyBytes >= plan.occurrence * 1024) die();
              done(null, chunk);
            },
          });
          // pipeline, not pipe: a body that fails (a connection dropped mid-RETR before the kill point) must fail
          // the put. pipe() leaves the Transform open, the put then waits for ever, and the child exits 13 with
          // its top-level await unsettled (seen once, soak seed 176242).
          pipeline(input, counting, () => {});
          return backend.store.put(counting, kind);
        },
        get: (key) => backend.store.get(key),
        has: (key) => backend.store.has(key),
      }
    : backend.store;

let seen = 0;
const result = await pollMailbox(
  pollTargetOf(backend.mailbox),
  backend.pollDeps(silentLogger, plan.limits, {
    store,
    probe: (point) => {
      if (point === plan.point && ++seen >= plan.occurrence) die();
    },
  }),
  { force: true, leaseTtlMs: plan.leaseTtlMs },
);
process.stdout.write(
  `${JSON.stringify({ status: result.status, fetched: result.fetched, error: result.error?.code })}\n`,
);
await backend.close();
