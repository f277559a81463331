/**
 * Delivers queued events: claims due jobs, builds (once per message) the
 * event body, applies each endpoint's filters, signs per Standard Webhooks and
 * POSTs. The outcome decides the job's fate:
 *
 * | answer | what happens |
 * | --- | --- |
 * | 2xx | delivered |
 * | 410 Gone | the endpoint is disabled for the mailbox and reported; its jobs become `disabled` |
 * | 429 / 503 with Retry-After | retried no sooner than the receiver asked (capped at 24 h) |
 * | other status, redirect, timeout, network error | retried on the Svix-like schedule with jitter |
 * | schedule exhausted | dead-lettered with its last status and error |
 * | SSRF guard refusal | dead at once: retrying cannot change the address |
 *
 * A failing endpoint never blocks another: each job is its own attempt, and
 * jobs run with bounded concurrency, of which one endpoint takes at most half
 * (at least one slot) while another endpoint's jobs are waiting. An endpoint
 * that stops answering would otherwise fill every slot with requests that wait
 * out their timeout (15 s each) while the other endpoints' jobs queue behind
 * them, and hold up the round, and so the next one, by a timeout per job. Once
 * one of its requests in a round has timed out, its remaining jobs of that
 * round are not sent: they are handed back, due again after the first retry
 * delay, without counting an attempt (`deferred`); the next round tries that
 * endpoint again. A round with a dead endpoint so lasts about one timeout.
 * (The slot rules are in endpoint-slots.ts.)
 *
 * `pop3-bridge run` goes further with `refill`: while its round waits on
 * requests in flight, with a slot free and nothing it can send, it claims the
 * jobs that have come due since (at once after a claim that found some, at
 * most every 250 ms after one that found none), and one endpoint alone keeps
 * one slot free for them. A receiver that hangs until its timeout so delays
 * nobody else's new events, where before they waited for the round to end.
 * Those claims skip the endpoints that are hanging (one of their requests
 * timed out, others are still in flight): their jobs could only be handed
 * back, and a backlog of them was, claim after claim, each job written and
 * logged every time (a 300-job backlog in a 0.9 s window, measured).
 *
 * A claim hides a job from other rounds (other processes, parallel Lambda
 * invocations) for `visibilityMs` only. A request is therefore started only
 * when its timeout ends, with a margin for writing the outcome, before the
 * claim runs out and before the caller's `deadline` (the Lambda invocation's
 * end): a round that outlasts its claims (a receiver answering slowly but in
 * time, a queue of jobs behind it) would otherwise send jobs that another
 * round has meanwhile claimed and sent too — the same event twice in normal
 * operation — and a request cut off by the invocation's end is sent again
 * by the next one. A job that no longer fits is handed back unsent, due at
 * once and with no attempt counted (`deferred`), for the next round. A job
 * whose claim has already run out (it waited for a slot, or for its event to
 * be built) is neither sent nor written to: it is due again, and another
 * round may hold it now. Claims last long enough for the longest endpoint
 * timeout (`longestTimeoutMs`).
 *
 * Outcomes are written in batches (`OutcomeBuffer`: every ~50 outcomes or
 * ~50 ms, one `updateDeliveries`), and always all of them before `deliverDue`
 * resolves: whatever reads delivery statuses after a run — the CLI summary,
 * the next round's claim, delete-after-delivered's DELE decision on the next
 * poll — sees them. A poll running beside a round may read a status a few ms
 * old; stale there only means "not delivered yet", which delays a DELE to the
 * next poll and never hastens it. A crash before a flush loses no mail: see
 * outcome-buffer.ts.
 */
import { MAX_WEBHOOK_TIMEOUT_SECONDS } from '../config/webhook-limits.js';
import { BridgeError, isBridgeError } from '../core/errors.js';
import { type Logger, silentLogger } from '../core/logger.js';
import type { ClaimOptions, DeliveryJob, DeliveryPatch, EndpointRef, StateStore } from '../core/ports.js';
import { DisabledEndpoints } from './disabled-endpoints.js';
import { type ClaimWindow, EndpointSlots, type SlottedJob } from './endpoint-slots.js';
import { type FilterConfig, type FilterSubject, matchesFilters } from './filters.js';
import { type PostResponse, postWebhook } from './http-post.js';
import { OutcomeBuffer, type OutcomeBufferOptions } from './outcome-buffer.js';
import { MAX_RETRY_AFTER_MS, nextRetryDelay, parseRetryAfter, RETRY_DELAYS_MS } from './retry-schedule.js';
import { signWebhook } from './signature.js';
import type { AllowList } from './ssrf-guard.js';

export interface Endpoint {
  readonly id: string;
  readonly url: string;
  readonly secrets: ReadonlyArray<string>;
  readonly allowHttp: boolean;
  readonly filters?: FilterConfig | undefined;
  /** Per-endpoint answer timeout; default the engine's (15 s). */
  readonly timeoutMs?: number | undefined;
}

/** An endpoint from a webhook's config (both modes read the same schema). */
export function endpointOf(webhook: {
  readonly id: string;
  readonly url: string;
  readonly secret: ReadonlyArray<string>;
  readonly allowHttp: boolean;
  readonly filters?: FilterConfig | undefined;
  readonly timeoutSeconds: number;
}): Endpoint {
  return {
    id: webhook.id,
    url: webhook.url,
    secrets: webhook.secret,
    allowHttp: webhook.allowHttp,
    filters: webhook.filters,
    timeoutMs: webhook.timeoutSeconds * 1000,
  };
}

/** What the delivery engine needs of an event: its JSON body and the fields filters look at. */
export interface BuiltEvent {
  /** The JSON body: its UTF-8 bytes (as builtEventOf makes it: encoded once, then signed and sent), or a string. */
  readonly body: string | Uint8Array;
  readonly filterSubject: FilterSubject;
}

export interface DeliveryDeps {
  readonly state: StateStore;
  /** The endpoint's current config (AWS mode reads it from SSM, hence the promise). */
  readonly endpointFor: (mailbox: string, endpointId: string) => Endpoint | undefined | Promise<Endpoint | undefined>;
  /** Builds the event of a stored message (parses its raw MIME). Called once per message per run. */
  readonly eventFor: (job: DeliveryJob) => Promise<BuiltEvent>;
  readonly allow: AllowList;
  /** The answer timeout of an endpoint that sets none (default 15 s). */
  readonly timeoutMs?: number;
  /**
   * The longest answer timeout of any endpoint `endpointFor` may return, so that a claim outlasts a request
   * to it. Default: the longest a webhook's config allows (120 s); local mode passes its config's own longest.
   */
  readonly longestTimeoutMs?: number;
  readonly now?: () => number;
  readonly random?: () => number;
  readonly logger?: Logger;
  readonly post?: typeof postWebhook;
  readonly schedule?: ReadonlyArray<number>;
  /**
   * Told the outcome of every attempt (metrics: delivery latency, failures per mailbox). Called when the
   * outcome is known, possibly before it is written: it must not read delivery statuses.
   */
  readonly onOutcome?: (job: DeliveryJob, outcome: DeliveryOutcome) => void;
  /** Batching of outcome writes (tests and the crash test tune it); default 50 outcomes / 50 ms. */
  readonly outcomeBuffer?: OutcomeBufferOptions;
}

export interface DeliveryRunResult {
  readonly attempted: number;
  readonly delivered: number;
  readonly retrying: number;
  readonly dead: number;
  readonly disabled: number;
  /**
   * Claimed but handed back unsent, with no attempt counted: their endpoint timed out earlier in the round (due
   * again after the first retry delay), or their request could not have ended before the claim or the caller's
   * deadline ran out (due at once).
   */
  readonly deferred: number;
}

export interface DeliveryRunOptions {
  /** Jobs claimed for the round (default 100). */
  readonly limit?: number;
  /** How long a claim hides a job from other rounds; default {@link defaultVisibilityMs}. */
  readonly visibilityMs?: number;
  /** Requests in flight at once (default 4). */
  readonly concurrency?: number;
  /** Epoch ms by which the round must be over (a Lambda invocation's end): no request is started that could outlast it. */
  readonly deadline?: number;
  /** Keep claiming newly due jobs while the round waits on requests in flight (`pop3-bridge run`). */
  readonly refill?: RefillOptions;
  /**
   * Endpoints whose jobs this round leaves unclaimed: those that timed out in an earlier round of the same
   * drain (a CLI command, an AWS invocation), which then ends instead of trying them round after round.
   */
  readonly skipEndpoints?: ReadonlyArray<EndpointRef>;
  /** Told of every request that timed out, with its endpoint (a drain collects them for `skipEndpoints`). */
  readonly onTimeout?: (endpoint: EndpointRef) => void;
}

export interface RefillOptions {
  /** Stops the claiming; the round then ends once its requests have. `run` passes its stop signal. */
  readonly signal?: AbortSignal;
  /** How often a waiting round with a free slot claims (default 250 ms). */
  readonly intervalMs?: number;
  /** For how long from the round's start it does (default 5 min); then the round ends once its requests have. */
  readonly forMs?: number;
}

/**
 * Time kept between a request's timeout and the end of its claim (or the deadline), for the outcome to be
 * written: the outcome buffer flushes every 50 ms, and a state-store write (DynamoDB, with its retries) can take
 * a second. A quarter of the claim when claims are short (tests, the soak).
 */
const MAX_CLAIM_MARGIN_MS = 2_000;

function claimMarginMs(visibilityMs: number): number {
  return Math.min(MAX_CLAIM_MARGIN_MS, visibilityMs / 4);
}

/**
 * How long a round's claims last by default: four default timeouts (a round with a dead endpoint lasts about
 * one: 60 s with the default 15 s), and never less than a request to the slowest endpoint needs, with the
 * margin, plus two default timeouts for the jobs queued before it.
 */
function defaultVisibilityMs(timeoutMs: number, longestTimeoutMs: number): number {
  return Math.max(4 * timeoutMs, longestTimeoutMs + 2 * timeoutMs + MAX_CLAIM_MARGIN_MS);
}

/** How many of a round's slots one endpoint may hold while another endpoint's jobs wait: half, at least one. */
function slotsPerEndpoint(concurrency: number): number {
  return Math.max(1, Math.floor(concurrency / 2));
}

/**
 * How old a round's view of a mailbox's 410-disabled endpoints may be (disabled-endpoints.ts): a few
 * seconds costs at most a few more requests to an endpoint another process has just disabled.
 */
const DISABLED_ENDPOINTS_MAX_AGE_MS = 5_000;

export type DeliveryOutcome = 'delivered' | 'retrying' | 'dead' | 'disabled';
type Outcome = DeliveryOutcome;

export async function deliverDue(deps: DeliveryDeps, options: DeliveryRunOptions = {}): Promise<DeliveryRunResult> {
  const now = deps.now ?? Date.now;
  const log = deps.logger ?? silentLogger;
  const timeoutMs = deps.timeoutMs ?? 15_000;
  const visibilityMs =
    options.visibilityMs ?? defaultVisibilityMs(timeoutMs, deps.longestTimeoutMs ?? MAX_WEBHOOK_TIMEOUT_SECONDS * 1000);
  const limit = options.limit ?? 100;
  const concurrency = Math.max(1, options.concurrency ?? 4);
  const refill = options.refill;
  // What a claim made at `claimedAt` allows: see the header.
  const claimFrom = (claimedAt: number): ClaimWindow => {
    const end = claimedAt + visibilityMs;
    const margin = claimMarginMs(visibilityMs);
    return { sendBy: Math.min(end, options.deadline ?? Number.POSITIVE_INFINITY) - margin, writeBy: end - margin };
  };
  const startedAt = now();
  const slots = new EndpointSlots({
    perEndpoint: slotsPerEndpoint(concurrency),
    alone: refill ? concurrency - 1 : concurrency,
  });
  const skip = options.skipEndpoints ?? [];
  const claimOptions = (hanging: ReadonlyArray<EndpointRef>): ClaimOptions | undefined =>
    skip.length + hanging.length > 0 ? { skipEndpoints: [...skip, ...hanging] } : undefined;
  slots.add(
    await deps.state.claimDueDeliveries(startedAt, limit, visibilityMs, claimOptions([])),
    claimFrom(startedAt),
  );
  /** Built events, one per message, kept while a job of the message is in the round. */
  const events = new Map<string, Promise<BuiltEvent>>();
  const counts = { attempted: 0, delivered: 0, retrying: 0, dead: 0, disabled: 0, deferred: 0 };
  const outcomes = new OutcomeBuffer(deps.state, deps.outcomeBuffer);
  const disabled = new DisabledEndpoints(deps.state, { now, maxAgeMs: DISABLED_ENDPOINTS_MAX_AGE_MS });

  // Idle workers wait for a change: a request ended, or a refill added jobs. A refill runs while `claiming`;
  // `wakeRefill` starts one early, `over` ends the refill loop with the round.
  let claiming = false;
  let over = false;
  let wakeRefill = () => {};
  const refillIntervalMs = refill?.intervalMs ?? 250;
  let lastEmptyClaimAt = Number.NEGATIVE_INFINITY;
  let signalChange = () => {};
  let changed = new Promise<void>((resolve) => (signalChange = resolve));
  const notify = () => {
    const resolve = signalChange;
    changed = new Promise<void>((next) => (signalChange = next));
    resolve();
  };

  /**
   * Jobs of an endpoint that timed out in this round: handed back unsent, as if after a first failure, with no
   * attempt counted (none was made). Claimed jobs that are neither sent nor handed back would only come due
   * again when their claim expires. A failed write rejects (the buffer keeps the failure; close() reports it).
   */
  const handBack = async (jobs: ReadonlyArray<SlottedJob>) => {
    if (jobs.length === 0) return;
    const retryInMs = nextRetryDelay(1, deps.schedule ?? RETRY_DELAYS_MS, deps.random) ?? 0;
    const deferred = new DeferralLog();
    try {
      for (const slotted of jobs) {
        const { job, message, claim } = slotted;
        if (!slots.holdsMessage(message)) events.delete(message);
        // A claim that has run out is left alone: the job is due again, and another round may have claimed it.
        if (now() > claim.writeBy) {
          counts.deferred += 1;
          deferred.add(slotted, 'claimRanOut');
          continue;
        }
        await outcomes.add(job.webhookId, { nextAttemptAt: now() + retryInMs });
        counts.deferred += 1;
        deferred.add(slotted, 'handedBack');
      }
    } finally {
      deferred.write(log, retryInMs);
    }
  };

  const worker = async () => {
    for (;;) {
      const slotted = slots.next();
      if (slotted === undefined) {
        // Nothing can go now. The round is over once nothing is in flight and no refill is claiming; until then
        // a request's end or a refill may bring something.
        if (slots.inFlight === 0 && !claiming) return;
        // A refilling round claims at once after a claim that found jobs (a backlog keeps every slot busy),
        // and at most every intervalMs after one that found none (a hanging endpoint costs one query per tick).
        if (now() - lastEmptyClaimAt >= refillIntervalMs) wakeRefill();
        await changed;
        continue;
      }
      const { job, message } = slotted;
      let event = events.get(message);
      if (!event) {
        event = deps.eventFor(job);
        // A job can end before it awaits its event (a state read that fails, a removed endpoint), and the
        // message's other jobs may never come to it: the build's failure would then have no handler and take
        // the process down as an unhandled rejection. The jobs that do await it still see the failure.
        event.catch(() => {});
        events.set(message, event);
      }
      let timedOut = false;
      try {
        const round = { timeoutMs, claim: slotted.claim, disabled };
        const outcome = await deliverOne(job, event, deps, round, outcomes, (code) => {
          timedOut = code === 'WEBHOOK_ERR_TIMEOUT';
        });
        if (outcome === 'deferred') counts.deferred += 1;
        else {
          deps.onOutcome?.(job, outcome);
          counts.attempted += 1;
          counts[outcome] += 1;
        }
      } finally {
        slots.done(slotted, timedOut);
        if (!slots.holdsMessage(message)) events.delete(message);
        notify();
      }
      if (timedOut) {
        options.onTimeout?.({ mailbox: job.mailbox, endpointId: job.endpointId });
        await handBack(slots.takeUnsendable());
      }
    }
  };

  // A refilling round (`run`) claims newly due jobs while it waits on requests in flight with a slot free and
  // nothing it can send: an endpoint that holds its requests until they time out then delays nobody else's new
  // events by a timeout, as it did when the next round had to wait for this one to end.
  const refilling = async () => {
    if (!refill) return;
    const until = startedAt + (refill.forMs ?? 5 * 60_000);
    while (!over) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, refillIntervalMs);
        wakeRefill = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      if (over || refill.signal?.aborted || now() >= until) return;
      const room = limit - slots.waiting;
      if (slots.inFlight === 0 || slots.inFlight >= concurrency || room <= 0 || slots.hasStartable()) continue;
      claiming = true;
      try {
        const claimedAt = now();
        // Jobs of an endpoint that is still hanging would only be handed back: they are left unclaimed. Claimed,
        // a backlog of them went round claim by claim (at once after each, a claim having found some) while
        // the endpoint's last requests waited out their timeouts, each job written and logged every time.
        const claimed = await deps.state.claimDueDeliveries(
          claimedAt,
          room,
          visibilityMs,
          claimOptions(slots.hanging()),
        );
        if (claimed.length === 0) lastEmptyClaimAt = now();
        slots.add(claimed, claimFrom(claimedAt));
      } finally {
        claiming = false;
        notify();
      }
      await handBack(slots.takeUnsendable());
    }
  };

  const refilled = refilling().then(
    () => undefined,
    (error: unknown) => ({ error }),
  );
  // Every worker finishes (or fails) before the final flush, so no outcome is left behind in the buffer.
  const ran = await Promise.allSettled(Array.from({ length: concurrency }, worker));
  over = true;
  wakeRefill();
  const refillFailed = await refilled;
  // Normally nothing is left: only jobs of an endpoint that timed out, when a worker failed before handing them back.
  try {
    await handBack(slots.takeAll());
  } catch {
    // Kept by the buffer: close() below rethrows it. Jobs not handed back come due when their claim expires.
  }
  const flushed = await outcomes.close().then(
    () => undefined,
    (error: unknown) => ({ error }),
  );
  const failed = ran.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  if (refillFailed) throw refillFailed.error;
  if (flushed) throw flushed.error;
  return counts;
}

/**
 * One log line per endpoint for the jobs a hand-back deferred, not one per job: a dead endpoint's hand-back
 * may hold a whole round's jobs (100), and those lines said nothing the count and the UIDLs do not.
 */
class DeferralLog {
  /** Most UIDLs one line names; the count says how many there were. */
  static readonly MAX_UIDS = 20;
  readonly #byEndpoint = new Map<
    string,
    { mailbox: string; endpoint: string; uids: string[]; handedBack: number; claimRanOut: number }
  >();

  add({ job, endpoint }: SlottedJob, how: 'handedBack' | 'claimRanOut'): void {
    let entry = this.#byEndpoint.get(endpoint);
    if (entry === undefined) {
      entry = { mailbox: job.mailbox, endpoint: job.endpointId, uids: [], handedBack: 0, claimRanOut: 0 };
      this.#byEndpoint.set(endpoint, entry);
    }
    if (entry.uids.length < DeferralLog.MAX_UIDS) entry.uids.push(job.uid);
    entry[how] += 1;
  }

  write(log: Logger, retryInMs: number): void {
    for (const { mailbox, endpoint, uids, handedBack, claimRanOut } of this.#byEndpoint.values()) {
      const count = handedBack + claimRanOut;
      log.child({ mailbox, endpoint }).info('webhooks deferred: their endpoint timed out earlier in this round', {
        count,
        uids,
        ...(count > uids.length && { moreUids: count - uids.length }),
        // Handed back: due again after retryInMs. Claim ran out: left as they were, due again already.
        ...(handedBack > 0 && { retryInMs }),
        ...(claimRanOut > 0 && { claimRanOut }),
      });
    }
  }
}

async function deliverOne(
  job: DeliveryJob,
  eventPromise: Promise<BuiltEvent>,
  deps: DeliveryDeps,
  round: { readonly timeoutMs: number; readonly claim: ClaimWindow; readonly disabled: DisabledEndpoints },
  outcomes: OutcomeBuffer,
  onPostError: (code: string | undefined) => void,
): Promise<Outcome | 'deferred'> {
  const now = deps.now ?? Date.now;
  const log = (deps.logger ?? silentLogger).child({
    mailbox: job.mailbox,
    uid: job.uid,
    webhookId: job.webhookId,
    endpoint: job.endpointId,
  });
  const endpoint = await deps.endpointFor(job.mailbox, job.endpointId);
  const disable = async (reason: string): Promise<Outcome> => {
    await outcomes.add(job.webhookId, { status: 'disabled', lastError: reason });
    log.info('delivery not sent', { reason });
    return 'disabled';
  };
  if (!endpoint) return disable('the endpoint is no longer in the configuration');
  if (await round.disabled.has(job.mailbox, endpoint.id)) {
    return disable('the endpoint answered 410 Gone earlier and is disabled');
  }

  const built = await eventPromise.then(
    (event) => ({ event }),
    (error: unknown) => ({ error }),
  );
  const attemptAt = now();
  if (attemptAt > round.claim.writeBy) {
    // The claim ran out while the job waited for a slot or its event: it is due again, and another round may
    // have claimed it. Writing anything now could cut that round's claim short, so the job is left as it is.
    log.info('webhook deferred: its claim ran out before it could be sent');
    return 'deferred';
  }
  if ('error' in built) {
    // The raw message could not be read (store I/O) or the builder failed: retry later, keep the cause.
    const { error } = built;
    const wrapped = isBridgeError(error)
      ? error
      : new BridgeError(
          'WEBHOOK_ERR_EVENT',
          `building the event failed: ${error instanceof Error ? error.message : String(error)}`,
          {
            cause: error,
          },
        );
    return fail(job, deps, log, outcomes, wrapped, undefined);
  }
  const { event } = built;
  if (!matchesFilters(endpoint.filters, event.filterSubject)) return disable('filtered: the message does not match');

  const requestTimeoutMs = endpoint.timeoutMs ?? round.timeoutMs;
  if (attemptAt + requestTimeoutMs > round.claim.sendBy) {
    // Handed back while the claim still holds (the margin covers the write), due at once for the next round.
    await outcomes.add(job.webhookId, { nextAttemptAt: attemptAt });
    log.info('webhook deferred: its request could outlast the claim or the deadline', {
      timeoutMs: requestTimeoutMs,
      leftMs: Math.max(0, round.claim.sendBy - attemptAt),
    });
    return 'deferred';
  }
  const headers = signWebhook(job.webhookId, new Date(attemptAt), event.body, endpoint.secrets);
  let response: PostResponse;
  try {
    response = await (deps.post ?? postWebhook)(new URL(endpoint.url), event.body, headers, {
      timeoutMs: requestTimeoutMs,
      allow: deps.allow,
      allowHttp: endpoint.allowHttp,
    });
  } catch (error) {
    onPostError(isBridgeError(error) ? error.code : undefined);
    return fail(job, deps, log, outcomes, error, undefined);
  }
  const attempts = job.attempts + 1;
  if (response.status >= 200 && response.status < 300) {
    await outcomes.add(job.webhookId, {
      status: 'delivered',
      attempts,
      lastStatus: response.status,
      deliveredAt: now(),
    });
    log.info('webhook delivered', { status: response.status, attempts });
    return 'delivered';
  }
  if (response.status === 410) {
    const at = now();
    const reason = `410 Gone from ${new URL(endpoint.url).host}`;
    // The endpoint's disabling is written at once (later jobs of this run check it), and the buffer is
    // flushed with it: a 410 is rare, and "disabled" then never waits on a timer.
    await round.disabled.disable(job.mailbox, { id: endpoint.id, at, reason });
    await outcomes.add(job.webhookId, { status: 'disabled', attempts, lastStatus: 410, lastError: reason });
    await outcomes.flush();
    log.error('webhook endpoint answered 410 Gone: endpoint disabled', { status: 410 });
    return 'disabled';
  }
  const code = response.status >= 300 && response.status < 400 ? 'WEBHOOK_ERR_REDIRECT' : 'WEBHOOK_ERR_STATUS';
  const error = new BridgeError(
    code,
    `HTTP ${response.status}${response.bodyStart ? `: ${response.bodyStart.slice(0, 200)}` : ''}`,
    {
      context: { status: response.status },
    },
  );
  const retryAfter =
    response.status === 429 || response.status === 503 ? parseRetryAfter(response.retryAfter, attemptAt) : undefined;
  return fail(job, deps, log, outcomes, error, response.status, retryAfter);
}

async function fail(
  job: DeliveryJob,
  deps: DeliveryDeps,
  log: Logger,
  outcomes: OutcomeBuffer,
  caught: unknown,
  status: number | undefined,
  retryAfterMs?: number,
): Promise<Outcome> {
  const now = (deps.now ?? Date.now)();
  const error = isBridgeError(caught)
    ? caught
    : new BridgeError('WEBHOOK_ERR_NETWORK', caught instanceof Error ? caught.message : String(caught), {
        cause: caught,
      });
  const attempts = job.attempts + 1;
  const delay = error.retryable ? nextRetryDelay(attempts, deps.schedule ?? RETRY_DELAYS_MS, deps.random) : undefined;
  const base: DeliveryPatch = {
    attempts,
    lastError: `${error.code}: ${error.message}`.slice(0, 500),
    ...(status !== undefined && { lastStatus: status }),
  };
  if (delay === undefined) {
    await outcomes.add(job.webhookId, { ...base, status: 'dead' });
    log.error('webhook dead-lettered', { error, attempts });
    return 'dead';
  }
  const wait = retryAfterMs !== undefined ? Math.min(Math.max(retryAfterMs, delay), MAX_RETRY_AFTER_MS) : delay;
  await outcomes.add(job.webhookId, { ...base, status: 'failed', nextAttemptAt: now + wait });
  log.warn('webhook attempt failed; will retry', { error, attempts, retryInMs: wait });
  return 'retrying';
}
