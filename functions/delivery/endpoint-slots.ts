/**
 * A delivery round's jobs, handed out to its workers in claim order, so that
 * one endpoint (a mailbox's webhook) cannot take the round's slots from the
 * others:
 *
 * - A job whose endpoint already has `perEndpoint` requests in flight is
 *   passed over while another endpoint's job can go instead. When only such
 *   jobs are left, they go anyway, up to `alone` requests per endpoint: all
 *   the slots for a round that ends when its jobs are done, one fewer for a
 *   round that keeps claiming (`refill`), so that a job of another endpoint
 *   claimed meanwhile finds a free slot even when the first endpoint hangs.
 * - Once a request of an endpoint has timed out, its waiting jobs are not
 *   handed out: `takeUnsendable()` removes them, and the engine hands them
 *   back for later. A job of that endpoint added after its last request has
 *   ended (a refill) goes out again: the endpoint is tried once more. Until
 *   then the endpoint is `hanging()`, and a refill does not claim its jobs.
 */
import { endpointKey } from '../core/endpoint-key.js';
import type { DeliveryJob, EndpointRef } from '../core/ports.js';

/** What a job's claim allows (epoch ms), as the engine computes it from the claim's time. */
export interface ClaimWindow {
  /** A request must have ended (timed out at the latest) by then: the claim's end or the caller's deadline, less a margin. */
  readonly sendBy: number;
  /** Anything written for the job must be written by then: the claim's end less the margin. */
  readonly writeBy: number;
}

export interface SlottedJob {
  readonly job: DeliveryJob;
  /** The job's endpoint: mailbox and webhook id, made once (next() looks at every waiting job). */
  readonly endpoint: string;
  /** Its message: mailbox and uid (one event serves all of a message's endpoints). */
  readonly message: string;
  readonly claim: ClaimWindow;
}

export class EndpointSlots {
  /** In claim order. */
  readonly #waiting: SlottedJob[] = [];
  readonly #perEndpoint: number;
  readonly #alone: number;
  readonly #inFlight = new Map<string, number>();
  #inFlightTotal = 0;
  /** Jobs still waiting, per endpoint: tells without a scan whether any endpoint under its limit has one. */
  readonly #waitingBy = new Map<string, number>();
  /** Jobs waiting or in flight, per message: while one is, the message's event is kept. */
  readonly #heldBy = new Map<string, number>();
  /** The webhook-ids waiting or in flight: a job is never in the round twice. */
  readonly #held = new Set<string>();
  /** Endpoints with a request that timed out in this round, by key. */
  readonly #timedOut = new Map<string, EndpointRef>();

  constructor(limits: { readonly perEndpoint: number; readonly alone: number }) {
    this.#perEndpoint = limits.perEndpoint;
    this.#alone = Math.max(limits.perEndpoint, limits.alone);
  }

  /** Claimed jobs join the round, all under one claim. A job the round already holds keeps its place. */
  add(jobs: ReadonlyArray<DeliveryJob>, claim: ClaimWindow): void {
    for (const job of jobs) {
      const endpoint = endpointKey(job);
      if (this.#held.has(job.webhookId)) {
        // Claimed again while waiting here (its earlier claim ran out): the new claim counts.
        const at = this.#waiting.findIndex((w) => w.job.webhookId === job.webhookId);
        if (at !== -1) this.#waiting[at] = { ...(this.#waiting[at] as SlottedJob), claim };
        continue;
      }
      // A refill after the endpoint's last request ended: it is tried again.
      if (this.#timedOut.has(endpoint) && (this.#inFlight.get(endpoint) ?? 0) === 0) this.#timedOut.delete(endpoint);
      const message = messageKey(job);
      this.#waiting.push({ job, endpoint, message, claim });
      this.#held.add(job.webhookId);
      increment(this.#waitingBy, endpoint, 1);
      increment(this.#heldBy, message, 1);
    }
  }

  /** The next job to send, or undefined when none can go now. */
  next(): SlottedJob | undefined {
    const at = this.#pick();
    if (at === -1) return undefined;
    const [slotted] = this.#waiting.splice(at, 1) as [SlottedJob];
    increment(this.#waitingBy, slotted.endpoint, -1);
    increment(this.#inFlight, slotted.endpoint, 1);
    this.#inFlightTotal += 1;
    return slotted;
  }

  /** Whether next() would hand out a job now. */
  hasStartable(): boolean {
    return this.#pick() !== -1;
  }

  /** A job handed out by next() has ended; `timedOut`: its request waited out the timeout. */
  done(slotted: SlottedJob, timedOut: boolean): void {
    increment(this.#inFlight, slotted.endpoint, -1);
    this.#inFlightTotal -= 1;
    this.#release(slotted);
    if (timedOut) {
      this.#timedOut.set(slotted.endpoint, { mailbox: slotted.job.mailbox, endpointId: slotted.job.endpointId });
    }
  }

  /**
   * Endpoints that timed out and still have requests in flight: a job of theirs added now could only be taken
   * back by `takeUnsendable()`, so a refill leaves their jobs unclaimed.
   */
  hanging(): EndpointRef[] {
    const hanging: EndpointRef[] = [];
    for (const [endpoint, ref] of this.#timedOut) if ((this.#inFlight.get(endpoint) ?? 0) > 0) hanging.push(ref);
    return hanging;
  }

  /** Removes and returns the waiting jobs whose endpoint timed out in this round. */
  takeUnsendable(): SlottedJob[] {
    if (this.#timedOut.size === 0) return [];
    const taken: SlottedJob[] = [];
    for (let at = this.#waiting.length - 1; at >= 0; at -= 1) {
      const slotted = this.#waiting[at] as SlottedJob;
      if (!this.#timedOut.has(slotted.endpoint)) continue;
      this.#waiting.splice(at, 1);
      increment(this.#waitingBy, slotted.endpoint, -1);
      this.#release(slotted);
      taken.push(slotted);
    }
    return taken.reverse();
  }

  /** Removes and returns every waiting job (the round is over). */
  takeAll(): SlottedJob[] {
    const taken = this.#waiting.splice(0);
    for (const slotted of taken) {
      increment(this.#waitingBy, slotted.endpoint, -1);
      this.#release(slotted);
    }
    return taken;
  }

  /** Whether a job of this message is still waiting or in flight. */
  holdsMessage(message: string): boolean {
    return (this.#heldBy.get(message) ?? 0) > 0;
  }

  get inFlight(): number {
    return this.#inFlightTotal;
  }

  get waiting(): number {
    return this.#waiting.length;
  }

  /**
   * Index of the first waiting job of an endpoint under its limit (`perEndpoint`); when no endpoint with jobs
   * waiting is under it, of an endpoint under `alone`. Endpoints that timed out are skipped. -1: none.
   */
  #pick(): number {
    const inFlight = (endpoint: string): number => this.#inFlight.get(endpoint) ?? 0;
    let limit = this.#alone;
    for (const [endpoint, count] of this.#waitingBy) {
      if (count > 0 && !this.#timedOut.has(endpoint) && inFlight(endpoint) < this.#perEndpoint) {
        limit = this.#perEndpoint;
        break;
      }
    }
    return this.#waiting.findIndex(({ endpoint }) => !this.#timedOut.has(endpoint) && inFlight(endpoint) < limit);
  }

  #release(slotted: SlottedJob): void {
    this.#held.delete(slotted.job.webhookId);
    increment(this.#heldBy, slotted.message, -1);
  }
}

/** A message's key in a round: one event serves all of its jobs. */
function messageKey(job: DeliveryJob): string {
  return `${job.mailbox}\0${job.uid}`;
}

/** Adds `by` to a count, dropping the entry at zero so that the maps only hold what is in the round. */
function increment(counts: Map<string, number>, key: string, by: number): void {
  const next = (counts.get(key) ?? 0) + by;
  if (next <= 0) counts.delete(key);
  else counts.set(key, next);
}
