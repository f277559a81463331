/**
 * `events show <webhook-id> | <mailbox> <uid> | <mailbox>/<uid>`: prints the
 * event body that is (or was) sent for that delivery or message — the same
 * body the receiver gets, apart from freshly signed links.
 */
import type { DeliveryJob } from '../../core/ports.js';
import { eventForJob } from '../../delivery/event-source.js';
import { openLocalRuntime } from '../../local/runtime.js';
import type { CliContext } from '../context.js';
import { canonicalMailbox, describeRef, parseDeliveryRef } from '../delivery-ref.js';
import { ExitCode } from '../exit-codes.js';

export async function eventsShowCommand(ctx: CliContext, args: ReadonlyArray<string>): Promise<number> {
  const ref = parseDeliveryRef(args);
  if (ref === undefined) {
    ctx.err('usage: pop3-bridge events show <webhook-id> | <mailbox> <uid> | <mailbox>/<uid>');
    return ExitCode.USAGE;
  }
  const runtime = openLocalRuntime(ctx.config, { baseDir: process.cwd() });
  try {
    // A webhook-id is one key look-up; a message is one key range of its deliveries (any endpoint's
    // job gives the same body: the event is per message).
    let job: DeliveryJob | undefined;
    if (ref.kind === 'webhook') job = await runtime.state.getDelivery(ref.webhookId);
    else {
      const mailbox = canonicalMailbox(ctx, ref.mailbox);
      [job] = await runtime.state.listDeliveries({ mailbox, uid: ref.uid, limit: 1 });
    }
    if (job === undefined) {
      ctx.err(`no ${describeRef(ref)} (pop3-bridge deliveries --status delivered lists webhook-ids and uids)`);
      return ExitCode.NOT_FOUND;
    }
    // With the config's inlining and body cap, so it is the event the endpoints get (links signed afresh).
    const event = await eventForJob(job, runtime.eventDeps);
    ctx.out(JSON.stringify(event, null, 2));
    return ExitCode.OK;
  } finally {
    await runtime.close();
  }
}
