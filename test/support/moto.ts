/**
 * Starts one `moto_server` (an AWS API emulator: S3, DynamoDB, SQS, SSM, …) on
 * a free loopback port for a test file:
 *
 *   let moto: Moto;
 *   beforeAll(async () => { moto = await startMoto(); });
 *   afterAll(() => moto?.stop());
 *
 * The port is chosen by the OS (`-p 0`) and read back from the server's
 * startup line, so two test files never race for a port. `stop()` ends the
 * server's whole process group (it runs behind a pyenv shim) and is safe to
 * call twice; a test process that dies without calling it still ends the
 * server on exit.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';

export interface Moto {
  /** `http://127.0.0.1:<port>`: pass as the SDK endpoint with dummy credentials. */
  readonly endpoint: string;
  readonly region: string;
  readonly credentials: { readonly accessKeyId: string; readonly secretAccessKey: string };
  /**
   * The server's process group (the shim and the Python behind it): lets a
   * long run watch moto's memory (moto keeps every model instance it ever
   * created, see docs/soak.md).
   */
  readonly processGroup: number;
  stop(): Promise<void>;
}

export interface StartMotoOptions {
  /** Executable to run; default `$MOTO_SERVER` or `moto_server` on the PATH. */
  readonly command?: string;
  /** How long to wait for the server to answer. */
  readonly startTimeoutMs?: number;
}

const INSTALL_HINT =
  "moto_server (moto 5.2) is needed for the AWS adapter tests: install it with `pip install 'moto[server]==5.2.*'` " +
  '(PyPI may be unreachable on this machine; the image ships it with its Python, e.g. /root/.pyenv/shims/moto_server), ' +
  'or point MOTO_SERVER at the executable.';

const READY_LINE = /Running on http:\/\/127\.0\.0\.1:(\d+)/;

/** Unique, valid S3 bucket / DynamoDB table name for one test. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 18)}`.toLowerCase();
}

export async function startMoto(options: StartMotoOptions = {}): Promise<Moto> {
  const command = options.command ?? process.env.MOTO_SERVER ?? 'moto_server';
  const timeoutMs = options.startTimeoutMs ?? 20_000;
  const child = spawn(command, ['-H', '127.0.0.1', '-p', '0'], {
    // Its own process group, so stop() also reaches the Python behind a shim.
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    // Unbuffered, or the "Running on" line may sit in a pipe buffer.
    env: { ...process.env, PYTHONUNBUFFERED: '1' },
  });
  const stop = stopper(child);
  const onExit = (): void => killGroup(child, 'SIGKILL');
  process.once('exit', onExit);
  try {
    const port = await readPort(child, command, timeoutMs);
    const endpoint = `http://127.0.0.1:${port}`;
    await waitUntilAnswering(endpoint, timeoutMs);
    return {
      endpoint,
      processGroup: child.pid ?? 0,
      region: 'us-east-1',
      credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
      stop: async () => {
        process.off('exit', onExit);
        await stop();
      },
    };
  } catch (err) {
    process.off('exit', onExit);
    await stop();
    throw err;
  }
}

function readPort(child: ChildProcess, command: string, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let output = '';
    const timer = setTimeout(
      () => finish(new Error(`moto_server did not report its port within ${timeoutMs} ms; output:\n${output}`)),
      timeoutMs,
    );
    const onData = (data: Buffer): void => {
      output += data.toString('utf8');
      const match = READY_LINE.exec(output);
      if (match?.[1] !== undefined) finish(undefined, Number(match[1]));
    };
    const onError = (err: NodeJS.ErrnoException): void => {
      finish(err.code === 'ENOENT' ? new Error(`${command}: not found. ${INSTALL_HINT}`, { cause: err }) : err);
    };
    const onExit = (code: number | null, signal: NodeJS.Signals | null): void => {
      const hint = code === 127 ? ` ${INSTALL_HINT}` : '';
      finish(new Error(`moto_server exited (code ${code}, signal ${signal}) before it was ready.${hint}\n${output}`));
    };
    function finish(err: Error | undefined, port?: number): void {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.stderr?.off('data', onData);
      child.off('error', onError);
      child.off('exit', onExit);
      // Keep draining the pipes so a chatty server never blocks on a full one.
      child.stdout?.resume();
      child.stderr?.resume();
      if (err !== undefined) reject(err);
      else resolve(port ?? 0);
    }
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('error', onError);
    child.once('exit', onExit);
  });
}

async function waitUntilAnswering(endpoint: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`${endpoint}/moto-api/`, { signal: AbortSignal.timeout(2_000) });
      await res.arrayBuffer();
      if (res.ok) return;
      last = new Error(`HTTP ${res.status}`);
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`moto_server at ${endpoint} did not answer within ${timeoutMs} ms`, { cause: last });
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // Already gone.
  }
}

function stopper(child: ChildProcess): () => Promise<void> {
  let stopping: Promise<void> | undefined;
  return () => {
    stopping ??= new Promise<void>((resolve) => {
      if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) {
        resolve();
        return;
      }
      const force = setTimeout(() => killGroup(child, 'SIGKILL'), 3_000);
      child.once('exit', () => {
        clearTimeout(force);
        resolve();
      });
      killGroup(child, 'SIGTERM');
    });
    return stopping;
  };
}
