/**
 * Shared setup for the tests against the scripted server: every server and
 * client opened here is closed when the test finishes, pass or fail.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { expect, onTestFinished } from 'vitest';
import { BridgeError, type ErrorCode } from '../../functions/core/errors.js';
import { Pop3Client } from '../../functions/pop3/client.js';
import type { Pop3ConnectOptions, Pop3Credentials } from '../../functions/pop3/types.js';
import {
  type ScriptedServer,
  type ScriptedServerOptions,
  startScriptedServer,
} from '../../functions/scripted-server/index.js';

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

/** A throw-away self-signed P-256 key and certificate for `localhost`, for the scripted server's implicit TLS. */
export async function localhostCertificate(): Promise<{ key: string; cert: string }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'scripted-tls-'));
  try {
    await promisify(execFile)('openssl', [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      path.join(dir, 'key.pem'),
      '-out',
      path.join(dir, 'cert.pem'),
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=DNS:localhost',
    ]);
    const [key, cert] = await Promise.all([
      readFile(path.join(dir, 'key.pem'), 'utf8'),
      readFile(path.join(dir, 'cert.pem'), 'utf8'),
    ]);
    return { key, cert };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
