/**
 * Shared setup for the tests against the scripted server: every server and
 * client opened here is closed when the test finishes, pass or fail.
 */
import type { Readable } from 'node:stream';
import { expect, onTestFinished } from 'vitest';
import { BridgeError, type ErrorCode } from '../../functions/core/errors.js';
import { Pop3Client } from '../../functions/pop3/client.js';
import type { Pop3ConnectOptions, Pop3Credentials } from '../../functions/pop3/types.js';
import {
  type ScriptedServer,
  type ScriptedServerOptions,
  startScriptedServer,
} from '../../functions/scripted-server/index.js';
import { selfSignedCertificate } from '../support/self-signed.js';

export const USER = { username: 'alice', password: 'pa55-Secret!', accessToken: 'ya29.tok-SECRET-123' } as const;

/** Short enough that a hung test fails in seconds, long enough for a loaded CI machine. */
export const TEST_LIMITS = {
  connectTimeoutMs: 5_000,
  greetingTimeoutMs: 5_000,
  commandTimeoutMs: 5_000,
  idleTimeoutMs: 5_000,
};

export async function serve(options: ScriptedServerOptions = {}): Promise<ScriptedServer> {
  const server = await startScriptedServer({ users: [USER], ...options });
  onTestFinished(() => server.close());
  return server;
}

export async function connect(
  server: ScriptedServer,
  extra: Partial<Omit<Pop3ConnectOptions, 'host' | 'port'>> = {},
): Promise<Pop3Client> {
  const client = await Pop3Client.connect({
    host: server.host,
    port: server.port,
    tls: 'none',
    allowInsecureAuth: true,
    ...extra,
    limits: { ...TEST_LIMITS, ...extra.limits },
  });
  onTestFinished(() => client.close());
  return client;
}

export async function loggedIn(
  server: ScriptedServer,
  credentials: Pop3Credentials = { username: USER.username, password: USER.password, method: 'user' },
  extra: Partial<Omit<Pop3ConnectOptions, 'host' | 'port'>> = {},
): Promise<Pop3Client> {
  const client = await connect(server, extra);
  await client.login(credentials);
  return client;
}

export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Awaits a promise that must reject with a BridgeError of `code`, and returns the error. */
export async function rejection(promise: Promise<unknown>, code: ErrorCode): Promise<BridgeError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, `expected a rejection with ${code}`).toBeInstanceOf(BridgeError);
  expect((error as BridgeError).code, (error as Error).message).toBe(code);
  return error as BridgeError;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A throw-away self-signed certificate for `localhost`, for the scripted server's implicit TLS. */
export function localhostCertificate(): Promise<{ key: string; cert: string }> {
  return selfSignedCertificate('localhost');
}
