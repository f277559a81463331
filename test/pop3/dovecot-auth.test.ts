/**
 * Every login method the client has, against the real Dovecot, over implicit TLS and over STLS, with the CA
 * verified: USER/PASS (RFC 1939 §7), APOP (RFC 1939 §7), AUTH PLAIN / LOGIN / CRAM-MD5 (RFC 5034) and `auto`.
 * The trace is checked line by line: it shows the mechanism used and `********` in place of every secret.
 */
import { createHash, createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Pop3Client } from '../../functions/pop3/client.js';
import type { AuthMethod, TlsMode } from '../../functions/pop3/types.js';
import { dovecotFromInjected } from '../support/dovecot.js';
import { connectOptions, rejectionOf, TraceRecorder } from './dovecot-support.js';

const dovecot = dovecotFromInjected();
const { facts } = dovecot;

type Method = Exclude<AuthMethod, 'xoauth2' | 'oauthbearer'>;
const METHODS: readonly Method[] = ['user', 'apop', 'plain', 'login', 'cram-md5', 'auto'];
const MODES: readonly TlsMode[] = ['implicit', 'starttls'];

/** What the client sends to log in with each method, as the trace shows it. */
function loginLines(method: Method, user: string): string[] {
  switch (method) {
    case 'user':
      return [`USER ${user}`, 'PASS ********'];
    case 'apop':
      return [`APOP ${user} ********`];
    case 'plain':
      // The initial response (RFC 4616 authzid NUL authcid NUL passwd) goes on the AUTH line.
      return ['AUTH PLAIN ********'];
    case 'login':
      // Two challenges, `Username:` and `Password:`; both answers are hidden.
      return ['AUTH LOGIN', '********', '********'];
    case 'cram-md5':
    case 'auto':
      // Dovecot offers PLAIN LOGIN CRAM-MD5; `auto` prefers CRAM-MD5, which never shows the password.
      return ['AUTH CRAM-MD5', '********'];
  }
}

/** What the client sends before logging in: CAPA, and for STLS the upgrade and CAPA again (RFC 2595 §4). */
function preamble(mode: TlsMode): string[] {
  return mode === 'starttls' ? ['CAPA', 'STLS', 'CAPA'] : ['CAPA'];
}

/**
 * Every form a secret could take on the wire for this login: the password, its base64, the PLAIN initial
 * response, the APOP digest and the CRAM-MD5 answer (from the challenge the trace shows).
 */
function secretForms(trace: TraceRecorder, user: string, password: string, apopTimestamp?: string): string[] {
  const forms = [
    password,
    Buffer.from(password).toString('base64'),
    Buffer.from(`\0${user}\0${password}`).toString('base64'),
  ];
  if (apopTimestamp) forms.push(createHash('md5').update(`${apopTimestamp}${password}`).digest('hex'));
  for (const { dir, line } of trace.lines) {
    if (dir !== 'S' || !line.startsWith('+ ') || line.length < 4) continue;
    const challenge = Buffer.from(line.slice(2).trim(), 'base64');
    const digest = createHmac('md5', password).update(challenge).digest('hex');
    forms.push(digest, Buffer.from(`${user} ${digest}`).toString('base64'));
  }
  return forms;
}

function expectNoSecret(trace: TraceRecorder, forms: readonly string[]): void {
  for (const { line } of trace.lines) {
    for (const form of forms) expect(line, `trace line leaks a secret:\n${trace}`).not.toContain(form);
  }
}

describe.each(MODES)('over %s with the CA verified', (mode) => {
  it.each(METHODS)('logs in with %s', async (method) => {
    // A password with a space and a colon, and long enough that no accident matches it.
    const password = `s3cret pass:${mode}-${method}-${Date.now()}`;
    const message = Buffer.from('Subject: hi\r\n\r\nhi\r\n');
    const account = await dovecot.createMailbox([message], { password });
    const trace = new TraceRecorder();
    const client = await Pop3Client.connect(connectOptions(facts, mode, { trace: trace.sink }));
    expect(client.secure).toBe(true);
    expect(client.state).toBe('AUTHORIZATION');
    // Dovecot adds an APOP timestamp to its greeting because apop is among its auth_mechanisms.
    expect(client.greeting.apopTimestamp).toMatch(/^<[^>]+@[^>]+>$/);
    expect(client.capabilities.sasl).toEqual(expect.arrayContaining(['PLAIN', 'LOGIN', 'CRAM-MD5']));

    await client.login({ username: account.user, password, method });
    expect(client.state).toBe('TRANSACTION');
    expect(await client.stat()).toEqual({ count: 1, size: message.length });
    await client.quit();

    expect(trace.sent, trace.toString()).toEqual([
      ...preamble(mode),
      ...loginLines(method, account.user),
      'STAT',
      'QUIT',
    ]);
    // Dovecot answers every login with +OK "Logged in."
    const loginReply = trace.lines.filter((l) => l.dir === 'S').at(-3);
    expect(loginReply?.line).toMatch(/^\+OK Logged in/);
    expectNoSecret(trace, secretForms(trace, account.user, password, client.greeting.apopTimestamp));
  });

  // Dovecot still answers a failed login after about 0.5 s (auth_failure_delay = 0 only removes the 2 s default):
  // run these side by side, each with its own mailbox.
  it.concurrent.each(METHODS)(
    'a wrong password with %s is POP3_ERR_AUTH and the password is nowhere',
    async (method) => {
      const password = `right-${mode}-${method}-${Date.now()}`;
      const wrong = `wrong-${mode}-${method}-${Date.now()}`;
      const account = await dovecot.createMailbox([], { password });
      const trace = new TraceRecorder();
      const client = await Pop3Client.connect(connectOptions(facts, mode, { trace: trace.sink }));
      const error = await rejectionOf(client.login({ username: account.user, password: wrong, method }));
      client.close();

      expect(trace.sent, trace.toString()).toEqual([...preamble(mode), ...loginLines(method, account.user)]);
      expect(error.code).toBe('POP3_ERR_AUTH');
      expect(error.retryable).toBe(false);
      // Dovecot sends the RFC 3206 [AUTH] response code (it advertises AUTH-RESP-CODE); its text is kept.
      expect(error.responseCode).toBe('AUTH');
      expect(error.serverText).toBe('Authentication failed.');
      expect(error.message).toMatch(/failed \[AUTH\]: Authentication failed\./);
      const json = JSON.stringify(error);
      expect(JSON.parse(json)).toMatchObject({ code: 'POP3_ERR_AUTH', serverText: 'Authentication failed.' });
      const where = [error.message, error.serverText ?? '', json, String(error.stack), trace.toString()];
      for (const secret of [wrong, password, Buffer.from(wrong).toString('base64')]) {
        for (const text of where) expect(text).not.toContain(secret);
      }
      expectNoSecret(trace, secretForms(trace, account.user, wrong, client.greeting.apopTimestamp));
    },
  );
});

describe('choosing a method', () => {
  it('USER/PASS (`user`) works even though Dovecot offers SASL', async () => {
    const account = await dovecot.createMailbox([]);
    const client = await Pop3Client.connect(connectOptions(facts, 'implicit'));
    expect(client.capabilities.user).toBe(true);
    await client.login({ username: account.user, password: account.password, method: 'user' });
    await client.quit();
  });

  it('an unknown user fails like a wrong password (Dovecot does not tell them apart)', async () => {
    const client = await Pop3Client.connect(connectOptions(facts, 'implicit'));
    const error = await rejectionOf(client.login({ username: 'nobody-here', password: 'x', method: 'plain' }));
    expect(error.code).toBe('POP3_ERR_AUTH');
    expect(error.serverText).toBe('Authentication failed.');
    client.close();
  });

  it('a password with a line break is refused before anything is sent', async () => {
    const trace = new TraceRecorder();
    const client = await Pop3Client.connect(connectOptions(facts, 'implicit', { trace: trace.sink }));
    const error = await rejectionOf(client.login({ username: 'u', password: 'a\r\nDELE 1', method: 'user' }));
    expect(error.code).toBe('POP3_ERR_AUTH');
    expect(error.message).not.toContain('DELE');
    expect(trace.sent).toEqual(['CAPA']);
    client.close();
  });
});
