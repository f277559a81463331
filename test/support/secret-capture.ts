/**
 * Worker side of the suite-wide secret-leak check (a vitest setupFile, so it runs before every test file in
 * every worker). It records:
 * - the secrets the tests hand to the code, at its entry points: `Pop3Client.login` credentials, every
 *   credential in a config given to `parseConfig`, webhook secrets given to `signWebhook`, OAuth2 client
 *   secrets, refresh tokens and the access tokens a token source returns;
 * - everything the code says: each log record (the silent logger most tests use is made to serialise its
 *   records exactly as the JSON logger would, redaction included), process.stdout/stderr and console writes,
 *   POP3 protocol trace lines, and the message, server text and cause of every BridgeError constructed.
 * At the end of each test file the records go to this process's capture file; the main process scans all of
 * them after the run (test/support/secret-capture-reporter.ts). Nothing is recorded when the capture directory
 * is not set (a test run without this config).
 */
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, expect, vi } from 'vitest';
import { redactFields, silentLogger } from '../../functions/core/logger.js';
import { Pop3Client } from '../../functions/pop3/client.js';
import { CAPTURE_DIR_ENV, type CaptureRecord, secretsIn } from './secret-capture-scan.js';

const dir = process.env[CAPTURE_DIR_ENV];
const records: CaptureRecord[] = [];
let bufferedChars = 0;

function currentFile(): string {
  return expect.getState().testPath ?? 'unknown';
}

function flush(): void {
  if (dir === undefined || records.length === 0) return;
  appendFileSync(join(dir, `${process.pid}.jsonl`), `${records.map((r) => JSON.stringify(r)).join('\n')}\n`);
  records.length = 0;
  bufferedChars = 0;
}

const registered = new Set<string>();
const GENERATED_INPUT_FILE = /\.property\.test\.ts$|\/test\/fuzz\//;

/** Records one secret; `via` says which entry point saw it. */
export function registerSecret(value: unknown, via: string): void {
  if (dir === undefined || typeof value !== 'string' || value.length === 0 || registered.has(value)) return;
  // Property and fuzz tests feed arbitrary JSON under credential keys ("microsoft", "constructor", …): words
  // that are no secret and do appear in logs. Those targets check their own marked secrets (test/fuzz/targets.ts).
  if (GENERATED_INPUT_FILE.test(currentFile())) return;
  registered.add(value);
  records.push({ kind: 'secret', value, via });
}

function capture(source: string, text: unknown): void {
  if (dir === undefined) return;
  const value =
    typeof text === 'string'
      ? text
      : Buffer.isBuffer(text) || text instanceof Uint8Array
        ? Buffer.from(text).toString('utf8')
        : String(text);
  if (value.length === 0) return;
  records.push({ kind: 'text', source, file: currentFile(), text: value });
  bufferedChars += value.length;
  // Bounded memory: a chatty test file must not hold everything it printed.
  if (bufferedChars > 4 * 1024 * 1024) flush();
}

function captureError(source: string, error: unknown, depth = 0): void {
  if (!(error instanceof Error) || depth > 4) return;
  capture(source, error.message);
  const json = (error as { toJSON?: () => unknown }).toJSON?.();
  if (json !== undefined) capture(source, JSON.stringify(json));
  captureError(`${source} cause`, error.cause, depth + 1);
}

if (dir !== undefined) {
  // --- what the code says -------------------------------------------------------------------------------

  // The silent logger (the default of every engine) becomes a recording one, serialising as createJsonLogger does.
  const recordingLogger = (base: Readonly<Record<string, unknown>>): typeof silentLogger => {
    const log =
      (level: string) =>
      (msg: string, fields?: Readonly<Record<string, unknown>>): void =>
        capture('log', JSON.stringify(redactFields({ level, msg, ...base, ...fields })));
    return {
      debug: log('debug'),
      info: log('info'),
      warn: log('warn'),
      error: log('error'),
      child: (fields) => recordingLogger({ ...base, ...fields }),
    };
  };
  Object.assign(silentLogger, recordingLogger({}));

  // stdout/stderr: a getter/setter pair, so a test that swaps `write` for its own capture (test/aws/e2e) is
  // still teed, and restoring the original does not recurse.
  for (const [name, stream] of [
    ['stdout', process.stdout],
    ['stderr', process.stderr],
  ] as const) {
    const original = stream.write;
    let current = original;
    const teed = function (this: unknown, chunk: unknown, ...rest: unknown[]): boolean {
      capture(name, chunk);
      return (current as (...args: unknown[]) => boolean).call(stream, chunk, ...rest);
    } as typeof stream.write;
    Object.defineProperty(stream, 'write', {
      configurable: true,
      get: () => teed,
      set: (fn: typeof stream.write) => {
        current = fn === teed ? original : fn;
      },
    });
  }
  for (const level of ['log', 'info', 'warn', 'error', 'debug'] as const) {
    const original = console[level];
    console[level] = (...args: unknown[]) => {
      capture(
        `console.${level}`,
        args.map((a) => (typeof a === 'string' ? a : (JSON.stringify(a) ?? String(a)))).join(' '),
      );
      original.apply(console, args);
    };
  }

  // --- secrets handed to the code, and the protocol trace ---------------------------------------------------

  const login = Pop3Client.prototype.login;
  Pop3Client.prototype.login = function (credentials) {
    registerSecret(credentials.password, 'Pop3Client.login password');
    registerSecret(credentials.accessToken, 'Pop3Client.login accessToken');
    return login.call(this, credentials);
  };
  const connect = Pop3Client.connect;
  Pop3Client.connect = (options) => {
    const trace = options.trace;
    return connect.call(Pop3Client, {
      ...options,
      trace: (direction, line) => {
        capture(`pop3 trace ${direction}`, line);
        trace?.(direction, line);
      },
    });
  };

  afterAll(() => flush());
  process.on('exit', () => flush());
}

// Module mocks are hoisted above the imports; they wrap the real modules and change no behaviour.
vi.mock('../../functions/core/errors.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../functions/core/errors.js')>();
  // Same name, same prototype chain (instanceof the real class holds): only the constructor records.
  class BridgeError extends real.BridgeError {
    constructor(...args: ConstructorParameters<typeof real.BridgeError>) {
      super(...args);
      captureError('BridgeError', this);
    }
  }
  return { ...real, BridgeError };
});

vi.mock('../../functions/config/validate.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../functions/config/validate.js')>();
  return {
    ...real,
    parseConfig: (...args: Parameters<typeof real.parseConfig>) => {
      for (const s of secretsIn(args[0])) registerSecret(s, 'parseConfig');
      return real.parseConfig(...args);
    },
  };
});

vi.mock('../../functions/delivery/signature.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../functions/delivery/signature.js')>();
  return {
    ...real,
    signWebhook: (...args: Parameters<typeof real.signWebhook>) => {
      for (const s of args[3]) registerSecret(s, 'signWebhook');
      return real.signWebhook(...args);
    },
  };
});

vi.mock('../../functions/core/oauth/token-source.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../functions/core/oauth/token-source.js')>();
  return {
    ...real,
    createTokenSource: (...args: Parameters<typeof real.createTokenSource>) => {
      const source = real.createTokenSource(...args);
      return {
        ...source,
        async accessToken(...call: Parameters<typeof source.accessToken>) {
          for (const s of secretsIn(call[0])) registerSecret(s, 'token source');
          const token = await source.accessToken(...call);
          registerSecret(token, 'token source result');
          return token;
        },
      };
    },
  };
});
