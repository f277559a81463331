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
 * once and with no attempt counted (`deferred`), for the next round. Claims
 * last long enough for the longest endpoint timeout (`longestTimeoutMs`).
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
import type { DeliveryJob, DeliveryPatch, StateStore } from '../core/ports.js';
import { type FilterConfig, type FilterSubject, matchesFilters } from './filters.js';
import { type PostResponse, postWebhook } from './http-post.js';
import { OutcomeBuffer, type OutcomeBufferOptions } from './outcome-buffer.js';
import { nextRetryDelay, parseRetryAfter, RETRY_DELAYS_MS } from './retry-schedule.js';
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
export function defaultVisibilityMs(timeoutMs: number, longestTimeoutMs: number): number {
  return Math.max(4 * timeoutMs, longestTimeoutMs + 2 * timeoutMs + MAX_CLAIM_MARGIN_MS);
}

/** How many of a round's slots one endpoint may hold while another endpoint's jobs wait: half, at least one. */
function slotsPerEndpoint(concurrency: number): number {
  return Math.max(1, Math.floor(concurrency / 2));
}

const MAX_RETRY_AFTER_MS = 24 * 3_600_000;

export type DeliveryOutcome = 'delivered' | 'retrying' | 'dead' | 'disabled';
type Outcome = DeliveryOutcome;

export async function deliverDue(deps: DeliveryDeps, options: DeliveryRunOptions = {}): Promise<DeliveryRunResult> {
  const now = deps.now ?? Date.now;
  const timeoutMs = deps.timeoutMs ?? 15_000;
  const visibilityMs =
    options.visibilityMs ?? defaultVisibilityMs(timeoutMs, deps.longestTimeoutMs ?? MAX_WEBHOOK_TIMEOUT_SECONDS * 1000);
  const claimedAt = now();
  const jobs = await deps.state.claimDueDeliveries(claimedAt, options.limit ?? 100, visibilityMs);
  // A request must end (time out at the latest) by then: see the header.
  const sendBy =
    Math.min(claimedAt + visibilityMs, options.deadline ?? Number.POSITIVE_INFINITY) - claimMarginMs(visibilityMs);
  const events = new Map<string, Promise<BuiltEvent>>();
  const counts = { attempted: 0, delivered: 0, retrying: 0, dead: 0, disabled: 0, deferred: 0 };
  const concurrency = Math.max(1, options.concurrency ?? 4);
  const outcomes = new OutcomeBuffer(deps.state, deps.outcomeBuffer);
  const slots = new EndpointSlots(jobs, slotsPerEndpoint(concurrency));
  const worker = async () => {
    for (let job = slots.next(); job !== undefined; job = slots.next()) {
      const key = `${job.mailbox}\0${job.uid}`;
      let event = events.get(key);
      if (!event) {
        event = deps.eventFor(job);
        events.set(key, event);
      }
      let timedOut = false;
      try {
        const outcome = await deliverOne(job, event, deps, { timeoutMs, sendBy }, outcomes, (code) => {
          timedOut = code === 'WEBHOOK_ERR_TIMEOUT';
        });
        if (outcome === 'deferred') {
          counts.deferred += 1;
          continue;
        }
        deps.onOutcome?.(job, outcome);
        counts.attempted += 1;
        counts[outcome] += 1;
      } finally {
        slots.done(job, timedOut);
      }
    }
  };
  // Every worker finishes (or fails) before the final flush, so no outcome is left behind in the buffer.
  const ran = await Promise.allSettled(Array.from({ length: concurrency }, worker));
  // Jobs of endpoints that timed out in this round: handed back unsent, as if after a first failure, with no
  // attempt counted (none was made). Claimed jobs that are neither sent nor handed back would only come due
  // again when their claim expires (visibilityMs).
  const retryInMs = nextRetryDelay(1, deps.schedule ?? RETRY_DELAYS_MS, deps.random) ?? 0;
  const retryAt = now() + retryInMs;
  for (const job of slots.left()) {
    try {
      await outcomes.add(job.webhookId, { nextAttemptAt: retryAt });
    } catch {
      // The buffer keeps its failure: close() below rethrows it after flushing nothing more. Jobs not handed
      // back come due again when their claim expires.
      break;
    }
    counts.deferred += 1;
    (deps.logger ?? silentLogger)
      .child({ mailbox: job.mailbox, uid: job.uid, webhookId: job.webhookId, endpoint: job.endpointId })
      .info('webhook deferred: its endpoint timed out earlier in this round', { retryInMs });
  }
  const flushed = await outcomes.close().then(
    () => undefined,
    (error: unknown) => ({ error }),
  );
  const failed = ran.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  if (flushed) throw flushed.error;
  return counts;
}

async function deliverOne(
  job: DeliveryJob,
  eventPromise: Promise<BuiltEvent>,
  deps: DeliveryDeps,
  round: { readonly timeoutMs: number; readonly sendBy: number },
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
  const mailboxState = await deps.state.getMailboxState(job.mailbox);
  if (mailboxState?.disabledEndpoints?.some((d) => d.id === endpoint.id)) {
    return disable('the endpoint answered 410 Gone earlier and is disabled');
  }

  let event: BuiltEvent;
  try {
    event = await eventPromise;
  } catch (error) {
    // The raw message could not be read (store I/O) or the builder failed: retry later, keep the cause.
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
  if (!matchesFilters(endpoint.filters, event.filterSubject)) return disable('filtered: the message does not match');

  const attemptAt = now();
  const requestTimeoutMs = endpoint.timeoutMs ?? round.timeoutMs;
  if (attemptAt + requestTimeoutMs > round.sendBy) {
    // Handed back while the claim still holds (the margin covers the write), due at once for the next round.
    await outcomes.add(job.webhookId, { nextAttemptAt: attemptAt });
    log.info('webhook deferred: its request could outlast the claim or the deadline', {
      timeoutMs: requestTimeoutMs,
      leftMs: Math.max(0, round.sendBy - attemptAt),
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
    const disabled = [...(mailboxState?.disabledEndpoints ?? []), { id: endpoint.id, at, reason }];
    // The endpoint's disabling is written at once (later jobs of this run check it), and the buffer is
    // flushed with it: a 410 is rare, and "disabled" then never waits on a timer.
    await deps.state.updateMailboxState(job.mailbox, { disabledEndpoints: disabled });
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

/**
 * A round's claimed jobs, handed out in claim order to the round's workers. A job whose endpoint (a mailbox's
 * webhook) already has `perEndpoint` requests in flight is passed over while another endpoint's job can go
 * instead; when only such jobs are left, they go anyway, so a single endpoint still gets every slot. Once a
 * request of an endpoint has timed out, that endpoint's remaining jobs are not handed out; `left()` lists them
 * when the round is over.
 */
class EndpointSlots {
  /** In claim order, each with its endpoint's key (made once: next() runs once per job, over the whole list). */
  readonly #waiting: Array<{ readonly job: DeliveryJob; readonly endpoint: string }>;
  readonly #perEndpoint: number;
  readonly #inFlight = new Map<string, number>();
  /** Jobs still waiting, per endpoint: tells without a scan whether any endpoint under its limit has one. */
  readonly #waitingBy = new Map<string, number>();
  readonly #timedOut = new Set<string>();

  constructor(jobs: ReadonlyArray<DeliveryJob>, perEndpoint: number) {
    this.#waiting = jobs.map((job) => ({ job, endpoint: endpointKey(job) }));
    for (const { endpoint } of this.#waiting) this.#waitingBy.set(endpoint, (this.#waitingBy.get(endpoint) ?? 0) + 1);
    this.#perEndpoint = perEndpoint;
  }

  /** The next job to send, or undefined when none is left to send in this round. */
  next(): DeliveryJob | undefined {
    const underLimit = (endpoint: string): boolean => (this.#inFlight.get(endpoint) ?? 0) < this.#perEndpoint;
    let anyUnderLimit = false;
    for (const [endpoint, count] of this.#waitingBy) {
      if (count > 0 && !this.#timedOut.has(endpoint) && underLimit(endpoint)) anyUnderLimit = true;
    }
    // The first job of an endpoint under its limit; when there is none, the first of any endpoint not timed out.
    const at = this.#waiting.findIndex(
      ({ endpoint }) => !this.#timedOut.has(endpoint) && (!anyUnderLimit || underLimit(endpoint)),
    );
    if (at === -1) return undefined;
    const [{ job, endpoint }] = this.#waiting.splice(at, 1) as [{ job: DeliveryJob; endpoint: string }];
    this.#waitingBy.set(endpoint, (this.#waitingBy.get(endpoint) ?? 1) - 1);
    this.#inFlight.set(endpoint, (this.#inFlight.get(endpoint) ?? 0) + 1);
    return job;
  }

  /** A job handed out by next() has ended; `timedOut`: its request waited out the timeout. */
  done(job: DeliveryJob, timedOut: boolean): void {
    const endpoint = endpointKey(job);
    this.#inFlight.set(endpoint, (this.#inFlight.get(endpoint) ?? 1) - 1);
    if (timedOut) this.#timedOut.add(endpoint);
  }

  /** The jobs never handed out (their endpoint timed out in this round). */
  left(): ReadonlyArray<DeliveryJob> {
    return this.#waiting.map(({ job }) => job);
  }
}

function endpointKey(job: DeliveryJob): string {
  return `${job.mailbox}\0${job.endpointId}`;
}
