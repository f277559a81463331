/**
 * The endpoints that timed out during a drain — rounds of `deliverDue` back
 * to back until nothing is due: a CLI command (`deliver`, `poll`, `replay`,
 * `demo`) or one AWS deliver invocation. The drain's later rounds skip them.
 *
 * Why: every round tries an endpoint again, with up to all of its slots
 * when the endpoint is alone. With a backlog for it — jobs the first round
 * did not claim, and those it handed back once a request had timed out (due
 * again after 5 s, while the round waited out the endpoint's other requests,
 * 15 s each) — each round of the drain waited out that timeout once more,
 * and a receiver that accepts connections and never answers kept a command
 * running for many minutes (test/cli/drain-hanging-endpoint.test.ts). Its
 * jobs stay due for the next command, `run`, or invocation.
 */
import { endpointKey } from '../core/endpoint-key.js';
import type { EndpointRef } from '../core/ports.js';
import type { DeliveryRunOptions } from './delivery-engine.js';

export class TimedOutEndpoints {
  readonly #byKey = new Map<string, EndpointRef>();

  /** deliverDue's options for the drain's next round: skip those seen so far, note new ones. */
  roundOptions(): Required<Pick<DeliveryRunOptions, 'skipEndpoints' | 'onTimeout'>> {
    return {
      skipEndpoints: this.list(),
      onTimeout: (endpoint) => this.#byKey.set(endpointKey(endpoint), endpoint),
    };
  }

  list(): EndpointRef[] {
    return [...this.#byKey.values()];
  }
}
