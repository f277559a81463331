/**
 * A body whose consumer is slow, on a connection that ends right after the
 * body: everything before the end was received, so the body must come out
 * whole and only then may the end count. A socket opened with `onread`
 * (borrowed-reads.ts) reports its end at once, even while paused, where 'data'
 * events would all have come first; the reader must hold the end back.
 */
import type { Duplex, Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { BridgeError } from '../../functions/core/errors.js';
import { BorrowedReads } from '../../functions/pop3/borrowed-reads.js';
import { type Reply, ReplyReader } from '../../functions/pop3/reply-reader.js';
import { FakeSocket, READER_LIMITS, readThrough } from '../fuzz/arbitraries.js';

const LIMITS = { ...READER_LIMITS, maxMessageBytes: 1024 * 1024 };

/** 300 KiB of CRLF lines, some starting with a dot (stuffed on the wire). */
function bodyLines(): { wire: Buffer; decoded: Buffer } {
  const lines: string[] = [];
  let length = 0;
  for (let i = 0; length < 300 * 1024; i += 1) {
    const line = `${i % 17 === 0 ? '.' : ''}line ${i} ${'x'.repeat(60)}\r\n`;
    lines.push(line);
    length += line.length;
  }
  const decoded = Buffer.from(lines.join(''), 'latin1');
  const wire = Buffer.from(`+OK\r\n${lines.map((l) => (l.startsWith('.') ? `.${l}` : l)).join('')}.\r\n`, 'latin1');
  return { wire, decoded };
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

interface Outcome {
  reply: Reply | undefined;
  failed: unknown;
  complete: boolean;
  readonly fatal: BridgeError[];
}

/**
 * A reader expecting one RETR body gets `wire` 4 KiB at a time, as Dovecot's TLS records come, with nobody
 * reading the body yet, then the end of the connection. It pauses after 64 KiB and the rest arrives anyway
 * (FakeSocket, like an onread socket, does not stop).
 */
function receiveThenEnd(delivery: 'data' | 'borrowed', wire: Buffer): Outcome {
  const outcome: Outcome = { reply: undefined, failed: undefined, complete: false, fatal: [] };
  const reader = new ReplyReader(LIMITS, (error) => outcome.fatal.push(error));
  const socket = new FakeSocket();
  const reads = delivery === 'borrowed' ? new BorrowedReads() : undefined;
  reader.attach(socket as unknown as Duplex, reads);
  reader.expect({
    verb: 'RETR',
    shape: 'body',
    allowContinuation: false,
    settle: (reply) => {
      outcome.reply = reply;
    },
    fail: (error) => {
      outcome.failed = error;
    },
    complete: () => {
      outcome.complete = true;
    },
  });
  for (let offset = 0; offset < wire.length; offset += 4096) {
    const chunk = wire.subarray(offset, offset + 4096);
    if (reads) readThrough(reads, chunk);
    else socket.emit('data', chunk);
  }
  socket.emit('end');
  return outcome;
}

describe.each(['data', 'borrowed'] as const)(
  'ReplyReader, connection ends while the consumer waits (%s)',
  (delivery) => {
    it('hands out the whole body first, then reports the closed connection', async () => {
      const { wire, decoded } = bodyLines();
      const outcome = receiveThenEnd(delivery, wire);
      expect(outcome.fatal).toEqual([]);
      expect(outcome.failed).toBeUndefined();
      expect(outcome.reply?.body).toBeDefined();
      const body = await readAll(outcome.reply!.body!);
      expect(body.equals(decoded)).toBe(true);
      expect(outcome.complete).toBe(true);
      // Only now does the end count: the connection is gone, with nothing pending.
      expect(outcome.fatal).toHaveLength(1);
      expect(outcome.fatal[0]).toBeInstanceOf(BridgeError);
      expect(outcome.fatal[0]!.code).toBe('POP3_ERR_CLOSED');
    });

    it('a body cut short by the end still fails, once the bytes before the end are read', async () => {
      const { wire } = bodyLines();
      const outcome = receiveThenEnd(delivery, wire.subarray(0, wire.length - 100));
      await expect(readAll(outcome.reply!.body!)).rejects.toMatchObject({ code: 'POP3_ERR_CLOSED' });
      expect(outcome.fatal.map((e) => e.code)).toEqual(['POP3_ERR_CLOSED']);
      expect(outcome.complete).toBe(false);
    });
  },
);
