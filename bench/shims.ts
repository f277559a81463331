/**
 * Work-arounds for known bugs in the code under test, applied in memory only
 * when a self-test shows the bug is still there, and announced loudly. The
 * benchmarks then measure the code as it would run with the one-line fix;
 * nothing outside bench/ is changed. Remove a shim once its bug is fixed
 * (the self-test makes it a no-op then anyway).
 *
 * 1. ReplyReader.feedList calls takeLine after the buffer was used up: when a
 *    TCP/TLS chunk ends exactly at a line end inside a UIDL or LIST reply
 *    (Dovecot flushes its output at line ends, so any listing longer than its
 *    output buffer does), `this.buffer!` is undefined and the reply fails with
 *    POP3_ERR_PROTOCOL "could not parse the reply" (TypeError in takeLine).
 *    Fix: `if (this.buffer === undefined) return false;` at the top of the
 *    loop in feedList (or takeLine returning undefined on an empty buffer).
 */
import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import { resolveLimits } from '../functions/pop3/limits.js';
import { ReplyReader } from '../functions/pop3/reply-reader.js';

interface TakeLine {
  takeLine(this: { buffer: Buffer | undefined }, max: number, what: string): Buffer | undefined;
}

/** Feeds a UIDL reply split right after a line end; true if the reader fails on it. */
function listSplitAtLineEndFails(): boolean {
  const socket = new EventEmitter() as EventEmitter & { pause(): void; resume(): void };
  socket.pause = () => {};
  socket.resume = () => {};
  const reader = new ReplyReader(resolveLimits(undefined), () => {});
  reader.attach(socket as unknown as Duplex);
  let failed = false;
  let lines: string[] | undefined;
  reader.expect({
    verb: 'UIDL',
    shape: 'list',
    allowContinuation: false,
    settle: (reply) => {
      lines = reply.lines;
    },
    fail: () => {
      failed = true;
    },
    complete: () => {},
  });
  socket.emit('data', Buffer.from('+OK\r\n1 a\r\n'));
  socket.emit('data', Buffer.from('2 b\r\n.\r\n'));
  return failed || lines?.length !== 2;
}

let applied: string[] | undefined;

/** Applies the shims still needed; returns their names (also printed). */
export function applyShims(): string[] {
  if (applied) return applied;
  applied = [];
  if (listSplitAtLineEndFails()) {
    const proto = ReplyReader.prototype as unknown as TakeLine;
    const original = proto.takeLine;
    proto.takeLine = function (max, what) {
      if (this.buffer === undefined) return undefined;
      return original.call(this, max, what);
    };
    if (listSplitAtLineEndFails()) throw new Error('bench shim for ReplyReader.feedList did not take');
    applied.push('ReplyReader.feedList: list reply split at a line end (POP3_ERR_PROTOCOL)');
  }
  for (const name of applied) console.warn(`!! bench shim applied (bug in code under test): ${name}`);
  return applied;
}
