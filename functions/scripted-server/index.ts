export type {
  BodyFaults,
  CommandOverride,
  FaultAction,
  FaultHooks,
  ReceivedCommand,
  SessionStateName,
} from './faults.js';
export { drop, onVerb, reply, replyLine, stall } from './faults.js';
export type { ScriptedMessageInit, StoredMessage } from './mailbox.js';
export { Mailbox, MailboxView } from './mailbox.js';
export type { OAuthDetails, ScriptedSaslMechanism, ScriptedUser } from './sasl-server.js';
export type { ReceivedLine, ScriptedServer, ScriptedServerOptions, ScriptedSession, SessionStats } from './server.js';
export { startScriptedServer } from './server.js';
export { dotStuff, multiLineBody, toBareLf, topOf } from './wire.js';
