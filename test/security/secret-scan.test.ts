/**
 * The suite-wide secret-leak check itself: the scan finds a registered secret or a webhook signing secret in
 * any captured text, and a whole vitest run with the suite's capture and reporter fails when one test file
 * logs a secret (and passes when it does not) — so a green suite means the scan ran and found nothing.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { type CaptureRecord, findLeaks, MIN_SECRET_LENGTH, secretsIn } from '../support/secret-capture-scan.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const secret = (value: string): CaptureRecord => ({ kind: 'secret', value, via: 'test' });
const text = (value: string): CaptureRecord => ({ kind: 'text', source: 'log', file: 'a.test.ts', text: value });

describe('findLeaks', () => {
  it('finds a registered secret in any captured text, once per text, and never prints it whole', () => {
    const leaks = findLeaks([
      secret('pw-correct-horse'),
      text('{"msg":"login ok"}'),
      text('auth failed for pw-correct-horse and pw-correct-horse'),
    ]);
    expect(leaks).toHaveLength(1);
    expect(leaks[0]!.excerpt).toContain('[SECRET]');
    expect(JSON.stringify(leaks)).not.toContain('pw-correct-horse');
  });

  it('finds a secret registered by one file in the text of another', () => {
    const other: CaptureRecord = { kind: 'text', source: 'stderr', file: 'b.test.ts', text: 'token=ya29.abcdefgh' };
    expect(findLeaks([secret('ya29.abcdefgh'), other]).map((l) => l.file)).toEqual(['b.test.ts']);
  });

  it('finds a webhook signing secret by its shape even when nobody registered it', () => {
    const whsec = `whsec_${Buffer.alloc(24, 9).toString('base64')}`;
    expect(findLeaks([text(`signing with ${whsec}`)])).toHaveLength(1);
    // Too short to be a real signing secret (fewer than 24 bytes): a config error may quote the bad value's kind.
    expect(findLeaks([text('expected whsec_ followed by base64 of 24..64 bytes, got whsec_c2hvcnQ=')])).toEqual([]);
  });

  it(`ignores registered secrets shorter than ${MIN_SECRET_LENGTH} characters (one-letter test passwords)`, () => {
    expect(findLeaks([secret('p'), text('PASS p')])).toEqual([]);
  });

  it('collects every string under a credential key, at any depth, and nothing else', () => {
    const found = secretsIn({
      mailboxes: [
        { host: 'h', password: 'pw-1', oauth2: { provider: 'google', clientSecret: 'cs-1', refreshToken: 'rt-1' } },
      ],
      webhooks: [{ url: 'https://h.example/x', secret: ['whsec_a', 'whsec_b'] }],
    });
    expect(found.sort()).toEqual(['cs-1', 'pw-1', 'rt-1', 'whsec_a', 'whsec_b']);
  });
});

describe('a vitest run with the suite-wide capture', () => {
  const run = (leak: 'on' | 'off') =>
    spawnSync(
      process.execPath,
      ['node_modules/vitest/vitest.mjs', 'run', '--config', 'test/security/fixtures/leak.vitest.config.ts'],
      { cwd: ROOT, env: { ...process.env, LEAK_DEMO: leak, NO_COLOR: '1' }, encoding: 'utf8', timeout: 60_000 },
    );

  it('fails, naming the file and where the secret went, when a test logs a secret', () => {
    const result = run('on');
    expect(result.status, result.stdout + result.stderr).toBe(1);
    expect(result.stdout).toMatch(/secret scan: \d+ secrets against \d+ captured .*: 1 leaks/);
    expect(result.stdout).toMatch(/LEAK pw-l….* \(from parseConfig\) in log of .*leak-demo\.leak\.ts/);
    expect(result.stdout).toContain('1 passed, 1 failed, 0 skipped');
    expect(result.stdout).not.toContain('pw-leak-demo-7f3a9c');
  });

  it('passes when the same test keeps the secret out of its logs (redacted by key)', () => {
    const result = run('off');
    expect(result.status, result.stdout + result.stderr).toBe(0);
    expect(result.stdout).toMatch(/: 0 leaks/);
    expect(result.stdout).toContain('1 passed, 0 failed, 0 skipped');
  });
});
