import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CAPTURE_DIR_ENV } from './secret-capture-scan.js';

/**
 * The vitest settings that switch on the suite-wide secret-leak check: the worker setupFile that records, the
 * directory it records into (handed to the workers in their environment) and the reporter that scans it and
 * prints the summary line CI reads. Shared by vitest.config.ts and the leak self-test's config.
 */
export function secretCaptureSettings(): {
  setupFiles: string[];
  env: Record<string, string>;
  reporter: [string, { dir: string }];
} {
  const dir = mkdtempSync(join(tmpdir(), 'pop3-bridge-secret-capture-'));
  return {
    setupFiles: ['test/support/secret-capture.ts'],
    env: { [CAPTURE_DIR_ENV]: dir },
    reporter: ['./test/support/secret-capture-reporter.ts', { dir }],
  };
}
