/**
 * infra/bundling/lambda-env-credentials.ts replaces the SDK's default
 * credential chain in the Lambda bundles (an esbuild alias in BUNDLING): the
 * credentials Lambda puts in the environment, read when a client asks, and a
 * clear error without them. The bundles' use of it against moto is
 * test/aws/e2e.test.ts; that nothing else of the chain is bundled is
 * test/infra/handler-bundles.test.ts.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { defaultProvider } from '../../infra/bundling/lambda-env-credentials.js';
import { BUNDLING } from '../../infra/constructs/bridge-function.js';
import { esbuildArgsOptions } from '../support/bundle-handlers.js';

const NAMES = ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_PROFILE'] as const;
let saved: Record<string, string | undefined>;

beforeEach(() => {
  saved = Object.fromEntries(NAMES.map((name) => [name, process.env[name]]));
  for (const name of NAMES) delete process.env[name];
});
afterEach(() => {
  for (const name of NAMES) {
    if (saved[name] === undefined) delete process.env[name];
    else process.env[name] = saved[name];
  }
});

describe('lambda-env-credentials', () => {
  it('is what BUNDLING substitutes for the default chain', () => {
    expect(esbuildArgsOptions(BUNDLING.esbuildArgs ?? {}).alias).toMatchObject({
      '@aws-sdk/credential-provider-node': './infra/bundling/lambda-env-credentials.ts',
    });
  });

  it("returns the execution role's credentials Lambda sets, read when the client asks", async () => {
    const provider = defaultProvider();
    process.env.AWS_ACCESS_KEY_ID = 'ASIAEXAMPLE';
    process.env.AWS_SECRET_ACCESS_KEY = 'secret-one';
    process.env.AWS_SESSION_TOKEN = 'token-one';
    await expect(provider()).resolves.toMatchObject({
      accessKeyId: 'ASIAEXAMPLE',
      secretAccessKey: 'secret-one',
      sessionToken: 'token-one',
    });
    process.env.AWS_SECRET_ACCESS_KEY = 'secret-two';
    await expect(provider()).resolves.toMatchObject({ secretAccessKey: 'secret-two' });
  });

  it('takes the environment even when AWS_PROFILE is set (Lambda sets no profile; the SDK chain would prefer it)', async () => {
    process.env.AWS_PROFILE = 'someone-else';
    process.env.AWS_ACCESS_KEY_ID = 'ASIAEXAMPLE';
    process.env.AWS_SECRET_ACCESS_KEY = 'secret-one';
    await expect(defaultProvider()()).resolves.toMatchObject({ accessKeyId: 'ASIAEXAMPLE' });
  });

  it('without them, fails naming what is missing and why the chain is short, never a secret', async () => {
    await expect(defaultProvider()()).rejects.toThrow(
      /AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY not set in the environment.*profiles, SSO and instance metadata are not bundled/s,
    );
    process.env.AWS_ACCESS_KEY_ID = 'ASIAEXAMPLE';
    const error = await defaultProvider()().then(
      () => new Error('resolved'),
      (e: unknown) => e as Error,
    );
    expect(error.message).toMatch(/^pop3-bridge Lambda bundle: AWS_SECRET_ACCESS_KEY not set/);
    expect(error.message).not.toContain('ASIAEXAMPLE');
    expect((error.cause as Error).name).toBe('CredentialsProviderError');
  });
});
