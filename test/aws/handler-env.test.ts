/**
 * handlerEnv: the settings the stack gives the functions, read once at init.
 * LINK_TTL_SECONDS (`linkTtlSeconds`) was read with Number(), so a typo gave
 * NaN-second links; now it is checked like the rest.
 * MAX_EVENT_BODY_BYTES (the stack's `maxEventBodyBytes`) reaches the event
 * builder of the deliver function; a value outside 32 KiB..1 MiB stops the
 * container at init with CONFIG_ERR_ENV, naming the variable.
 * WEBHOOK_ALLOW_LIST (the stack's `webhookAllowList`) is checked entry by
 * entry as the config file's allow-list is: a bad prefix used to stop the
 * container with a bare RangeError from node:net's BlockList, and a URL was
 * silently taken for a host name that never matches.
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

it('reads LINK_TTL_SECONDS (60 s to the 7 days S3 allows), 24 h when unset', () => {
  expect(handlerEnv(REQUIRED).linkTtlSeconds).toBe(86_400);
  expect(handlerEnv({ ...REQUIRED, LINK_TTL_SECONDS: '3600' }).linkTtlSeconds).toBe(3600);
  for (const value of ['59', '604801', 'one day', 'NaN']) {
    expect(() => handlerEnv({ ...REQUIRED, LINK_TTL_SECONDS: value })).toThrow(
      expect.objectContaining({ code: 'CONFIG_ERR_ENV', context: { variable: 'LINK_TTL_SECONDS' } }),
    );
  }
});

it.each(['32767', '1048577', '64k', '-1', '1e5', ' 65536'])('refuses MAX_EVENT_BODY_BYTES=%j at init', (value) => {
  expect(() => handlerEnv({ ...REQUIRED, MAX_EVENT_BODY_BYTES: value })).toThrow(
    expect.objectContaining({ code: 'CONFIG_ERR_ENV', context: { variable: 'MAX_EVENT_BODY_BYTES' } }),
  );
});

it('reads WEBHOOK_ALLOW_LIST entry by entry, and refuses one that is not a CIDR, IP, host or *.domain', () => {
  expect(handlerEnv(REQUIRED).webhookAllowList).toEqual([]);
  expect(
    handlerEnv({ ...REQUIRED, WEBHOOK_ALLOW_LIST: '10.0.0.0/8, *.svc.internal,,fd00::/8' }).webhookAllowList,
  ).toEqual(['10.0.0.0/8', '*.svc.internal', 'fd00::/8']);
  for (const value of ['10.0.0.0/33', '10.0.0.0/8,https://hooks.example', 'fd00::/129', 'a b']) {
    let error: unknown;
    try {
      handlerEnv({ ...REQUIRED, WEBHOOK_ALLOW_LIST: value });
    } catch (caught) {
      error = caught;
    }
    expect(error).toMatchObject({ code: 'CONFIG_ERR_ENV', context: { variable: 'WEBHOOK_ALLOW_LIST' } });
    expect((error as Error).message).toMatch(/^WEBHOOK_ALLOW_LIST entry \d+ is not/);
  }
});
