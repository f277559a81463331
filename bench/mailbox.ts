/**
 * Deterministic benchmark mailboxes, written straight into a Dovecot maildir.
 *
 * Messages are generated on the fly (never the whole mailbox in memory) from
 * a seeded PRNG: the same N and seed give the same bytes on every run. Sizes
 * are log-uniform between 10 KiB and 400 KiB (mean ≈ 106 KiB): most messages
 * small, a long tail of large ones. Each has a text/plain part of text lines
 * (some starting with '.', so dot-stuffing is exercised) and, for most, a
 * base64 attachment. Every message is unique (its number is in its headers),
 * so a content-addressed store keeps all of them.
 *
 * Files go to `cur/` with `,S=<size>,W=<size>` in the name, as Dovecot's own
 * deliveries do (W is the CRLF size; our messages are CRLF already), written
 * with bounded concurrency.
 */
import { randomBytes } from 'node:crypto';
import { chown, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { DovecotInstance, MailboxCredentials } from '../test/support/dovecot.js';
import { prng } from '../test/support/prng.js';

const KiB = 1024;
const MIN_SIZE = 10 * KiB;
const MAX_SIZE = 400 * KiB;
/** Dovecot orders new maildir files by the time at the start of the name. */
const FIRST_TIMESTAMP = 1_700_000_000;
const WRITE_CONCURRENCY = 32;

const WORDS = (
  'the of and to in is that for it as was with be by on not he this are or his from at which but have an they ' +
  'you were her she there been one all we their has would when if so no will what can out more up other into ' +
  'invoice order shipment account payment delivery report meeting schedule attached please regards thanks ' +
  'mailbox server message bridge webhook retry durable quarterly budget review draft final'
).split(' ');

/**
 * Pools of CRLF-terminated lines, built once: message bodies are line-aligned
 * slices of them, so generating 500 MiB costs little more than copying it.
 */
interface Pools {
  readonly text: Buffer;
  readonly textLineStarts: number[];
  readonly base64: Buffer;
}

let pools: Pools | undefined;

function buildPools(): Pools {
  const next = prng(0x5eed);
  const lines: string[] = [];
  let length = 0;
  while (length < 2 * 1024 * KiB) {
    const target = 30 + (next() % 48);
    let line = next() % 40 === 0 ? '.' : '';
    while (line.length < target) line += `${WORDS[next() % WORDS.length]} `;
    line = `${line.trimEnd()}\r\n`;
    lines.push(line);
    length += line.length;
  }
  const textLineStarts: number[] = [];
  let offset = 0;
  for (const line of lines) {
    textLineStarts.push(offset);
    offset += line.length;
  }
  const raw = Buffer.allocUnsafe(3 * 1024 * KiB);
  for (let i = 0; i + 4 <= raw.length; i += 4) raw.writeUInt32LE(next(), i);
  const b64 = raw.toString('base64');
  const b64Lines: string[] = [];
  for (let i = 0; i + 76 <= b64.length; i += 76) b64Lines.push(`${b64.slice(i, i + 76)}\r\n`);
  return {
    text: Buffer.from(lines.join(''), 'latin1'),
    textLineStarts,
    base64: Buffer.from(b64Lines.join(''), 'latin1'),
  };
}

/** A line-aligned slice of about `bytes` from a pool, starting at a seeded line. */
function slice(pool: Buffer, bytes: number, startFraction: number, lineStarts?: number[]): Buffer {
  if (bytes <= 0) return Buffer.alloc(0);
  const parts: Buffer[] = [];
  let need = bytes;
  let start = lineStarts
    ? lineStarts[Math.floor(startFraction * lineStarts.length)]!
    : Math.floor((startFraction * pool.length) / 78) * 78;
  while (need > 0) {
    const end = Math.min(pool.length, start + need);
    // Cut at a line end so the slice is whole lines.
    let cut = pool.indexOf(0x0a, end - 1);
    cut = cut === -1 ? pool.length : cut + 1;
    parts.push(pool.subarray(start, cut));
    need -= cut - start;
    start = 0;
  }
  return Buffer.concat(parts);
}

/** The size message `i` of a mailbox will have (before rounding to whole lines). */
export function mixedSize(i: number, seed: number): number {
  const next = prng(seed * 1_000_003 + i);
  const u = next() / 2 ** 32;
  return Math.round(MIN_SIZE * (MAX_SIZE / MIN_SIZE) ** u);
}

/** Message `i` of the mixed mailbox with `seed`. */
export function mixedMessage(i: number, seed: number): Buffer {
  pools ??= buildPools();
  const next = prng(seed * 1_000_003 + i);
  const u = next() / 2 ** 32;
  const size = Math.round(MIN_SIZE * (MAX_SIZE / MIN_SIZE) ** u);
  const boundary = `bench-${seed}-${i}-${(next() % 1e6).toString(36)}`;
  const textOnly = next() % 5 === 0;
  const head = [
    `Return-Path: <sender${i % 97}@example.test>`,
    `From: Sender ${i % 97} <sender${i % 97}@example.test>`,
    'To: Bench Inbox <inbox@example.test>',
    `Subject: Benchmark message ${i} of mailbox ${seed}`,
    `Date: Tue, 14 Nov 2023 22:${String(Math.floor(i / 60) % 60).padStart(2, '0')}:${String(i % 60).padStart(2, '0')} +0000`,
    `Message-ID: <bench-${seed}-${i}@pop3-bridge.test>`,
    'MIME-Version: 1.0',
    ...(textOnly
      ? ['Content-Type: text/plain; charset=us-ascii', '']
      : [
          `Content-Type: multipart/mixed; boundary="${boundary}"`,
          '',
          `--${boundary}`,
          'Content-Type: text/plain; charset=us-ascii',
          '',
        ]),
  ].join('\r\n');
  const headBuf = Buffer.from(`${head}\r\n`, 'latin1');
  if (textOnly) {
    const text = slice(pools.text, size - headBuf.length, next() / 2 ** 32, pools.textLineStarts);
    return Buffer.concat([headBuf, text]);
  }
  const textBytes = Math.floor((size - headBuf.length) * (0.05 + (next() % 30) / 100));
  const text = slice(pools.text, textBytes, next() / 2 ** 32, pools.textLineStarts);
  const attachHead = Buffer.from(
    `--${boundary}\r\nContent-Type: application/octet-stream; name="part-${i}.bin"\r\n` +
      `Content-Disposition: attachment; filename="part-${i}.bin"\r\nContent-Transfer-Encoding: base64\r\n\r\n`,
    'latin1',
  );
  const tail = Buffer.from(`--${boundary}--\r\n`, 'latin1');
  const b64 = slice(
    pools.base64,
    size - headBuf.length - text.length - attachHead.length - tail.length,
    next() / 2 ** 32,
  );
  return Buffer.concat([headBuf, text, attachHead, b64, tail]);
}

/** A tiny message (a few hundred bytes), unique by `i`: for the 100,000-message mailbox. */
export function tinyMessage(i: number, seed: number): Buffer {
  return Buffer.from(
    [
      `From: Sender ${i % 97} <sender${i % 97}@example.test>`,
      'To: Bench Inbox <inbox@example.test>',
      `Subject: Tiny benchmark message ${i}`,
      'Date: Tue, 14 Nov 2023 22:13:20 +0000',
      `Message-ID: <tiny-${seed}-${i}@pop3-bridge.test>`,
      'MIME-Version: 1.0',
      'Content-Type: text/plain; charset=us-ascii',
      '',
      `Message number ${i}. Nothing new here.`,
      '',
    ].join('\r\n'),
    'latin1',
  );
}

export interface FilledMailbox extends MailboxCredentials {
  readonly count: number;
  readonly bytes: number;
}

/**
 * Creates a Dovecot user and writes `count` messages from `make(i)` (i = 0..count-1)
 * into its maildir, `concurrency` files at a time. Message numbers follow i.
 */
export async function fillMailbox(
  dovecot: DovecotInstance,
  count: number,
  make: (i: number) => Buffer,
  onProgress?: (done: number) => void,
): Promise<FilledMailbox> {
  const credentials = await dovecot.createMailbox([]);
  const cur = path.join(dovecot.facts.mailRoot, credentials.user, 'cur');
  const asRoot = process.getuid?.() === 0;
  const suffix = randomBytes(3).toString('hex');
  let nextIndex = 0;
  let bytes = 0;
  let done = 0;
  const worker = async () => {
    for (;;) {
      const i = nextIndex;
      if (i >= count) return;
      nextIndex += 1;
      const message = make(i);
      bytes += message.length;
      // <time>.M<usec>P<pid>.<host>,S=<size>,W=<size>:2, — Dovecot reads the sizes from the name.
      const name = `${FIRST_TIMESTAMP + i}.M${i}P${process.pid}.bench${suffix},S=${message.length},W=${message.length}:2,`;
      const file = path.join(cur, name);
      await writeFile(file, message, { mode: 0o644 });
      if (asRoot) await chown(file, dovecot.facts.mailUid, dovecot.facts.mailGid);
      done += 1;
      if (onProgress && done % 10_000 === 0) onProgress(done);
    }
  };
  await Promise.all(Array.from({ length: Math.min(WRITE_CONCURRENCY, count) }, worker));
  return { ...credentials, count, bytes };
}
