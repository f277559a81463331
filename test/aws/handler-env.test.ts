/**
 * handlerEnv: the settings the stack gives the functions, read once at init.
 * MAX_EVENT_BODY_BYTES (the stack's `maxEventBodyBytes`) reaches the event
 * builder of the deliver function; a value outside 32 KiB..1 MiB stops the
 * container at init with CONFIG_ERR_ENV, naming the variable.
 */
import { expect, it } from 'vitest';
import { handlerEnv } from '../../functions/aws/runtime.js';

const REQUIRED = {
  AWS_REGION: 'eu-west-1',
  TABLE_NAME: 'table',
  BUCKET_NAME: 'bucket',
  MAILBOX_PARAMETER_PATH: '/pop3-bridge/mailboxes',
};

it('reads MAX_EVENT_BODY_BYTES when set, leaves the default when not', () => {
  expect(handlerEnv(REQUIRED).maxEventBodyBytes).toBeUndefined();
  expect(handlerEnv({ ...REQUIRED, MAX_EVENT_BODY_BYTES: '' }).maxEventBodyBytes).toBeUndefined();
  expect(handlerEnv({ ...REQUIRED, MAX_EVENT_BODY_BYTES: '65536' }).maxEventBodyBytes).toBe(65_536);
  expect(handlerEnv({ ...REQUIRED, MAX_EVENT_BODY_BYTES: '32768' }).maxEventBodyBytes).toBe(32_768);
  expect(handlerEnv({ ...REQUIRED, MAX_EVENT_BODY_BYTES: '1048576' }).maxEventBodyBytes).toBe(1_048_576);
});

it.each(['32767', '1048577', '64k', '-1', '1e5', ' 65536'])('refuses MAX_EVENT_BODY_BYTES=%j at init', (value) => {
  expect(() => handlerEnv({ ...REQUIRED, MAX_EVENT_BODY_BYTES: value })).toThrow(
    expect.objectContaining({ code: 'CONFIG_ERR_ENV', context: { variable: 'MAX_EVENT_BODY_BYTES' } }),
  );
});
