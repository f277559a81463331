/**
 * Runs the real `pop3-bridge` command (bin/pop3-bridge.js) in a child
 * process, as a user would, and collects its exit code and output. Killed
 * after 30 s so a hung command fails its test instead of the whole run.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';

export const CLI_BIN = path.join(import.meta.dirname, '../../bin/pop3-bridge.js');

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runCli(cwd: string, args: string[], env: Record<string, string> = {}): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI_BIN, ...args], { cwd, env: { ...process.env, ...env, NO_COLOR: '1' } });
    let stdout = '';
    let stderr = '';
    // Decoded as streams: a character split between two chunks must not become U+FFFD.
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (d: string) => (stdout += d));
    child.stderr.on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
