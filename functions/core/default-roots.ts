/**
 * The CA certificates Node trusts when a connection names none: what a mailbox's `ca` is added to, since Node's
 * own `ca` option replaces them (session.ts). Node ≥ 22.15 / 23.5 lists them (`tls.getCACertificates`); Node 20
 * lists only its bundled Mozilla roots (`tls.rootCertificates`), without the certificates an operator added
 * through NODE_EXTRA_CA_CERTS, so on Node 20 that file is read here, once, as Node reads it once.
 */
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import tls from 'node:tls';
import type { Logger } from './logger.js';

/** `tls.getCACertificates` (Node ≥ 22.15 / 23.5): the types for Node 20 do not declare it. */
export type CaLister = (type: 'default') => string[];

/**
 * Where a certificate block starts, as OpenSSL's PEM reader takes one (Node 20 reads NODE_EXTRA_CA_CERTS with
 * `PEM_read_bio_X509`): the label CERTIFICATE, or the legacy X509 CERTIFICATE it still accepts (pem_lib.c).
 */
const PEM_BEGIN = /-----BEGIN (?:X509 )?CERTIFICATE-----/g;
/** The whole block from there: base64 and line breaks between the markers, never a '-' (linear time). */
const PEM_BLOCK = /-----BEGIN (X509 )?CERTIFICATE-----([^-]+)-----END \1CERTIFICATE-----/y;

/** Undefined on Node 20 and before 22.15 / 23.5. */
const nodeCaLister = (tls as { getCACertificates?: CaLister }).getCACertificates;

let roots: Promise<readonly string[]> | undefined;

/**
 * What Node trusts by default, worked out on first use and kept for the life of the process. The environment
 * is read here, not passed in: Node reads NODE_EXTRA_CA_CERTS at start-up, and a later change would not
 * change what a connection without `ca` trusts either.
 */
export function defaultRoots(logger: Logger): Promise<readonly string[]> {
  roots ??= loadDefaultRoots(process.env.NODE_EXTRA_CA_CERTS, logger, nodeCaLister);
  return roots;
}

/** `list` is Node's lister, or undefined where Node has none (a parameter, so tests reach both ways on any Node). */
export async function loadDefaultRoots(
  extraFile: string | undefined,
  logger: Logger,
  list: CaLister | undefined,
): Promise<readonly string[]> {
  // 'default' is exactly what a connection without `ca` trusts: bundled + extra (+ system with --use-system-ca).
  if (list !== undefined) return list('default');
  if (extraFile === undefined || extraFile === '') return tls.rootCertificates;
  return [...tls.rootCertificates, ...(await readExtraCertificates(extraFile, logger))];
}

/**
 * Node 20 itself only warns when the file cannot be loaded ("Ignoring extra certs from …") and goes on with
 * its bundled roots; so does this, naming the file (a path, no secret) and the reason, never its contents.
 * It reads the certificates in order and stops at the first block that does not parse (also with a warning):
 * the ones before it are trusted, the ones after it are not (crypto_context.cc, AddCertsFromFile). So does
 * this: keeping them trusted, beside a mailbox's `ca`, a CA that Node itself refuses on every other connection.
 */
async function readExtraCertificates(file: string, logger: Logger): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    logger.warn('NODE_EXTRA_CA_CERTS could not be read: a mailbox ca is trusted beside the bundled roots only', {
      file,
      reason: (error as NodeJS.ErrnoException).code ?? 'unknown',
    });
    return [];
  }
  const starts = [...text.matchAll(PEM_BEGIN)].map((match) => match.index);
  const certificates: string[] = [];
  for (const start of starts) {
    PEM_BLOCK.lastIndex = start;
    const block = PEM_BLOCK.exec(text);
    // Given with the current label, as tls.rootCertificates and tls.getCACertificates give theirs.
    const pem = block === null ? undefined : `-----BEGIN CERTIFICATE-----${block[2]}-----END CERTIFICATE-----`;
    if (pem === undefined || !isCertificate(pem)) break;
    certificates.push(pem);
  }
  if (certificates.length < starts.length) {
    logger.warn(
      'NODE_EXTRA_CA_CERTS holds a certificate that does not parse: it and the ones after it are left out, as Node leaves them out',
      {
        file,
        ignored: starts.length - certificates.length,
        kept: certificates.length,
      },
    );
  }
  return certificates;
}

function isCertificate(pem: string): boolean {
  try {
    new X509Certificate(pem);
    return true;
  } catch {
    return false;
  }
}
