/** `pop3-bridge demo`: placeholder until the scripted server lands (see functions/scripted-server). */
import type { LogLevel } from '../../core/logger.js';

export async function demoCommand(_options: { json: boolean; logLevel: LogLevel }): Promise<number> {
  process.stderr.write('demo: not wired yet\n');
  return 2;
}
