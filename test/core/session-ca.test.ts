/**
 * A mailbox's `ca` adds to the trusted roots (docs/config.schema.json: "Extra trusted CA"); Node's own `ca`
 * option would replace them. That the added CA is trusted is shown against Dovecot by every CLI test, whose
 * mailbox configs name the test CA.
 */
import tls from 'node:tls';
import { expect, it } from 'vitest';
import { withDefaultRoots } from '../../functions/core/session.js';

it("keeps Node's bundled roots beside the configured CA", () => {
  const pem = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
  const cas = withDefaultRoots(pem);
  expect(tls.rootCertificates.length).toBeGreaterThan(100);
  expect(cas).toEqual([...tls.rootCertificates, pem]);
});
