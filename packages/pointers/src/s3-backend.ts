import {
  DeleteObjectCommand,
  GetObjectCommand,
  type GetObjectCommandOutput,
  HeadObjectCommand,
  type HeadObjectCommandOutput,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import type { S3Pointer } from './parse-pointer.js';
import type { PointerBackend, StoredObject, StoredStat } from './pointer-backend.js';
import { PointerError, payloadExpired, payloadTooLarge } from './pointer-errors.js';
import type { ResolvedS3PointerOptions } from './pointer-store-options.js';
import { metaFromRecord, type StoredMeta } from './stored-meta.js';

/** Names of the S3 user-metadata entries (sent as `x-amz-meta-<name>`) holding a payload's Capstan metadata. */
export const S3_POINTER_METADATA = {
  sha256: 'capstan-sha256',
  size: 'capstan-size',
  createdAt: 'capstan-created-at',
  expiresAt: 'capstan-expires-at',
} as const;

/**
 * Creates the `s3://` backend. Only allow-listed buckets (and prefixes) are touched. TTLs are recorded in object
 * metadata and enforced on read, because bucket lifecycle rules work in whole days; expired objects are left for
 * those rules to delete, since a reader may hold no delete permission.
 */
export function createS3Backend(options: ResolvedS3PointerOptions): PointerBackend<S3Pointer> {
  const client = new S3Client({
    region: options.region,
    forcePathStyle: options.forcePathStyle,
    ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
    ...(options.credentials === undefined ? {} : { credentials: options.credentials }),
  });

  function checkAllowed(pointer: S3Pointer, uri: string): void {
    if (!options.allowedBuckets.includes(pointer.bucket)) {
      throw new PointerError(
        'NOT_ALLOWED',
        `s3 bucket "${pointer.bucket}" of ${uri} is not allow-listed; allowed buckets: ${options.allowedBuckets.join(', ')}`,
        { uri },
      );
    }
    const prefixes = options.allowedPrefixes;
    if (prefixes && !prefixes.some((prefix) => pointer.key.startsWith(prefix))) {
      throw new PointerError(
        'NOT_ALLOWED',
        `s3 key "${pointer.key}" of ${uri} is outside the allow-listed prefixes; allowed prefixes: ${prefixes.join(', ')}`,
        { uri },
      );
    }
  }

  return {
    expiresNatively: false,

    async write(pointer, uri, data, meta) {
      checkAllowed(pointer, uri);
      const metadata: Record<string, string> = {
        [S3_POINTER_METADATA.sha256]: meta.sha256,
        [S3_POINTER_METADATA.size]: String(meta.size),
        [S3_POINTER_METADATA.createdAt]: meta.createdAt.toISOString(),
      };
      if (meta.expiresAt) metadata[S3_POINTER_METADATA.expiresAt] = meta.expiresAt.toISOString();
      await client.send(
        new PutObjectCommand({
          Bucket: pointer.bucket,
          Key: pointer.key,
          Body: data,
          ContentLength: data.byteLength,
          ContentType: meta.contentType,
          Metadata: metadata,
        }),
      );
    },

    async read(pointer, uri, maxBytes): Promise<StoredObject | undefined> {
      checkAllowed(pointer, uri);
      let response: GetObjectCommandOutput;
      try {
        response = await client.send(new GetObjectCommand({ Bucket: pointer.bucket, Key: pointer.key }));
      } catch (error) {
        if (isNotFound(error)) return undefined;
        throw error;
      }
      const body = response.Body as unknown;
      try {
        // Decide from the headers before downloading: oversized and expired objects are never read.
        if (response.ContentLength !== undefined && response.ContentLength > maxBytes) {
          throw payloadTooLarge(uri, response.ContentLength, maxBytes);
        }
        const meta = toMeta(response.Metadata, response.ContentType, uri);
        if (meta?.expiresAt && meta.expiresAt.getTime() <= Date.now()) throw payloadExpired(uri, meta.expiresAt);
        const data = await readBounded(body, uri, maxBytes);
        return meta
          ? { data, meta, observed: {} }
          : { data, observed: observedFacts(response.ContentType, response.LastModified) };
      } finally {
        discard(body);
      }
    },

    async stat(pointer, uri): Promise<StoredStat | undefined> {
      checkAllowed(pointer, uri);
      let response: HeadObjectCommandOutput;
      try {
        response = await client.send(new HeadObjectCommand({ Bucket: pointer.bucket, Key: pointer.key }));
      } catch (error) {
        if (isNotFound(error)) return undefined;
        throw error;
      }
      const meta = toMeta(response.Metadata, response.ContentType, uri);
      const size = response.ContentLength ?? 0;
      return meta
        ? { size, meta, observed: {} }
        : { size, observed: observedFacts(response.ContentType, response.LastModified) };
    },

    async remove(pointer, uri) {
      checkAllowed(pointer, uri);
      await client.send(new DeleteObjectCommand({ Bucket: pointer.bucket, Key: pointer.key }));
    },

    async close() {
      client.destroy();
    },
  };
}

function toMeta(
  metadata: Record<string, string> | undefined,
  contentType: string | undefined,
  uri: string,
): StoredMeta | undefined {
  if (!metadata || metadata[S3_POINTER_METADATA.sha256] === undefined) return undefined;
  const record: Record<string, unknown> = {
    contentType,
    sha256: metadata[S3_POINTER_METADATA.sha256],
    size: metadata[S3_POINTER_METADATA.size],
    createdAt: metadata[S3_POINTER_METADATA.createdAt],
  };
  if (metadata[S3_POINTER_METADATA.expiresAt] !== undefined) {
    record['expiresAt'] = metadata[S3_POINTER_METADATA.expiresAt];
  }
  return metaFromRecord(record, uri);
}

function observedFacts(contentType: string | undefined, lastModified: Date | undefined) {
  return {
    ...(contentType === undefined ? {} : { contentType }),
    ...(lastModified === undefined ? {} : { createdAt: lastModified }),
  };
}

/** Reads a response body, failing with TOO_LARGE as soon as more than `maxBytes` arrive. */
async function readBounded(body: unknown, uri: string, maxBytes: number): Promise<Uint8Array> {
  if (body === undefined || body === null) return new Uint8Array(0);
  if (!isAsyncIterable(body)) {
    throw new Error(`s3 response body for ${uri} is not a readable stream (expected a Node.js Readable)`);
  }
  const chunks: Uint8Array[] = [];
  let length = 0;
  for await (const chunk of body) {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Uint8Array);
    length += bytes.byteLength;
    if (length > maxBytes) throw payloadTooLarge(uri, length, maxBytes);
    chunks.push(bytes);
  }
  const data = new Uint8Array(length);
  let offset = 0;
  for (const chunk of chunks) {
    data.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return data;
}

function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return typeof value === 'object' && value !== null && Symbol.asyncIterator in value;
}

/** Releases the HTTP connection of a body that was not (fully) read. */
function discard(body: unknown): void {
  const stream = body as { destroy?: () => void; destroyed?: boolean } | undefined;
  if (stream && typeof stream.destroy === 'function' && stream.destroyed !== true) stream.destroy();
}

function isNotFound(error: unknown): boolean {
  const name = (error as { name?: unknown } | undefined)?.name;
  return name === 'NoSuchKey' || name === 'NotFound';
}
