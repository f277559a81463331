/**
 * What a mailbox's `ca` is added to (default-roots.ts), in both of its ways: Node ≥ 22.15 lists its default CAs
 * itself; on Node 20 the bridge reads the NODE_EXTRA_CA_CERTS file the way Node does. The Node 20 way is
 * exercised on any Node by passing no lister. Against a real server: session-extra-ca.test.ts.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadDefaultRoots } from '../../functions/core/default-roots.js';
import { createJsonLogger } from '../../functions/core/logger.js';
import { selfSignedCertificate } from '../support/self-signed.js';

let dir: string;
let first: string;
let second: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'pop3-bridge-default-roots-'));
  [first, second] = await Promise.all([
    selfSignedCertificate('extra-one.test').then((c) => c.cert),
    selfSignedCertificate('extra-two.test').then((c) => c.cert),
  ]);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function recorder() {
  const lines: string[] = [];
  const logger = createJsonLogger({ level: 'debug', write: (line) => lines.push(line) });
  const records = () => lines.map((line) => JSON.parse(line) as Record<string, unknown>);
  return { logger, records };
}

it('on Node 20: the bundled roots, then every certificate of the NODE_EXTRA_CA_CERTS file', async () => {
  const file = path.join(dir, 'extra.pem');
  await writeFile(file, `# operator bundle\n${first}\n${second}`);
  const { logger, records } = recorder();
  const roots = await loadDefaultRoots(file, logger, undefined);
  expect(roots).toEqual([...tls.rootCertificates, first.trim(), second.trim()]);
  expect(records()).toEqual([]);
});

it('on Node 20: a block that does not parse is left out with a warning, the others kept', async () => {
  const file = path.join(dir, 'damaged.pem');
  await writeFile(file, `${first}-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n`);
  const { logger, records } = recorder();
  const roots = await loadDefaultRoots(file, logger, undefined);
  expect(roots).toEqual([...tls.rootCertificates, first.trim()]);
  expect(records()).toEqual([expect.objectContaining({ level: 'warn', file, ignored: 1, kept: 1 })]);
});

it('on Node 20: reading stops at a block that does not parse, as Node stops: the certificates after it are left out', async () => {
  const file = path.join(dir, 'damaged-between.pem');
  const damaged = '-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n';
  // A BEGIN without its END does not parse either.
  for (const [name, text] of [
    ['bad block', `${first}${damaged}${second}`],
    ['no END', `${first}-----BEGIN CERTIFICATE-----\nbm90\n${second}`],
  ] as const) {
    await writeFile(file, text);
    const { logger, records } = recorder();
    expect(await loadDefaultRoots(file, logger, undefined), name).toEqual([...tls.rootCertificates, first.trim()]);
    expect(records(), name).toEqual([expect.objectContaining({ level: 'warn', file, ignored: 2, kept: 1 })]);
  }
});

it('on Node 20: the legacy X509 CERTIFICATE label is a certificate, as OpenSSL reads it, given with the current label', async () => {
  const file = path.join(dir, 'legacy.pem');
  await writeFile(file, `${first}${second.replace(/(BEGIN|END) CERTIFICATE/g, '$1 X509 CERTIFICATE')}`);
  const { logger, records } = recorder();
  expect(await loadDefaultRoots(file, logger, undefined)).toEqual([
    ...tls.rootCertificates,
    first.trim(),
    second.trim(),
  ]);
  expect(records()).toEqual([]);
});

it('on Node 20: an unreadable file is a warning naming it, and the bundled roots remain', async () => {
  const file = path.join(dir, 'missing.pem');
  const { logger, records } = recorder();
  expect(await loadDefaultRoots(file, logger, undefined)).toEqual(tls.rootCertificates);
  expect(records()).toEqual([expect.objectContaining({ level: 'warn', file, reason: 'ENOENT' })]);
});

it('without NODE_EXTRA_CA_CERTS: the bundled roots', async () => {
  const { logger } = recorder();
  expect(await loadDefaultRoots(undefined, logger, undefined)).toEqual(tls.rootCertificates);
  expect(await loadDefaultRoots('', logger, undefined)).toEqual(tls.rootCertificates);
});

it("where Node lists its default CAs (tls.getCACertificates), its 'default' list, file unread", async () => {
  const asked: string[] = [];
  const list = (type: 'default') => {
    asked.push(type);
    return [first];
  };
  const { logger, records } = recorder();
  expect(await loadDefaultRoots(path.join(dir, 'missing.pem'), logger, list)).toEqual([first]);
  expect(asked).toEqual(['default']);
  expect(records()).toEqual([]);
});
