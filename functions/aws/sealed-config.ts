/**
 * A mailbox config sealed for the state table: AES-256-GCM under a data key
 * (config-keys.ts), with the mailbox name and the SSM parameter version bound
 * in as additional authenticated data, so a sealed item copied to another
 * mailbox, or an older version put back under a newer number, fails to open
 * (CONFIG_ERR_SEALED) instead of polling with the wrong credentials.
 *
 *   byte 0        format (1)
 *   bytes 1..12   IV, random per seal (NIST SP 800-38D §8.2.2: ≤ 2^32 random IVs per key; a data key
 *                 seals at most DATA_KEY_MAX_USES configs)
 *   bytes 13..28  GCM tag (128 bits)
 *   bytes 29..    ciphertext of the parameter's JSON text
 *
 * Written by hand with node:crypto rather than with the AWS Encryption SDK:
 * this is a dozen lines, where the SDK's client, keyring and message format
 * add several hundred kB to every bundle that opens a config (the deliver
 * bundle has a 1 MB target), and its features (key commitment across
 * multiple wrapping keys, streaming, signed messages) buy nothing for one
 * KMS key and documents under 4 KB.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { BridgeError } from '../core/errors.js';

export const SEALED_FORMAT = 1;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const HEADER_BYTES = 1 + IV_BYTES + TAG_BYTES;
const KEY_BYTES = 32;

/** What a sealed config belongs to: opening it as anything else fails. */
export interface SealBinding {
  readonly mailbox: string;
  readonly version: number;
}

function aad({ mailbox, version }: SealBinding): Buffer {
  // Format byte first, NUL-separated: mailbox names cannot contain NUL, so no two bindings encode alike.
  return Buffer.from(`${SEALED_FORMAT}\0pop3-bridge/mailbox-config\0${mailbox}\0${version}`, 'utf8');
}

function checkKey(dataKey: Uint8Array): void {
  if (dataKey.length !== KEY_BYTES) throw new RangeError('a config data key is 32 bytes (AES-256)');
}

export function sealConfig(plaintext: string, dataKey: Uint8Array, binding: SealBinding): Uint8Array {
  checkKey(dataKey);
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', dataKey, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(aad(binding));
  const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return Buffer.concat([Buffer.of(SEALED_FORMAT), iv, cipher.getAuthTag(), body]);
}

/**
 * The plaintext JSON of a sealed config. Throws CONFIG_ERR_SEALED when the
 * format is unknown or the item was altered, moved to another mailbox or
 * version, or sealed under another key; the error names the mailbox and
 * version only.
 */
export function openConfig(sealed: Uint8Array, dataKey: Uint8Array, binding: SealBinding): string {
  checkKey(dataKey);
  const fail = (why: string) =>
    new BridgeError('CONFIG_ERR_SEALED', `sealed config of ${binding.mailbox} v${binding.version}: ${why}`, {
      context: { mailbox: binding.mailbox, version: binding.version },
    });
  if (sealed.length < HEADER_BYTES || sealed[0] !== SEALED_FORMAT) throw fail('unknown format');
  const bytes = Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength);
  const decipher = createDecipheriv('aes-256-gcm', dataKey, bytes.subarray(1, 1 + IV_BYTES), {
    authTagLength: TAG_BYTES,
  });
  decipher.setAAD(aad(binding));
  decipher.setAuthTag(bytes.subarray(1 + IV_BYTES, HEADER_BYTES));
  try {
    return Buffer.concat([decipher.update(bytes.subarray(HEADER_BYTES)), decipher.final()]).toString('utf8');
  } catch {
    // OpenSSL's message ("Unsupported state or unable to authenticate data") says nothing more.
    throw fail('does not authenticate (altered, moved, or sealed under another key)');
  }
}
