import S3rver from 's3rver';
import { TestkitArgumentError } from './errors.js';
import { createTempDir, removeTempDir } from './temp-dir.js';

/** s3rver accepts any well-formed signature made with these fixed credentials. */
const S3RVER_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

/** S3 bucket naming rule (lowercase letters, digits, dots and hyphens, 3-63 chars). */
const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/** Options for {@link startS3}. */
export interface StartS3Options {
  /**
   * Buckets to create before the server accepts requests.
   * @default []
   */
  buckets?: string[];
}

/** A running in-process fake S3 endpoint. Use path-style addressing (`forcePathStyle: true` in aws-sdk v3). */
export interface S3Handle {
  /** Base URL, e.g. `http://127.0.0.1:41234`. */
  endpoint: string;
  /** The HTTP port. */
  port: number;
  /** Temp dir holding the objects; deleted by `stop()`. */
  dataDir: string;
  /** Access key the server accepts. */
  accessKeyId: string;
  /** Secret key the server accepts. */
  secretAccessKey: string;
  /** Region to sign requests for (s3rver ignores it, aws-sdk requires one). */
  region: string;
  /** Stops the server and deletes `dataDir`. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Starts s3rver in this process on a kernel-assigned port of 127.0.0.1 with a fresh data dir. In-process
 * because Debian has no S3-compatible server; s3rver speaks enough of the S3 API for aws-sdk v3.
 */
export async function startS3(options: StartS3Options = {}): Promise<S3Handle> {
  const buckets = options.buckets ?? [];
  for (const bucket of buckets) {
    if (!BUCKET_NAME.test(bucket)) {
      throw new TestkitArgumentError(
        `startS3: invalid bucket name ${JSON.stringify(bucket)}; expected 3-63 lowercase letters, digits, "." or "-"`,
      );
    }
  }
  const dataDir = await createTempDir('s3');
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory: dataDir,
    // Path-style only: vhost-style would need DNS for <bucket>.127.0.0.1.
    vhostBuckets: false,
    configureBuckets: buckets.map((name) => ({ name })),
  });
  let address: Awaited<ReturnType<S3rver['run']>>;
  try {
    address = await server.run();
  } catch (error) {
    await removeTempDir(dataDir);
    throw error;
  }
  let stopped = false;
  return {
    endpoint: `http://127.0.0.1:${address.port}`,
    port: address.port,
    dataDir,
    ...S3RVER_CREDENTIALS,
    region: 'us-east-1',
    async stop() {
      if (stopped) return;
      stopped = true;
      await server.close();
      await removeTempDir(dataDir);
    },
  };
}
