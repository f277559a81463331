import { defineConfig } from 'vitest/config';
import { secretCaptureSettings } from './test/support/secret-capture-config.js';

/** Every worker records the secrets it was given and everything it logged; the reporter scans it all at the end. */
const secretCapture = secretCaptureSettings();

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    setupFiles: secretCapture.setupFiles,
    env: secretCapture.env,
    // The secret-capture reporter prints the summary line CI reads, counting a leaked secret as a failure.
    reporters: ['default', secretCapture.reporter],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // expect.poll waits on things outside the test process: Dovecot notices a dropped client only on its next
    // write and logs through its separate log process, and maildir renames land after QUIT's reply. vitest's
    // 1 s default was too short on a loaded CI machine (the Dovecot 'Disconnected' line arrived later).
    expect: { poll: { timeout: 15_000, interval: 50 } },
    // Integration tests share one Dovecot; each test file uses its own users, so files may run in parallel.
    pool: 'forks',
  },
});
