/**
 * A mailbox's `ca` adds to what Node trusts by default, and that includes the certificates an operator added
 * through NODE_EXTRA_CA_CERTS — which Node 20 does not list (`tls.rootCertificates` is its bundled roots only),
 * so a mailbox that set `ca` lost them and a server signed by the extra CA failed verification.
 *
 * Node reads NODE_EXTRA_CA_CERTS at start-up, so each case runs the real `pop3-bridge check` in a child process
 * with the variable set, against the run's Dovecot, whose certificate is signed by its test CA (facts.caPem);
 * facts.wrongCaPem and a self-signed third certificate are CAs that signed nothing of it.
 *
 * Node's default trust is not always its bundled roots: with --use-openssl-ca (Paketo's Node buildpack puts it in
 * NODE_OPTIONS by default) it is OpenSSL's store (SSL_CERT_FILE, SSL_CERT_DIR), which no Node 20 API lists.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { dovecotFromInjected } from '../support/dovecot.js';
import { runCli } from '../support/run-cli.js';
import { selfSignedCertificate } from '../support/self-signed.js';

const dovecot = dovecotFromInjected();

let dir: string;
let password: string;

interface CheckReport {
  mailbox: string;
  ok: boolean;
  error?: { code: string; message: string };
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'pop3-bridge-extra-ca-'));
  const account = await dovecot.createMailbox([Buffer.from('Subject: extra ca\r\n\r\nbody\r\n')]);
  password = account.password;
  const third = await selfSignedCertificate('pop3-bridge third CA');
  await writeFile(path.join(dir, 'server-ca.pem'), dovecot.facts.caPem);
  await writeFile(path.join(dir, 'unrelated-ca.pem'), dovecot.facts.wrongCaPem);
  await writeFile(path.join(dir, 'third-ca.pem'), third.cert);
  const mailbox = (name: string, ca: string | undefined) => ({
    name,
    host: dovecot.facts.host,
    port: dovecot.facts.tlsPort,
    tls: 'implicit',
    servername: dovecot.facts.servername,
    ...(ca !== undefined && { ca: path.join(dir, ca) }),
    username: account.user,
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a literal ${VAR} for the config's env substitution
    password: '${TEST_POP3_PASSWORD}',
    // Never called: `check` only connects, logs in and asks STAT.
    webhooks: [{ url: 'https://hooks.example.test/pop3', secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' }],
  });
  const config = {
    store: { dir: 'state' },
    mailboxes: [
      mailbox('unrelated-ca', 'unrelated-ca.pem'),
      mailbox('server-ca', 'server-ca.pem'),
      mailbox('no-ca', undefined),
    ],
  };
  await writeFile(path.join(dir, 'pop3-bridge.json'), JSON.stringify(config, null, 2));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function check(
  mailbox: string,
  extraCaCerts: string,
  env: Record<string, string> = {},
): Promise<{ report: CheckReport; stderr: string }> {
  const run = await runCli(dir, ['check', mailbox, '--json'], {
    TEST_POP3_PASSWORD: password,
    NODE_EXTRA_CA_CERTS: extraCaCerts,
    ...env,
  });
  expect(run.stdout, run.stderr).toMatch(/^\{/);
  const reports = (JSON.parse(run.stdout) as { mailboxes: CheckReport[] }).mailboxes;
  expect(reports, run.stderr).toHaveLength(1);
  return { report: reports[0]!, stderr: run.stderr };
}

it('trusts a server signed by a CA from NODE_EXTRA_CA_CERTS when the mailbox sets an unrelated ca', async () => {
  const { report, stderr } = await check('unrelated-ca', path.join(dir, 'server-ca.pem'));
  expect(report, stderr).toMatchObject({ mailbox: 'unrelated-ca', ok: true });
});

it('still refuses a server signed by neither the extra CA nor the mailbox ca, with POP3_ERR_TLS', async () => {
  const { report } = await check('unrelated-ca', path.join(dir, 'third-ca.pem'));
  expect(report).toMatchObject({ mailbox: 'unrelated-ca', ok: false, error: { code: 'POP3_ERR_TLS' } });
  // Dovecot sends its leaf alone, so OpenSSL reports the leaf's unknown issuer.
  expect(report.error?.message).toMatch(/UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY/);
});

it('goes on with the mailbox ca when NODE_EXTRA_CA_CERTS cannot be read, and says so', async () => {
  const missing = path.join(dir, 'no-such-file.pem');
  const { report, stderr } = await check('server-ca', missing);
  expect(report, stderr).toMatchObject({ mailbox: 'server-ca', ok: true });
  // Node ≥ 22.15 lists the extra certificates itself (tls.getCACertificates) and warns on its own; on Node 20
  // the bridge reads the file and logs the warning, as a JSON line naming the file and the reason.
  if (!('getCACertificates' in tls)) {
    const warnings = stderr
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((record) => record.level === 'warn');
    expect(warnings).toEqual([
      expect.objectContaining({ msg: expect.stringContaining('NODE_EXTRA_CA_CERTS'), file: missing, reason: 'ENOENT' }),
    ]);
  }
});

it("with --use-openssl-ca, trusts OpenSSL's store beside an unrelated mailbox ca, as Node does without one", async () => {
  // OpenSSL's store holds only the server's CA here: its file, and an empty directory.
  const emptyDir = path.join(dir, 'empty-cert-dir');
  await mkdir(emptyDir, { recursive: true });
  const env = {
    NODE_OPTIONS: '--use-openssl-ca',
    SSL_CERT_FILE: path.join(dir, 'server-ca.pem'),
    SSL_CERT_DIR: emptyDir,
  };
  // Node itself trusts the server through that store...
  const control = await check('no-ca', '', env);
  expect(control.report, control.stderr).toMatchObject({ mailbox: 'no-ca', ok: true });
  // ...and a mailbox's ca adds to that trust: it refused the server (SELF_SIGNED_CERT_IN_CHAIN), its CA being
  // in OpenSSL's store and not in the bundled roots the ca was put beside.
  const { report, stderr } = await check('unrelated-ca', '', env);
  expect(report, stderr).toMatchObject({ mailbox: 'unrelated-ca', ok: true });
});

/**
 * A NODE_EXTRA_CA_CERTS file that Node reads otherwise than a plain list of CERTIFICATE blocks. Node 20 reads it
 * with OpenSSL's PEM reader, one certificate after another: the legacy `X509 CERTIFICATE` label is a
 * certificate, and the first block that does not parse ends the reading, so what follows it is not trusted.
 * Each case checks Node itself first, through the mailbox without a ca.
 */
it('an extra CA under the legacy X509 CERTIFICATE label is trusted beside a mailbox ca, as Node trusts it', async () => {
  const file = path.join(dir, 'legacy-label.pem');
  await writeFile(file, dovecot.facts.caPem.replace(/(BEGIN|END) CERTIFICATE/g, '$1 X509 CERTIFICATE'));
  const control = await check('no-ca', file);
  expect(control.report, control.stderr).toMatchObject({ mailbox: 'no-ca', ok: true });
  const { report, stderr } = await check('unrelated-ca', file);
  expect(report, stderr).toMatchObject({ mailbox: 'unrelated-ca', ok: true });
});

it('an extra CA after a block that does not parse is not trusted beside a mailbox ca, as Node does not', async () => {
  const file = path.join(dir, 'damaged-first.pem');
  await writeFile(
    file,
    `-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n${dovecot.facts.caPem}`,
  );
  const control = await check('no-ca', file);
  expect(control.report, control.stderr).toMatchObject({
    mailbox: 'no-ca',
    ok: false,
    error: { code: 'POP3_ERR_TLS' },
  });
  const { report, stderr } = await check('unrelated-ca', file);
  expect(report, stderr).toMatchObject({ mailbox: 'unrelated-ca', ok: false, error: { code: 'POP3_ERR_TLS' } });
});
