import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { startS3 } from './start-s3.js';

describe('startS3', () => {
  it('serves path-style S3 with the configured buckets, and stop() removes its dir', async () => {
    const s3 = await startS3({ buckets: ['artifacts'] });
    expect(s3.endpoint).toBe(`http://127.0.0.1:${s3.port}`);
    expect(s3.accessKeyId).toBe('S3RVER');
    expect(s3.region).toBe('us-east-1');

    const put = await fetch(`${s3.endpoint}/artifacts/hello.txt`, { method: 'PUT', body: 'hi there' });
    expect(put.status).toBe(200);
    const get = await fetch(`${s3.endpoint}/artifacts/hello.txt`);
    expect(await get.text()).toBe('hi there');
    const missingBucket = await fetch(`${s3.endpoint}/nope/x`);
    expect(missingBucket.status).toBe(404);
    await missingBucket.body?.cancel();

    await s3.stop();
    expect(existsSync(s3.dataDir)).toBe(false);
    await expect(fetch(`${s3.endpoint}/artifacts/hello.txt`)).rejects.toThrow();
  });

  it('rejects invalid bucket names', async () => {
    await expect(startS3({ buckets: ['Bad_Name'] })).rejects.toThrow(/invalid bucket name "Bad_Name"/);
  });
});
