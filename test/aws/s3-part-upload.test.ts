/**
 * uploadInParts against a recording S3 client: which requests go out for which input lengths, that every
 * part is sent from the same buffer (the reason the module exists), checksums as lib-storage sends them,
 * and the abort on failure. The same uploader runs against moto in s3-raw-store.test.ts (multipart round
 * trips, read-ahead, a failing input) and in the AWS soak.
 */
import { randomBytes } from 'node:crypto';
import type { S3Client } from '@aws-sdk/client-s3';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { uploadInParts } from '../../functions/aws/s3-part-upload.js';

interface Sent {
  readonly name: string;
  readonly input: Record<string, unknown>;
  /** A copy of the body as it was when sent, and the ArrayBuffer it was a view of. */
  readonly body?: Buffer;
  readonly bodyBuffer?: ArrayBufferLike;
}

/** A client that answers like S3 and records each command; every command named `fail` throws. */
function recordingClient(options: { checksums?: 'WHEN_SUPPORTED' | 'WHEN_REQUIRED'; fail?: string } = {}) {
  const sent: Sent[] = [];
  const client = {
    config: { requestChecksumCalculation: async () => options.checksums ?? 'WHEN_SUPPORTED' },
    async send(command: { constructor: { name: string }; input: Record<string, unknown> }) {
      const name = command.constructor.name.replace(/Command$/, '');
      const body = command.input.Body as Buffer | undefined;
      sent.push({
        name,
        input: command.input,
        ...(body && { body: Buffer.from(body), bodyBuffer: body.buffer }),
      });
      if (name === options.fail)
        throw Object.assign(new Error(`${name} failed`), { $metadata: { httpStatusCode: 500 } });
      if (name === 'CreateMultipartUpload') return { UploadId: 'upload-1' };
      if (name === 'UploadPart') {
        const n = command.input.PartNumber as number;
        return { ETag: `"etag-${n}"`, ChecksumCRC32: `crc-${n}` };
      }
      return {};
    },
  };
  return { client: client as unknown as S3Client, sent };
}

async function* chunksOf(bytes: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let offset = 0; offset < bytes.length; offset += size) yield bytes.subarray(offset, offset + size);
}

const PART = 64 * 1024;
const target = (client: S3Client) => ({
  s3: client,
  bucket: 'b',
  key: 'tmp/x',
  contentType: 'message/rfc822',
  partSize: PART,
});

describe('uploadInParts', () => {
  it('up to one part is one PutObject, the empty input included', async () => {
    for (const length of [0, 1, PART]) {
      const { client, sent } = recordingClient();
      const bytes = randomBytes(length);
      await uploadInParts(chunksOf(bytes, 1000), target(client));
      expect(sent.map((s) => s.name)).toEqual(['PutObject']);
      expect(sent[0]!.body!.equals(bytes)).toBe(true);
      expect(sent[0]!.input).toMatchObject({ Bucket: 'b', Key: 'tmp/x', ContentType: 'message/rfc822' });
    }
  });

  it('past one part: a multipart upload whose parts all come from one buffer, completed with ETags and checksums', async () => {
    const bytes = randomBytes(3 * PART + 123);
    const { client, sent } = recordingClient();
    const progress: number[] = [];
    await uploadInParts(chunksOf(bytes, 10_000), { ...target(client), onProgress: (n) => progress.push(n) });
    expect(sent.map((s) => s.name)).toEqual([
      'CreateMultipartUpload',
      'UploadPart',
      'UploadPart',
      'UploadPart',
      'UploadPart',
      'CompleteMultipartUpload',
    ]);
    // As lib-storage asks for it when the client computes request checksums (the SDK's default).
    expect(sent[0]!.input).toMatchObject({ Key: 'tmp/x', ContentType: 'message/rfc822', ChecksumAlgorithm: 'CRC32' });
    const parts = sent.filter((s) => s.name === 'UploadPart');
    expect(parts.map((p) => p.input.PartNumber)).toEqual([1, 2, 3, 4]);
    expect(parts.map((p) => p.body!.length)).toEqual([PART, PART, PART, 123]);
    expect(Buffer.concat(parts.map((p) => p.body!)).equals(bytes)).toBe(true);
    // One buffer, filled and sent in turn: no part-sized allocation per part.
    expect(new Set(parts.map((p) => p.bodyBuffer)).size).toBe(1);
    expect(sent.at(-1)!.input).toMatchObject({
      UploadId: 'upload-1',
      MultipartUpload: {
        Parts: [1, 2, 3, 4].map((n) => ({ PartNumber: n, ETag: `"etag-${n}"`, ChecksumCRC32: `crc-${n}` })),
      },
    });
    expect(progress).toEqual([PART, 2 * PART, 3 * PART, 3 * PART + 123]);
  });

  it('without request checksums, the upload is created without an algorithm', async () => {
    const { client, sent } = recordingClient({ checksums: 'WHEN_REQUIRED' });
    await uploadInParts(chunksOf(randomBytes(PART + 1), PART), target(client));
    expect(sent[0]!.name).toBe('CreateMultipartUpload');
    expect(sent[0]!.input).not.toHaveProperty('ChecksumAlgorithm');
  });

  it('the bytes arrive whole for any input length and chunking (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 4 * PART }),
        fc.integer({ min: 1, max: PART + 7 }),
        async (length, chunk) => {
          const bytes = randomBytes(length);
          const { client, sent } = recordingClient();
          await uploadInParts(chunksOf(bytes, chunk), target(client));
          const bodies = sent.filter((s) => s.name === 'UploadPart' || s.name === 'PutObject').map((s) => s.body!);
          expect(Buffer.concat(bodies).equals(bytes)).toBe(true);
          // Every part but the last is exactly one part long (S3 refuses smaller ones), and a single PutObject is
          // used exactly when the input fits one part.
          expect(bodies.slice(0, -1).every((b) => b.length === PART)).toBe(true);
          expect(sent[0]!.name).toBe(length <= PART ? 'PutObject' : 'CreateMultipartUpload');
        },
      ),
      { numRuns: 60 },
    );
  });

  it('a failing part aborts the multipart upload and the error comes out as it was', async () => {
    const { client, sent } = recordingClient({ fail: 'UploadPart' });
    const error = await uploadInParts(chunksOf(randomBytes(2 * PART + 1), 4096), target(client)).catch(
      (e: unknown) => e,
    );
    expect((error as Error).message).toBe('UploadPart failed');
    expect(sent.map((s) => s.name)).toEqual(['CreateMultipartUpload', 'UploadPart', 'AbortMultipartUpload']);
    expect(sent.at(-1)!.input).toMatchObject({ Bucket: 'b', Key: 'tmp/x', UploadId: 'upload-1' });
  });

  it('a failing input aborts the multipart upload and its error comes out as it was', async () => {
    const { client, sent } = recordingClient();
    const reset = new Error('connection reset');
    async function* failing(): AsyncGenerator<Buffer> {
      yield randomBytes(PART);
      yield randomBytes(PART);
      throw reset;
    }
    await expect(uploadInParts(failing(), target(client))).rejects.toBe(reset);
    expect(sent.map((s) => s.name)).toEqual(['CreateMultipartUpload', 'UploadPart', 'AbortMultipartUpload']);
  });
});
