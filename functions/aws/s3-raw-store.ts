/**
 * AWS `RawStore`: content-addressed objects in one S3 bucket, the same key
 * layout as the local folder store, so a key means the same thing in both modes.
 *
 *   raw/<sha[0..2]>/<sha>.eml     raw messages
 *   att/<sha[0..2]>/<sha>.bin     attachments
 *   tmp/<uuid>                    uploads in progress (a bucket lifecycle rule
 *                                 should expire them and abort incomplete
 *                                 multipart uploads after a day)
 *
 * A put of at most DIRECT_PUT_MAX_BYTES (most messages and attachments) is
 * read into memory and hashed first, then written straight to its content
 * key with one conditional PutObject (`If-None-Match: *`: S3 answers 412 when
 * the key exists, which for a content key means the same bytes are stored).
 * One request instead of four (temp upload, HeadObject, CopyObject,
 * DeleteObject), so half the billed write requests and three fewer round
 * trips per stored object.
 *
 * A larger put hashes the input on its way into a multipart upload to a temp
 * key (s3-part-upload.ts: one part buffer of 8 MiB, filled and uploaded in
 * turn), then — the key is only known once the last byte is hashed — copies it
 * server-side to its content key unless that exists already, and deletes the
 * temp object. A reader never sees a partial object under a content key: S3
 * makes an object visible only when its upload or copy completes. If the input
 * fails, the multipart upload is aborted and nothing is left behind.
 *
 * IAM: the exists check (HeadObject) and `has()` need s3:ListBucket as well
 * as s3:GetObject, or S3 answers 403 instead of 404 for a missing key.
 */
import { createHash, randomUUID } from 'node:crypto';
import { pipeline, type Readable, Transform, type TransformCallback } from 'node:stream';
import {
  CopyObjectCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { BridgeError, isBridgeError } from '../core/errors.js';
import type { ObjectKind, RawStore, StoredObject } from '../core/ports.js';
import type { LinkMeta, LinkSigner } from '../events/link-signer.js';
import { isValidKey, keyFor } from '../local/folder-raw-store.js';
import { DEFAULT_LINK_TTL_SECONDS, MAX_LINK_TTL_SECONDS } from './link-ttl.js';
import { uploadInParts } from './s3-part-upload.js';

/** Prefix of uploads in progress: the CDK stack expires it with a lifecycle rule. */
export const TEMP_PREFIX = 'tmp/';
/**
 * Objects up to this size are stored with one conditional PutObject to their content key, read into memory
 * first (the key is their hash). No memory the streaming path does not use: it also holds a whole part
 * (up to partSize) before its first request, so a small object is in memory whole either way.
 */
export const DIRECT_PUT_MAX_BYTES = 1024 * 1024;
/** Multipart part size: S3's minimum is 5 MiB; one part buffer per put in progress. */
export const DEFAULT_PART_SIZE = 8 * 1024 * 1024;
const MIN_PART_SIZE = 5 * 1024 * 1024;

const CONTENT_TYPES = { raw: 'message/rfc822', attachment: 'application/octet-stream' } as const satisfies Record<
  ObjectKind,
  string
>;

export interface S3RawStoreOptions {
  readonly bucket: string;
  /** Bytes per multipart part (default 8 MiB, at least 5 MiB). */
  readonly partSize?: number;
  /** Called with upload progress (bytes acknowledged by S3): tests use it to measure read-ahead. */
  readonly onProgress?: (uploadedBytes: number) => void;
  /** Largest object stored with one PutObject (default DIRECT_PUT_MAX_BYTES; 0: every put streams). */
  readonly directPutMaxBytes?: number;
}

export interface PresignOptions extends LinkMeta {
  /** Seconds the link is valid (default 24 h, at most 7 days). */
  readonly expiresIn?: number;
}

/** Passes bytes through and fails, instead of ending quietly, if fewer or more than `expected` arrive. */
class ExactLength extends Transform {
  readonly #expected: number;
  readonly #key: string;
  #seen = 0;

  constructor(expected: number, key: string) {
    super();
    this.#expected = expected;
    this.#key = key;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#seen += chunk.length;
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    if (this.#seen === this.#expected) callback();
    else {
      callback(
        new BridgeError('STORE_ERR_IO', 'stored object read back with a different length than S3 announced', {
          context: { key: this.#key, expected: this.#expected, received: this.#seen },
        }),
      );
    }
  }
}

function statusOf(err: unknown): number | undefined {
  return (err as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata?.httpStatusCode;
}

function isNotFound(err: unknown): boolean {
  const name = (err as { name?: string } | undefined)?.name;
  return name === 'NoSuchKey' || name === 'NotFound' || statusOf(err) === 404;
}

/** A chunk of a byte stream as a Buffer (a stream with an encoding set yields strings). */
function asBuffer(chunk: unknown): Buffer {
  return Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string);
}

/** The chunks read already, then the rest of the input. */
async function* heldThenRest(held: Buffer[], rest: AsyncIterator<unknown>): AsyncGenerator<Buffer> {
  yield* held.splice(0);
  for (;;) {
    const next = await rest.next();
    if (next.done) return;
    yield asBuffer(next.value);
  }
}

/** RFC 6266 / RFC 8187: an ASCII fallback name and the exact UTF-8 one. */
export function contentDisposition(filename: string): string {
  const ascii = filename.replace(/[^\x20-\x7e]|["\\%]/g, '_');
  const exact = encodeURIComponent(filename).replace(
    /['()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
  return `attachment; filename="${ascii}"; filename*=UTF-8''${exact}`;
}

/** A media type S3 may echo back as a header (no CR/LF or other controls), else undefined. */
function safeContentType(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  return /^[\w!#$&^.+-]+\/[\w!#$&^.+-]+(\s*;[\x20-\x7e]*)?$/.test(value) ? value : undefined;
}

export class S3RawStore implements RawStore {
  readonly bucket: string;
  readonly #s3: S3Client;
  readonly #partSize: number;
  readonly #onProgress: ((uploadedBytes: number) => void) | undefined;
  readonly #directPutMaxBytes: number;

  constructor(s3: S3Client, options: S3RawStoreOptions) {
    const partSize = options.partSize ?? DEFAULT_PART_SIZE;
    if (!Number.isSafeInteger(partSize) || partSize < MIN_PART_SIZE) {
      throw new BridgeError('CONFIG_ERR_INVALID', 'S3 part size must be an integer of at least 5 MiB', {
        context: { partSize },
      });
    }
    this.#s3 = s3;
    this.bucket = options.bucket;
    this.#partSize = partSize;
    this.#onProgress = options.onProgress;
    this.#directPutMaxBytes = options.directPutMaxBytes ?? DIRECT_PUT_MAX_BYTES;
  }

  async put(input: Readable, kind: ObjectKind): Promise<StoredObject> {
    // Read up to the direct-put limit; `destroyOnReturn: false` keeps the input open for the streaming path.
    const iterator = input.iterator({ destroyOnReturn: false });
    const held: Buffer[] = [];
    let heldBytes = 0;
    let ended = false;
    try {
      while (heldBytes <= this.#directPutMaxBytes) {
        const next = await iterator.next();
        if (next.done) {
          ended = true;
          break;
        }
        const chunk = asBuffer(next.value);
        held.push(chunk);
        heldBytes += chunk.length;
      }
      if (ended) return await this.#putDirect(held, heldBytes, kind);
      return await this.#putStreaming(heldThenRest(held, iterator), kind);
    } catch (err) {
      if (isBridgeError(err)) throw err;
      throw new BridgeError('STORE_ERR_IO', `could not store a ${kind} object`, { cause: err, context: { kind } });
    } finally {
      if (!input.destroyed && !input.readableEnded) input.destroy();
    }
  }

  /** One conditional PutObject to the content key; 412 (the key exists) means the same bytes are stored. */
  async #putDirect(chunks: Buffer[], size: number, kind: ObjectKind): Promise<StoredObject> {
    const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
    const sha256 = createHash('sha256').update(body).digest('hex');
    const key = keyFor(sha256, kind);
    try {
      await this.#s3.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Body: body,
          ContentType: CONTENT_TYPES[kind],
          IfNoneMatch: '*',
        }),
      );
    } catch (err) {
      // 412: stored already. 409 (ConditionalRequestConflict): another write of this key is in flight.
      const status = statusOf(err);
      if (status !== 412 && !(status === 409 && (await this.#waitForKey(key)))) throw err;
    }
    this.#onProgress?.(size);
    return { key, sha256, size };
  }

  async #putStreaming(chunks: AsyncIterable<Buffer>, kind: ObjectKind): Promise<StoredObject> {
    const tmpKey = `${TEMP_PREFIX}${randomUUID()}`;
    const hash = createHash('sha256');
    let size = 0;
    const hashed = async function* (): AsyncGenerator<Buffer> {
      for await (const chunk of chunks) {
        hash.update(chunk);
        size += chunk.length;
        yield chunk;
      }
    };
    try {
      // The input's own failure comes out of here as it was; the upload has been aborted by then.
      await uploadInParts(hashed(), {
        s3: this.#s3,
        bucket: this.bucket,
        key: tmpKey,
        contentType: CONTENT_TYPES[kind],
        partSize: this.#partSize,
        ...(this.#onProgress && { onProgress: this.#onProgress }),
      });
      const sha256 = hash.digest('hex');
      const key = keyFor(sha256, kind);
      await this.#publish(tmpKey, key);
      return { key, sha256, size };
    } catch (err) {
      await this.#discard(tmpKey);
      throw err;
    }
  }

  /** Copies the finished temp object to its content key unless it is there already, then deletes the temp. */
  async #publish(tmpKey: string, key: string): Promise<void> {
    if (!(await this.#exists(key))) {
      try {
        await this.#s3.send(
          new CopyObjectCommand({
            Bucket: this.bucket,
            Key: key,
            CopySource: `${this.bucket}/${tmpKey}`,
            // S3 refuses (412) when the key exists, so a concurrent put of the same bytes never rewrites it;
            // 409 means another copy to it is in progress. Either way the content is (being) stored.
            // moto 5.2 ignores this header on CopyObject and overwrites with the same bytes.
            IfNoneMatch: '*',
          }),
        );
      } catch (err) {
        const status = statusOf(err);
        if (status !== 412 && status !== 409) throw err;
        if (status === 409 && !(await this.#waitForKey(key))) throw err;
      }
    }
    await this.#s3.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: tmpKey }));
  }

  async #waitForKey(key: string): Promise<boolean> {
    for (let attempt = 0; attempt < 5; attempt++) {
      if (await this.#exists(key)) return true;
      await new Promise((resolve) => setTimeout(resolve, 100 * 2 ** attempt));
    }
    return false;
  }

  /** Best effort: the temp object a failed put may have left (its multipart upload was aborted already). */
  async #discard(tmpKey: string): Promise<void> {
    await this.#s3.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: tmpKey })).catch(() => {});
  }

  async #exists(key: string): Promise<boolean> {
    try {
      await this.#s3.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  async get(key: string): Promise<Readable> {
    if (!isValidKey(key)) {
      throw new BridgeError('STORE_ERR_NOT_FOUND', 'not a key of this store', { context: { key } });
    }
    let body: Readable;
    let length: number | undefined;
    try {
      const res = await this.#s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      body = res.Body as Readable;
      length = res.ContentLength;
    } catch (err) {
      if (isNotFound(err)) {
        throw new BridgeError('STORE_ERR_NOT_FOUND', 'no stored object with that key', { context: { key } });
      }
      throw new BridgeError('STORE_ERR_IO', 'could not open a stored object', { cause: err, context: { key } });
    }
    if (length === undefined) return body;
    // A connection cut mid-body must be an error, never a short object that looks complete.
    const out = new ExactLength(length, key);
    pipeline(body, out, (err) => {
      if (err && !out.destroyed) {
        out.destroy(
          isBridgeError(err)
            ? err
            : new BridgeError('STORE_ERR_IO', 'reading a stored object failed', { cause: err, context: { key } }),
        );
      }
    });
    return out;
  }

  async has(key: string): Promise<boolean> {
    if (!isValidKey(key)) return false;
    try {
      return await this.#exists(key);
    } catch (err) {
      throw new BridgeError('STORE_ERR_IO', 'could not check a stored object', { cause: err, context: { key } });
    }
  }

  /** A GET URL for `key` that works without credentials until it expires; the download name and type are signed. */
  async presignedUrl(key: string, options: PresignOptions = {}): Promise<string> {
    if (!isValidKey(key)) {
      throw new BridgeError('STORE_ERR_NOT_FOUND', 'not a key of this store', { context: { key } });
    }
    const expiresIn = Math.min(
      Math.max(1, Math.trunc(options.expiresIn ?? DEFAULT_LINK_TTL_SECONDS)),
      MAX_LINK_TTL_SECONDS,
    );
    const contentType = safeContentType(options.contentType);
    const command = new GetObjectCommand({
      Bucket: this.bucket,
      Key: key,
      ...(options.filename !== undefined &&
        options.filename !== '' && { ResponseContentDisposition: contentDisposition(options.filename) }),
      ...(contentType !== undefined && { ResponseContentType: contentType }),
    });
    try {
      return await getSignedUrl(this.#s3, command, { expiresIn });
    } catch (err) {
      throw new BridgeError('STORE_ERR_IO', 'could not presign a link', { cause: err, context: { key } });
    }
  }

  /** The event builder's `LinkSigner`, backed by presigned GET URLs of this bucket. */
  linkSigner(expiresIn: number = DEFAULT_LINK_TTL_SECONDS): LinkSigner {
    return { linkFor: (key, meta) => this.presignedUrl(key, { ...meta, expiresIn }) };
  }
}
