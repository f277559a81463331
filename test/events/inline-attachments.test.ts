/**
 * Local mode's inline attachments (`links.inlineMaxBytes`): real multipart
 * messages with base64 attachments, stored in a real FolderRawStore, built
 * into events. Small attachments carry their exact decoded bytes as base64
 * beside their link; large ones, and ones the body cap has no room for, keep
 * only the link; the body stays under the cap and valid against the schema.
 */
import { createHash } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildEvent, buildEventBody } from '../../functions/events/build-event.js';
import { bodyBytes } from '../../functions/events/fit-event.js';
import { MIN_BODY_BYTES } from '../../functions/events/limits.js';
import type { EmailReceivedEvent } from '../../functions/events/schema.js';
import { crlf, type EventHarness, eventHarness, eventValidators, schemaErrors } from './support.js';

const { published, strict } = eventValidators();

function expectValid(event: EmailReceivedEvent): void {
  expect(published(event), schemaErrors(published)).toBe(true);
  expect(strict(event), schemaErrors(strict)).toBe(true);
}

/** Deterministic bytes: SHA-256 in counter mode over a name. */
function bytesOf(name: string, size: number): Buffer {
  const out = Buffer.alloc(size);
  for (let i = 0, block = 0; i < size; block += 1) {
    i += createHash('sha256').update(`${name}:${block}`).digest().copy(out, i);
  }
  return out;
}

/** multipart/mixed: a text part of `textChars`, then one base64 attachment per entry. */
function messageWith(attachments: ReadonlyArray<{ name: string; size: number }>, textChars = 100): Buffer {
  const b = 'inline-test-boundary';
  const lines = [
    'From: Sender <sender@example.test>',
    'To: Inbox <inbox@example.test>',
    'Subject: attachments to inline',
    'Message-ID: <inline@example.test>',
    'MIME-Version: 1.0',
    `Content-Type: multipart/mixed; boundary="${b}"`,
    '',
    `--${b}`,
    'Content-Type: text/plain; charset=us-ascii',
    '',
    ...('x'.repeat(textChars).match(/.{1,76}/g) ?? []),
  ];
  for (const { name, size } of attachments) {
    lines.push(
      `--${b}`,
      `Content-Type: application/octet-stream; name="${name}"`,
      `Content-Disposition: attachment; filename="${name}"`,
      'Content-Transfer-Encoding: base64',
      '',
      ...(bytesOf(name, size)
        .toString('base64')
        .match(/.{1,76}/g) ?? []),
    );
  }
  lines.push(`--${b}--`);
  return crlf(lines);
}

let h: EventHarness;
beforeEach(async () => {
  h = await eventHarness();
});
afterEach(async () => {
  await h.cleanup();
});

describe('inline attachments', () => {
  const parts = [
    { name: 'small.bin', size: 3000 },
    { name: 'exact.bin', size: 8192 },
    { name: 'large.bin', size: 8193 },
    { name: 'empty.bin', size: 0 },
  ];

  it('are off by default: no attachment has content', async () => {
    const event = await buildEvent(await h.storeRaw(messageWith(parts)), h.deps);
    expect(event.data.attachments).toHaveLength(4);
    for (const a of event.data.attachments) expect(a).not.toHaveProperty('content');
    expectValid(event);
  });

  it('inline the decoded bytes of attachments up to inlineMaxBytes, and keep every link', async () => {
    const built = await buildEventBody(await h.storeRaw(messageWith(parts)), { ...h.deps, inlineMaxBytes: 8192 });
    const byName = new Map(built.event.data.attachments.map((a) => [a.filename, a]));
    for (const { name, size } of parts) {
      const a = byName.get(name)!;
      expect(a.size, name).toBe(size);
      expect(a.url, name).not.toBeNull();
      if (size <= 8192) {
        expect(a.content, name).toBe(bytesOf(name, size).toString('base64'));
      } else {
        expect(a, name).not.toHaveProperty('content');
      }
    }
    expectValid(built.event);
    // The body handed to the delivery engine is the event, serialised once, and measured right.
    expect(built.body).toBe(JSON.stringify(built.event));
    expect(built.bytes).toBe(Buffer.byteLength(built.body));
  });

  it('leave an attachment out when inlining it would pass the body cap, and still inline a smaller one after it', async () => {
    const maxBodyBytes = MIN_BODY_BYTES;
    // ~9 KB of text (twice: text and replyText) leaves room for the 4 KB attachment's base64 but not for the 12 KB one's.
    const raw = messageWith(
      [
        { name: 'too-big-for-room.bin', size: 12_000 },
        { name: 'fits.bin', size: 4000 },
      ],
      9000,
    );
    const built = await buildEventBody(await h.storeRaw(raw), {
      ...h.deps,
      limits: { maxBodyBytes },
      inlineMaxBytes: 64 * 1024,
    });
    const [big, small] = built.event.data.attachments;
    expect(big).not.toHaveProperty('content');
    expect(big!.url).not.toBeNull();
    expect(small!.content).toBe(bytesOf('fits.bin', 4000).toString('base64'));
    expect(built.event.data.text).not.toBeNull(); // inlining never pushes the text out to a link
    expect(built.bytes).toBeLessThanOrEqual(maxBodyBytes);
    expect(bodyBytes(built.event)).toBe(built.bytes);
    expectValid(built.event);
  });

  it('fill the body up to the cap exactly when the numbers allow it', async () => {
    // Without inlining, measure the event; then allow exactly enough room for the attachment's base64.
    const input = await h.storeRaw(messageWith([{ name: 'a.bin', size: 3001 }], 20_000));
    const plain = await buildEventBody(input, h.deps);
    const needed = plain.bytes + ',"content":""'.length + 4 * Math.ceil(3001 / 3);
    const exact = await buildEventBody(input, { ...h.deps, limits: { maxBodyBytes: needed }, inlineMaxBytes: 4096 });
    expect(exact.event.data.attachments[0]!.content).toBeDefined();
    expect(exact.bytes).toBe(needed);
    const short = await buildEventBody(input, {
      ...h.deps,
      limits: { maxBodyBytes: needed - 1 },
      inlineMaxBytes: 4096,
    });
    expect(short.event.data.attachments[0]).not.toHaveProperty('content');
    expect(short.bytes).toBeLessThanOrEqual(needed - 1);
  });

  it('do not inline an attachment whose stored object no longer matches its SHA-256', async () => {
    const input = await h.storeRaw(messageWith([{ name: 'a.bin', size: 2000 }]));
    // First build stores the attachment; then corrupt the stored object in place.
    const first = await buildEventBody(input, { ...h.deps, inlineMaxBytes: 4096 });
    const key = new URL(first.event.data.attachments[0]!.url!).pathname.slice(1);
    const { writeFile } = await import('node:fs/promises');
    await writeFile(h.store.pathOf(key), bytesOf('other', 2000));
    const second = await buildEventBody(input, { ...h.deps, inlineMaxBytes: 4096 });
    expect(second.event.data.attachments[0]).not.toHaveProperty('content');
    expect(second.event.data.attachments[0]!.url).not.toBeNull();
  });
});
