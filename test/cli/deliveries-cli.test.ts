/**
 * The delivery side of the command line, run as a real process against the
 * test Dovecot and two loopback receivers that verify every signature:
 * `deliveries` (pending, failed, dead), `replay` (a webhook-id, a message, a
 * mailbox since a time, every dead letter) and `events show` (by webhook-id
 * or message), with the same webhook-id on every replay and exit code 3 for
 * an id or message the store does not have.
 *
 * Endpoint `late` listens on 127.0.0.2, outside the first config's
 * allow-list: the SSRF guard refuses it, which dead-letters its jobs at once.
 * Allow-listing it afterwards (same URL, so the same endpoint and webhook-ids)
 * lets `replay --dead` deliver them.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeliveryJob } from '../../functions/core/ports.js';
import { dovecotFromInjected } from '../support/dovecot.js';
import { runCli } from '../support/run-cli.js';

const dovecot = dovecotFromInjected();
const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

interface Received {
  readonly webhookId: string;
  readonly event: { type: string; timestamp: string; data: { mailbox: string; uid: string; subject: string } };
}

/** A receiver that verifies every signature with `standardwebhooks` and answers 204 (400 if it does not verify). */
async function receiver(host: string): Promise<{ server: Server; url: string; got: Received[] }> {
  const got: Received[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8'); // characters split between chunks stay whole
    req.on('data', (d: string) => (body += d));
    req.on('end', () => {
      try {
        const event = new Webhook(SECRET).verify(body, req.headers as Record<string, string>) as Received['event'];
        got.push({ webhookId: String(req.headers['webhook-id']), event });
        res.writeHead(204).end();
      } catch {
        res.writeHead(400).end();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  return { server, url: `http://${host}:${(server.address() as AddressInfo).port}/hook`, got };
}

function mail(i: number): Buffer {
  return Buffer.from(
    `From: Sender ${i} <s${i}@example.test>\r\nSubject: Replay ${i}\r\nMessage-ID: <replay${i}@x>\r\n\r\nbody ${i}\r\n`,
  );
}

let dir: string;
let account: { user: string; password: string };
let good: Awaited<ReturnType<typeof receiver>>;
let late: Awaited<ReturnType<typeof receiver>>;

async function writeConfig(allow: string[]): Promise<void> {
  const config = {
    store: { dir: 'state' },
    webhookAllowList: allow,
    links: { listen: '127.0.0.1:0' },
    mailboxes: [
      {
        name: 'Inbox-1',
        host: dovecot.facts.host,
        port: dovecot.facts.tlsPort,
        tls: 'implicit',
        servername: dovecot.facts.servername,
        ca: path.join(dir, 'ca.pem'),
        username: account.user,
        // biome-ignore lint/suspicious/noTemplateCurlyInString: a literal ${VAR} for the config's env substitution
        password: '${TEST_POP3_PASSWORD}',
        webhooks: [
          { id: 'good', url: good.url, secret: SECRET, allowHttp: true },
          { id: 'late', url: late.url, secret: SECRET, allowHttp: true },
        ],
      },
    ],
  };
  await writeFile(path.join(dir, 'pop3-bridge.json'), JSON.stringify(config, null, 2));
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'pop3-bridge-deliveries-cli-'));
  good = await receiver('127.0.0.1');
  late = await receiver('127.0.0.2');
  account = await dovecot.createMailbox([mail(1), mail(2), mail(3)]);
  await writeFile(path.join(dir, 'ca.pem'), dovecot.facts.caPem);
  await writeConfig(['127.0.0.1']);
});

afterAll(async () => {
  for (const r of [good, late]) {
    if (!r) continue;
    r.server.closeAllConnections();
    await new Promise((resolve) => r.server.close(resolve));
  }
  await rm(dir, { recursive: true, force: true });
});

const env = () => ({ TEST_POP3_PASSWORD: account.password });
const run = (args: string[]) => runCli(dir, args, env());

async function listDeliveries(args: string[] = []): Promise<{ deliveries: DeliveryJob[]; truncated: boolean }> {
  const listed = await run(['deliveries', ...args, '--json']);
  expect(listed.code, listed.stderr).toBe(0);
  return JSON.parse(listed.stdout) as { deliveries: DeliveryJob[]; truncated: boolean };
}

/** How often each webhook-id reached a receiver. */
function idCounts(got: ReadonlyArray<Received>): Map<string, number> {
  const counts = new Map<string, number>();
  for (const r of got) counts.set(r.webhookId, (counts.get(r.webhookId) ?? 0) + 1);
  return counts;
}

// The tests run in order on one state directory: each starts where the previous one left it.
describe('pop3-bridge deliveries, replay, events show', () => {
  let delivered: DeliveryJob[] = [];
  let dead: DeliveryJob[] = [];

  it('deliveries lists what needs attention: pending after a poll, then failed-for-good as dead', async () => {
    const poll = await run(['poll', '--no-deliver', '--json']);
    expect(poll.code, poll.stderr).toBe(0);
    const pending = await listDeliveries();
    expect(pending.deliveries).toHaveLength(6);
    expect(pending.deliveries.every((j) => j.status === 'pending' && j.mailbox === 'Inbox-1')).toBe(true);
    // A mailbox name is matched as the config spells it, whatever the case on the command line.
    expect((await listDeliveries(['inbox-1'])).deliveries).toEqual(pending.deliveries);

    const deliver = await run(['deliver', '--json']);
    // The SSRF guard refuses 127.0.0.2 (not allow-listed): dead at once, so `deliver` exits 1.
    expect(deliver.code, deliver.stderr).toBe(1);
    expect(JSON.parse(deliver.stdout)).toMatchObject({ attempted: 6, delivered: 3, dead: 3 });
    expect(good.got).toHaveLength(3);
    expect(late.got).toHaveLength(0);

    // Default view: the three dead letters, not the delivered history.
    const attention = await listDeliveries();
    dead = attention.deliveries;
    expect(dead.map((j) => [j.endpointId, j.status])).toEqual([
      ['late', 'dead'],
      ['late', 'dead'],
      ['late', 'dead'],
    ]);
    expect(attention.truncated).toBe(false);
    delivered = (await listDeliveries(['--status', 'delivered'])).deliveries;
    expect(delivered.map((j) => j.endpointId)).toEqual(['good', 'good', 'good']);
    expect(new Set(delivered.map((j) => j.webhookId))).toEqual(new Set(good.got.map((r) => r.webhookId)));

    const cut = await listDeliveries(['--status', 'delivered', '--limit', '2']);
    expect(cut.deliveries).toEqual(delivered.slice(0, 2));
    expect(cut.truncated).toBe(true);
    const human = await run(['deliveries', '--status', 'delivered', '--limit', '2']);
    expect(human.stdout).toContain('--limit N shows more');
    expect(human.stdout).toContain(delivered[0]!.webhookId);
  });

  it('events show prints the delivered event, by webhook-id, by <mailbox> <uid> and by <mailbox>/<uid>', async () => {
    const job = delivered[1]!;
    const sent = good.got.find((r) => r.webhookId === job.webhookId)!;
    const byId = await run(['events', 'show', job.webhookId]);
    expect(byId.code, byId.stderr).toBe(0);
    const shown = JSON.parse(byId.stdout) as Received['event'];
    expect(shown).toMatchObject({ type: 'email.received', data: { mailbox: 'Inbox-1', uid: job.uid } });
    // The same event the receiver got: same time stamp and message (links are signed afresh).
    expect(shown.timestamp).toBe(sent.event.timestamp);
    expect(shown.data.subject).toBe(sent.event.data.subject);

    for (const args of [['Inbox-1', job.uid], [`Inbox-1/${job.uid}`], [`inbox-1/${job.uid}`]]) {
      const byMessage = await run(['events', 'show', ...args]);
      expect(byMessage.code, byMessage.stderr).toBe(0);
      expect(JSON.parse(byMessage.stdout)).toMatchObject({
        timestamp: sent.event.timestamp,
        data: { uid: job.uid, subject: sent.event.data.subject },
      });
    }
  });

  it('an unknown webhook-id or message exits 3 with a clear message; a bad command line exits 2', async () => {
    const unknownId = await run(['events', 'show', 'msg_doesnotexist']);
    expect(unknownId.code).toBe(3);
    expect(unknownId.stderr).toContain('no webhook-id msg_doesnotexist');
    expect(unknownId.stdout).toBe('');
    const unknownUid = await run(['events', 'show', 'Inbox-1/no-such-uid']);
    expect(unknownUid.code).toBe(3);
    expect(unknownUid.stderr).toContain('no message no-such-uid in mailbox Inbox-1');
    const replayUnknown = await run(['replay', 'msg_doesnotexist']);
    expect(replayUnknown.code).toBe(3);
    expect(replayUnknown.stderr).toContain('no webhook-id msg_doesnotexist');
    expect((await run(['replay', 'Inbox-1', 'no-such-uid'])).code).toBe(3);

    // A mailbox alone would replay everything it ever sent: refused, with what to add.
    const bare = await run(['replay', 'Inbox-1']);
    expect(bare.code).toBe(2);
    expect(bare.stderr).toContain('needs a uid, --since T or --dead');
    expect((await run(['events', 'show'])).code).toBe(2);
    expect((await run(['events', 'show', 'a', 'b', 'c'])).code).toBe(2);
    expect((await run(['replay'])).code).toBe(2);
    expect((await run(['replay', 'Inbox-1', '--since', 'not-a-time'])).code).toBe(2);
    expect((await run(['replay', 'nosuch', '--since', '2020-01-01T00:00:00Z'])).code).toBe(2);
    expect((await run(['deliveries', 'nosuch'])).code).toBe(2);
    expect((await run(['deliveries', '--limit', '0'])).code).toBe(2);
    // Nothing was sent by any of these.
    expect(good.got).toHaveLength(3);
    expect(late.got).toHaveLength(0);
  });

  it('replay <webhook-id> sends that delivery again under the same webhook-id, and only it', async () => {
    const job = delivered[0]!;
    const replay = await run(['replay', job.webhookId, '--json']);
    expect(replay.code, replay.stderr).toBe(0);
    expect(JSON.parse(replay.stdout)).toEqual({
      replayed: 1,
      delivered: 1,
      retrying: 0,
      dead: 0,
      disabled: 0,
      webhookIds: [job.webhookId],
    });
    expect(good.got).toHaveLength(4);
    expect(good.got[3]!.webhookId).toBe(job.webhookId);
    expect(good.got[3]!.event.data.uid).toBe(job.uid);
    expect(idCounts(good.got).get(job.webhookId)).toBe(2);
    expect(late.got).toHaveLength(0);
  });

  it('replay --dead delivers every dead letter, once the endpoint is reachable, under its original webhook-id', async () => {
    await writeConfig(['127.0.0.1', '127.0.0.2']);
    const replay = await run(['replay', '--dead', '--json']);
    expect(replay.code, replay.stderr).toBe(0);
    expect(JSON.parse(replay.stdout)).toMatchObject({ replayed: 3, delivered: 3, dead: 0 });
    expect(late.got.map((r) => r.webhookId).sort()).toEqual(dead.map((j) => j.webhookId).sort());
    expect(good.got).toHaveLength(4);
    expect((await listDeliveries()).deliveries).toEqual([]);
    // Nothing dead is left to replay.
    expect(JSON.parse((await run(['replay', '--dead', '--json'])).stdout)).toMatchObject({ replayed: 0 });
  });

  it('replay of a message (<mailbox> <uid> or <mailbox>/<uid>) sends it to every endpoint under the same ids', async () => {
    const uid = delivered[2]!.uid;
    const before = { good: good.got.length, late: late.got.length };
    const replay = await run(['replay', `Inbox-1/${uid}`, '--json']);
    expect(replay.code, replay.stderr).toBe(0);
    expect(JSON.parse(replay.stdout)).toMatchObject({ replayed: 2, delivered: 2 });
    const goodAgain = good.got.slice(before.good);
    const lateAgain = late.got.slice(before.late);
    expect(goodAgain.map((r) => r.webhookId)).toEqual([delivered[2]!.webhookId]);
    expect(lateAgain.map((r) => r.webhookId)).toEqual([dead.find((j) => j.uid === uid)!.webhookId]);
    expect([...goodAgain, ...lateAgain].every((r) => r.event.data.uid === uid)).toBe(true);
  });

  it('replay <mailbox> --since T sends the deliveries created since T; a later T selects none', async () => {
    const future = await run([
      'replay',
      'Inbox-1',
      '--since',
      new Date(Date.now() + 3_600_000).toISOString(),
      '--json',
    ]);
    expect(future.code, future.stderr).toBe(0);
    expect(JSON.parse(future.stdout)).toMatchObject({ replayed: 0 });

    const before = { good: good.got.length, late: late.got.length };
    const past = await run(['replay', 'Inbox-1', '--since', '2020-01-01T00:00:00Z', '--json']);
    expect(past.code, past.stderr).toBe(0);
    expect(JSON.parse(past.stdout)).toMatchObject({ replayed: 6, delivered: 6 });
    // Every (message, endpoint) pair again, each under the id it was first sent with.
    expect(
      good.got
        .slice(before.good)
        .map((r) => r.webhookId)
        .sort(),
    ).toEqual(delivered.map((j) => j.webhookId).sort());
    expect(
      late.got
        .slice(before.late)
        .map((r) => r.webhookId)
        .sort(),
    ).toEqual(dead.map((j) => j.webhookId).sort());
    // Across every delivery and replay in this file: 6 (message, endpoint) pairs, 6 distinct webhook-ids.
    expect(new Set([...good.got, ...late.got].map((r) => r.webhookId)).size).toBe(6);
  });
});
