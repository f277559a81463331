/**
 * The deliver handler, as its SQS event source and the `DeliverErrors` alarm see it. The alarm watches
 * AWS/Lambda Errors, which counts only invocations that throw or time out: a batch response, even one
 * that names every record, is a successful invocation. deliver used to catch a failed round (the state
 * table or S3 unreachable, access denied, a deliver in a VPC without a route to AWS) and return every
 * record as a batch item failure, so deliver could fail every minute for hours with no alarm: only the
 * delivery DLQ's, after 10 receives × 30 min visibility. Thrown, SQS retries the batch the same way, and
 * the error reaches the alarm.
 */
import { createServer } from 'node:net';
import { afterEach, expect, it, vi } from 'vitest';
import type { LambdaContext, SqsBatchResponse, SqsEvent } from '../../functions/handlers/lambda-types.js';

/** A loopback port nothing listens on: every AWS call is refused at once. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

afterEach(() => {
  vi.unstubAllEnvs();
  vi.resetModules();
});

it('a round that cannot reach the state table fails the invocation, so Lambda counts an error', async () => {
  const env = {
    AWS_REGION: 'eu-west-1',
    AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE',
    AWS_SECRET_ACCESS_KEY: 'not-a-secret-key-for-a-refused-port',
    AWS_ENDPOINT_URL: `http://127.0.0.1:${await closedPort()}`,
    TABLE_NAME: 'state',
    BUCKET_NAME: 'store',
    MAILBOX_PARAMETER_PATH: '/pop3-bridge/mailboxes',
    CONFIG_KEY_ARN: 'arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000',
  };
  for (const [name, value] of Object.entries(env)) vi.stubEnv(name, value);
  const { handler } = (await import('../../functions/handlers/deliver.js')) as {
    handler: (event: SqsEvent, context: LambdaContext) => Promise<SqsBatchResponse>;
  };
  const event: SqsEvent = { Records: [{ messageId: 'wake-1', body: JSON.stringify({ kind: 'deliver-due' }) }] };
  const context: LambdaContext = { getRemainingTimeInMillis: () => 60_000 };
  await expect(handler(event, context)).rejects.toMatchObject({ code: 'STATE_ERR_IO' });
});
