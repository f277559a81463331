/**
 * Sealed mailbox configs: AES-256-GCM with the mailbox and version bound in
 * (functions/aws/sealed-config.ts), and the KMS data keys they are sealed
 * under (functions/aws/config-keys.ts) against moto's KMS, which binds the
 * encryption context into the ciphertext as KMS does.
 */
import { randomBytes } from 'node:crypto';
import { CreateKeyCommand, EncryptCommand, type KMSClient } from '@aws-sdk/client-kms';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CONFIG_KEY_CONTEXT,
  DATA_KEY_MAX_AGE_MS,
  DATA_KEY_MAX_USES,
  dataKeyOpener,
  dataKeySource,
  kmsClient,
} from '../../functions/aws/config-keys.js';
import { openConfig, SEALED_FORMAT, sealConfig } from '../../functions/aws/sealed-config.js';
import { type BridgeError, isBridgeError } from '../../functions/core/errors.js';
import { type Moto, startMoto } from '../support/moto.js';

const CONFIG = JSON.stringify({ name: 'support', password: 'sealed-test-password' });
const binding = { mailbox: 'support', version: 7 };

function refusal(run: () => unknown): BridgeError {
  try {
    run();
  } catch (error) {
    if (isBridgeError(error, 'CONFIG_ERR_SEALED')) return error;
    throw error;
  }
  throw new Error('expected CONFIG_ERR_SEALED');
}

describe('sealConfig / openConfig', () => {
  const key = randomBytes(32);

  it('round-trips, with a format byte and a fresh IV each time, and no plaintext in the output', () => {
    const a = sealConfig(CONFIG, key, binding);
    const b = sealConfig(CONFIG, key, binding);
    expect(a[0]).toBe(SEALED_FORMAT);
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(false);
    expect(Buffer.from(a).toString('latin1')).not.toContain('sealed-test-password');
    expect(openConfig(a, key, binding)).toBe(CONFIG);
    expect(openConfig(b, key, binding)).toBe(CONFIG);
  });

  it('refuses another mailbox, another version, another key, a flipped bit, a truncation and an unknown format', () => {
    const sealed = sealConfig(CONFIG, key, binding);
    const cases: Array<[string, () => unknown]> = [
      ['moved', () => openConfig(sealed, key, { mailbox: 'other', version: 7 })],
      ['version', () => openConfig(sealed, key, { mailbox: 'support', version: 8 })],
      ['key', () => openConfig(sealed, randomBytes(32), binding)],
      ...[1, 14, sealed.length - 1].map((at): [string, () => unknown] => [
        `bit ${at}`,
        () => {
          const copy = Buffer.from(sealed);
          copy[at] = (copy[at] ?? 0) ^ 0x01;
          return openConfig(copy, key, binding);
        },
      ]),
      ['truncated', () => openConfig(sealed.subarray(0, 20), key, binding)],
      ['format', () => openConfig(Buffer.concat([Buffer.of(2), sealed.subarray(1)]), key, binding)],
    ];
    for (const [what, run] of cases) {
      const error = refusal(run);
      expect(error.retryable, what).toBe(false);
      // Names the mailbox and version, never the content.
      expect(error.message, what).not.toContain('sealed-test-password');
      expect(JSON.stringify(error.toJSON()), what).not.toContain('sealed-test-password');
    }
  });

  it('takes only 32-byte keys', () => {
    expect(() => sealConfig(CONFIG, randomBytes(16), binding)).toThrow(RangeError);
  });
});

describe('config data keys (moto KMS)', () => {
  let moto: Moto;
  let kms: KMSClient;
  let keyId: string;
  const ops = new Map<string, number>();

  beforeAll(async () => {
    moto = await startMoto();
    kms = kmsClient({ region: moto.region, endpoint: moto.endpoint, credentials: moto.credentials });
    kms.middlewareStack.add(
      (next, context) => (args) => {
        ops.set(String(context.commandName), (ops.get(String(context.commandName)) ?? 0) + 1);
        return next(args);
      },
      { step: 'initialize' },
    );
    keyId = (await kms.send(new CreateKeyCommand({}))).KeyMetadata?.Arn ?? 'no key';
  });
  afterAll(async () => {
    kms?.destroy();
    await moto?.stop();
  });

  it('the registry reuses one data key for an hour or DATA_KEY_MAX_USES seals, then asks KMS for a new one', async () => {
    let now = 1_000_000;
    const source = dataKeySource(kms, keyId, () => now);
    ops.clear();
    const first = await source.take();
    expect(first.plaintext).toHaveLength(32);
    expect(await source.take()).toBe(first);
    now += DATA_KEY_MAX_AGE_MS - 1;
    expect(await source.take()).toBe(first);
    now += 1;
    const second = await source.take();
    expect(second).not.toBe(first);
    for (let i = 1; i < DATA_KEY_MAX_USES; i += 1) await source.take();
    expect(await source.take()).not.toBe(second);
    expect(Object.fromEntries(ops)).toEqual({ GenerateDataKeyCommand: 3 });
  });

  it('poll opens each encrypted data key once (LRU), and a key under another context is CONFIG_ERR_SEALED', async () => {
    const source = dataKeySource(kms, keyId);
    const { plaintext, encrypted } = await source.take();
    const expected = Buffer.from(plaintext);
    const opener = dataKeyOpener(kms, keyId, 2);
    ops.clear();
    expect(Buffer.from(await opener.open(encrypted)).equals(expected)).toBe(true);
    expect(Buffer.from(await opener.open(encrypted)).equals(expected)).toBe(true);
    expect(Object.fromEntries(ops)).toEqual({ DecryptCommand: 1 });
    // Bounded: a third key evicts the least recently used.
    const others = [await dataKeySource(kms, keyId).take(), await dataKeySource(kms, keyId).take()];
    for (const other of others) await opener.open(other.encrypted);
    expect(opener.size).toBe(2);
    // Ciphertext the same key made for something else (another context) does not open as a config key.
    const foreign = await kms.send(
      new EncryptCommand({ KeyId: keyId, Plaintext: randomBytes(32), EncryptionContext: { purpose: 'other' } }),
    );
    const error = await opener.open(foreign.CiphertextBlob ?? new Uint8Array()).catch((e: unknown) => e);
    expect(isBridgeError(error, 'CONFIG_ERR_SEALED')).toBe(true);
    expect(CONFIG_KEY_CONTEXT).toEqual({ 'pop3-bridge:purpose': 'mailbox-config' });
  });
});
