import { assemblePointerStore, type PointerBackends } from './assemble-pointer-store.js';
import { createFileBackend } from './file-backend.js';
import { createMemBackend } from './mem-backend.js';
import type { PointerStore } from './pointer-store.js';
import { type PointerStoreOptions, resolvePointerStoreOptions } from './pointer-store-options.js';
import { createRedisBackend } from './redis-backend.js';
import { createS3Backend } from './s3-backend.js';

/**
 * Creates a {@link PointerStore} that routes each pointer to the backend for its scheme. Only schemes in
 * `allowedSchemes` get a backend, so a configured-but-disallowed Redis or S3 is never connected to.
 *
 * @throws {PointerError} `INVALID_OPTIONS` when the options are invalid (see `resolvePointerStoreOptions`).
 */
export function createPointerStore(options: PointerStoreOptions = {}): PointerStore {
  const resolved = resolvePointerStoreOptions(options);
  const allowed = new Set(resolved.allowedSchemes);
  const backends: PointerBackends = {};
  if (allowed.has('mem')) backends.mem = createMemBackend(resolved.mem);
  if (allowed.has('file') && resolved.file) backends.file = createFileBackend(resolved.file);
  if (allowed.has('redis') && resolved.redis !== undefined) backends.redis = createRedisBackend(resolved.redis);
  if (allowed.has('s3') && resolved.s3) backends.s3 = createS3Backend(resolved.s3);
  return assemblePointerStore(resolved, backends);
}
