import { rmSync } from 'node:fs';
import type { TestModule, TestRunEndReason } from 'vitest/node';
import { captureStats, findLeaks, readCaptures } from './secret-capture-scan.js';
import SummaryReporter from './summary-reporter.js';

/**
 * The closing line CI reads (SummaryReporter), with the suite-wide secret-leak scan folded in: every leak is
 * reported as an unhandled error, so it counts as a failure in `N passed, N failed` and the run exits non-zero.
 * Runs after every worker has written its capture file (test/support/secret-capture.ts).
 */
export default class SecretCaptureReporter extends SummaryReporter {
  constructor(private readonly options: { dir: string }) {
    super();
  }

  override onTestRunEnd(
    testModules: ReadonlyArray<TestModule>,
    unhandledErrors: ReadonlyArray<unknown>,
    reason: TestRunEndReason,
  ): void {
    const records = readCaptures(this.options.dir);
    const leaks = findLeaks(records);
    const { secrets, texts } = captureStats(records);
    rmSync(this.options.dir, { recursive: true, force: true });
    process.stdout.write(
      `\nsecret scan: ${secrets} secrets against ${texts} captured log lines, messages and writes: ${leaks.length} leaks\n`,
    );
    for (const leak of leaks) {
      process.stdout.write(
        `  LEAK ${leak.secretPreview} (from ${leak.via}) in ${leak.source} of ${leak.file}: ${leak.excerpt}\n`,
      );
    }
    if (leaks.length > 0) process.exitCode = 1;
    const errors = leaks.map((l) => new Error(`secret leaked into ${l.source} in ${l.file}`));
    super.onTestRunEnd(testModules, [...unhandledErrors, ...errors], leaks.length > 0 ? 'failed' : reason);
  }
}
