/**
 * The scripted POP3 server's misbehaviour during the soak, drawn from the
 * fault plan: bodies cut by a dropped connection (FIN or RST) or stalled part
 * way, RETR and QUIT answered `-ERR [SYS/TEMP]` (RFC 3206 §4), PASS answered
 * `-ERR [IN-USE]` (RFC 2449 §8.1.2: another session holds the maildrop).
 *
 * It is also the witness of deletion order: every DELE is checked, at the
 * moment it arrives, against the store's ground truth (`isDurable`) — a DELE
 * for a message that is not yet stored and recorded is a broken promise.
 */
import type { FaultHooks, Mailbox } from '../../functions/scripted-server/index.js';
import { drop, replyLine, stall } from '../../functions/scripted-server/index.js';
import type { FaultPlan } from './fault-plan.js';

export interface DeleAudit {
  /** DELE commands received. */
  dele: number;
  /** DELEs of a message whose raw bytes and record were not durable when the DELE arrived. */
  readonly early: Array<{ readonly uidl: string; readonly session: number }>;
}

export function pop3Faults(
  plan: FaultPlan,
  mailbox: () => Mailbox,
  isDurable: (uidl: string, sha256: string) => boolean,
  sha256Of: (uidl: string) => string,
  audit: DeleAudit,
): FaultHooks {
  const { rates } = plan;
  return {
    override: (command) => {
      if (command.verb === 'PASS' && plan.chance('pop3-pass', rates.inUse)) {
        plan.count('pop3: -ERR [IN-USE]');
        return replyLine('-ERR [IN-USE] maildrop locked by another session');
      }
      if (command.verb === 'RETR') {
        if (plan.chance('pop3-retr-err', rates.sysTemp)) {
          plan.count('pop3: -ERR [SYS/TEMP]');
          return replyLine('-ERR [SYS/TEMP] storage temporarily unavailable');
        }
        if (plan.chance('pop3-retr-stall', rates.retrStall / 2)) {
          plan.count('pop3: server stall (timeout fired)');
          return stall();
        }
      }
      if (command.verb === 'QUIT' && command.state === 'TRANSACTION' && plan.chance('pop3-quit', rates.sysTemp)) {
        plan.count('pop3: -ERR [SYS/TEMP]');
        // RFC 1939 §6: a failed UPDATE removes nothing; the scripted server keeps every message.
        return drop({ raw: '-ERR [SYS/TEMP] could not update maildrop\r\n' });
      }
      if (command.verb === 'DELE') {
        audit.dele += 1;
        // Sessions run one at a time and the maildrop only shrinks on a successful QUIT,
        // so the live list is this session's numbering (RFC 1939 §5).
        const message = mailbox().messages[Number(command.args) - 1];
        if (message !== undefined && !isDurable(message.uidl, sha256Of(message.uidl))) {
          audit.early.push({ uidl: message.uidl, session: command.session });
        }
      }
      return undefined;
    },
    body: (command) => {
      if (command.verb !== 'RETR') return undefined;
      const size = mailbox().messages[Number(command.args) - 1]?.body.length ?? 1;
      if (plan.chance('pop3-body-drop', rates.retrDrop)) {
        plan.count('pop3: connection dropped mid-RETR');
        return { dropAfterBodyBytes: plan.int('pop3-body-at', 0, size - 1), reset: plan.chance('pop3-rst', 0.5) };
      }
      if (plan.chance('pop3-body-stall', rates.retrStall / 2)) {
        plan.count('pop3: server stall (timeout fired)');
        return { stallAfterBodyBytes: plan.int('pop3-body-at', 0, size - 1) };
      }
      return undefined;
    },
  };
}
