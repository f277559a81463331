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
    // Integration tests share one Dovecot; each test file uses its own users, so files may run in parallel.
    pool: 'forks',
  },
});
