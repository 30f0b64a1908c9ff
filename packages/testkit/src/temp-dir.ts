import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { forgetDir, trackDir } from './cleanup-on-exit.js';

/** Creates a fresh `capstan-<kind>-XXXXXX` directory under the OS temp dir, removed on process exit at the latest. */
export async function createTempDir(kind: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `capstan-${kind}-`));
  trackDir(dir);
  return dir;
}

/** Removes a directory made by {@link createTempDir}. */
export async function removeTempDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true, maxRetries: 3 });
  forgetDir(dir);
}
