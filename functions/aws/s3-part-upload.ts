/**
 * Streams bytes of unknown length to one S3 key through ONE part buffer that
 * is filled, uploaded and filled again, instead of lib-storage's `Upload`.
 *
 * Why not lib-storage: it gathers each part from the stream's chunks and
 * `Buffer.concat`s them, a new part-sized buffer per part. Those buffers live
 * as long as the part's upload, long enough to be promoted out of V8's young
 * generation, and then wait for a full collection, which V8 starts only after
 * about 64 MiB more of such memory: storing a 90 MiB attachment in the deliver
 * function on Node 24 peaked at 162–180 MiB (`bench/rss-aws-handlers.ts`).
 * Here the part buffer is allocated once per upload and every byte is copied
 * into it once (lib-storage's concat copies once too).
 *
 * The requests are lib-storage's: one PutObject when everything fits the first
 * part; otherwise CreateMultipartUpload (with the CRC32 checksum algorithm when
 * the client computes request checksums, the SDK's default; the bridge's own
 * clients compute them only where S3 requires them, see clients.ts), UploadPart
 * one at a time (the stream is not read while a part uploads: that is the
 * backpressure), CompleteMultipartUpload with each part's ETag and checksum,
 * and AbortMultipartUpload when anything fails.
 */
import {
  AbortMultipartUploadCommand,
  ChecksumAlgorithm,
  type CompletedPart,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  type S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';

export interface PartUploadTarget {
  readonly s3: S3Client;
  readonly bucket: string;
  readonly key: string;
  readonly contentType: string;
  /** Bytes per part (S3: at least 5 MiB, except the last); the one buffer this upload holds. */
  readonly partSize: number;
  /** Called with the bytes S3 has acknowledged so far, after each part. */
  readonly onProgress?: (uploadedBytes: number) => void;
}

/** S3's limit on parts per multipart upload. */
const MAX_PARTS = 10_000;

export async function uploadInParts(input: AsyncIterable<Buffer>, target: PartUploadTarget): Promise<void> {
  const { s3, bucket, key, contentType, partSize, onProgress } = target;
  const part = Buffer.allocUnsafe(partSize);
  let filled = 0;
  let uploaded = 0;
  let uploadId: string | undefined;
  const parts: CompletedPart[] = [];

  const uploadPart = async (): Promise<void> => {
    if (uploadId === undefined) {
      const checksums = await s3.config.requestChecksumCalculation();
      const created = await s3.send(
        new CreateMultipartUploadCommand({
          Bucket: bucket,
          Key: key,
          ContentType: contentType,
          ...(checksums === 'WHEN_SUPPORTED' && { ChecksumAlgorithm: ChecksumAlgorithm.CRC32 }),
        }),
      );
      if (created.UploadId === undefined) throw new Error('CreateMultipartUpload returned no UploadId');
      uploadId = created.UploadId;
    }
    if (parts.length >= MAX_PARTS) throw new Error(`more than ${MAX_PARTS} parts of ${partSize} bytes`);
    const partNumber = parts.length + 1;
    const result = await s3.send(
      new UploadPartCommand({
        Bucket: bucket,
        Key: key,
        UploadId: uploadId,
        PartNumber: partNumber,
        Body: part.subarray(0, filled),
      }),
    );
    if (!result.ETag) throw new Error(`part ${partNumber} came back without an ETag`);
    parts.push({
      PartNumber: partNumber,
      ETag: result.ETag,
      ...(result.ChecksumCRC32 && { ChecksumCRC32: result.ChecksumCRC32 }),
      ...(result.ChecksumCRC32C && { ChecksumCRC32C: result.ChecksumCRC32C }),
      ...(result.ChecksumSHA1 && { ChecksumSHA1: result.ChecksumSHA1 }),
      ...(result.ChecksumSHA256 && { ChecksumSHA256: result.ChecksumSHA256 }),
    });
    uploaded += filled;
    filled = 0;
    onProgress?.(uploaded);
  };

  try {
    for await (const chunk of input) {
      let offset = 0;
      while (offset < chunk.length) {
        // A full part goes out only once more bytes come, so a stream that fits one part is one PutObject.
        if (filled === partSize) await uploadPart();
        const copied = chunk.copy(part, filled, offset);
        filled += copied;
        offset += copied;
      }
    }
    if (uploadId === undefined) {
      await s3.send(
        new PutObjectCommand({ Bucket: bucket, Key: key, Body: part.subarray(0, filled), ContentType: contentType }),
      );
      onProgress?.(filled);
      return;
    }
    await uploadPart();
    await s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: bucket,
        Key: key,
        UploadId: uploadId,
        MultipartUpload: { Parts: parts },
      }),
    );
  } catch (error) {
    if (uploadId !== undefined) {
      await s3.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId })).catch(() => {});
    }
    throw error;
  }
}
