/**
 * A mailbox's `ca` adds to the trusted roots (docs/config.schema.json: "Extra trusted CA"); Node's own `ca`
 * option would replace them. That the added CA is trusted is shown against Dovecot by every CLI test, whose
 * mailbox configs name the test CA; that NODE_EXTRA_CA_CERTS stays trusted beside it, by session-extra-ca.test.ts.
 */
import tls from 'node:tls';
import { expect, it } from 'vitest';
import { silentLogger } from '../../functions/core/logger.js';
import { withDefaultRoots } from '../../functions/core/session.js';

it("keeps Node's bundled roots beside the configured CA", async () => {
  const pem = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
  const cas = await withDefaultRoots(pem, silentLogger);
  expect(tls.rootCertificates.length).toBeGreaterThan(100);
  expect(cas).toEqual(expect.arrayContaining([...tls.rootCertificates]));
  expect(cas.at(-1)).toBe(pem);
});
