// s3rver ships no type declarations; this covers the part of its API the test kit uses.
declare module 's3rver' {
  import type { AddressInfo } from 'node:net';

  /** Constructor options of s3rver 3.x (see its README). */
  interface S3rverOptions {
    address?: string;
    port?: number;
    silent?: boolean;
    directory?: string;
    resetOnClose?: boolean;
    allowMismatchedSignatures?: boolean;
    vhostBuckets?: boolean;
    configureBuckets?: { name: string; configs?: (string | Buffer)[] }[];
  }

  /** A fake S3 HTTP server (a Koa app). */
  class S3rver {
    constructor(options?: S3rverOptions);
    /** Creates the configured buckets and starts listening. */
    run(): Promise<AddressInfo>;
    /** Stops listening. */
    close(): Promise<void>;
  }
  export default S3rver;
}
