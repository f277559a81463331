/**
 * What the poll engine's tests against the scripted server share: a session opener for `PollDeps.openSession`
 * (plain TCP on loopback, user `u`, password `p`, as `startScriptedPollServer` sets up), a small message, and a
 * probe that stands for a process dying right after QUIT's +OK, before the deletions are recorded.
 */
import type { PollDeps } from '../../functions/core/poll/poll-mailbox.js';
import { Pop3Client } from '../../functions/pop3/client.js';
import {
  type ScriptedMessageInit,
  type ScriptedServer,
  type ScriptedServerOptions,
  startScriptedServer,
} from '../../functions/scripted-server/index.js';

/** A scripted server with the one user `openScriptedSession` logs in as. */
export function startScriptedPollServer(
  messages: ReadonlyArray<string | ScriptedMessageInit>,
  options: Omit<ScriptedServerOptions, 'messages' | 'users'> = {},
): Promise<ScriptedServer> {
  return startScriptedServer({ messages, users: [{ username: 'u', password: 'p' }], ...options });
}

export function openScriptedSession(server: ScriptedServer): PollDeps['openSession'] {
  return async () => {
    const client = await Pop3Client.connect({
      host: server.host,
      port: server.port,
      tls: 'none',
      allowInsecureAuth: true,
    });
    await client.login({ username: 'u', password: 'p' });
    return client;
  };
}

/** Message `i`: a Subject, a Message-ID and a one-line body. */
export const numberedMessage = (i: number, tag = 'm') =>
  `Subject: ${tag} ${i}\r\nMessage-ID: <${tag}${i}@x>\r\n\r\nbody ${i}\r\n`;

/** The process dies right after QUIT's +OK, before the deletions are recorded. */
export const crashAfterQuit: Pick<PollDeps, 'probe'> = {
  probe: (point) => {
    if (point === 'after-quit') throw new Error('simulated crash after QUIT');
  },
};
