/**
 * Stands in for `@aws-sdk/credential-provider-node` inside the Lambda bundles
 * only (an esbuild alias in `BUNDLING`, infra/constructs/bridge-function.ts).
 *
 * Lambda puts the execution role's credentials in the environment of every
 * function: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN
 * ("Defined runtime environment variables",
 * https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-runtime).
 * The SDK's default chain already tries the environment first there, so the
 * rest of the chain (SSO, shared ini files, credential_process, web identity,
 * the login provider, container and instance metadata, with the STS, SSO and
 * sign-in clients they bring) is code a handler never runs: ≈ 95 kB of each
 * minified bundle. Local mode, the CLI and the tests are not bundled with
 * this alias and keep the full chain.
 *
 * Every SDK client's runtime config calls `defaultProvider(init)` to get its
 * credential provider; this one reads the environment on each call, as the
 * chain's first link does, and fails with a message that says why the chain is
 * short rather than "Could not load credentials from any providers".
 */
import { fromEnv } from '@aws-sdk/credential-provider-env';

type EnvInit = Parameters<typeof fromEnv>[0];
type CredentialProvider = ReturnType<typeof fromEnv>;

const REQUIRED = ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'] as const;

export const defaultProvider = (init: EnvInit = {}): CredentialProvider => {
  const fromLambdaEnvironment = fromEnv(init);
  return async () => {
    try {
      return await fromLambdaEnvironment();
    } catch (error) {
      const missing = REQUIRED.filter((name) => !process.env[name]).join(' and ');
      throw new Error(
        `pop3-bridge Lambda bundle: ${missing || 'credentials'} not set in the environment. These bundles read ` +
          "only the credentials Lambda sets from the function's execution role (AWS_ACCESS_KEY_ID, " +
          'AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN); profiles, SSO and instance metadata are not bundled ' +
          '(infra/bundling/lambda-env-credentials.ts).',
        { cause: error },
      );
    }
  };
};
