export {
  artifactPointer,
  CAP_ARTIFACT_KEY_PREFIX,
  CAP_CONTEXT_KEY_PREFIX,
  CAP_RESULT_KEY_PREFIX,
  contextPointer,
  resultPointer,
} from './cap-pointers.js';
export { createPointerStore } from './create-pointer-store.js';
export { FILE_META_SUFFIX } from './file-backend.js';
export {
  type FilePointer,
  formatPointer,
  isPointerScheme,
  type MemPointer,
  POINTER_SCHEMES,
  type Pointer,
  type PointerOf,
  type PointerScheme,
  parsePointer,
  type RedisPointer,
  type S3Pointer,
} from './parse-pointer.js';
export { isPointerError, PointerError, PointerErrorCode, type PointerErrorOptions } from './pointer-errors.js';
export {
  DEFAULT_MAX_BYTES,
  DEFAULT_MEM_MAX_TOTAL_BYTES,
  MAX_POINTER_URI_LENGTH,
  MAX_S3_KEY_BYTES,
} from './pointer-limits.js';
export type { LoadedPayload, PointerInfo, PointerRef, PointerStore, PutOptions } from './pointer-store.js';
export {
  type FilePointerOptions,
  type MemPointerOptions,
  type PointerStoreOptions,
  type ResolvedPointerStoreOptions,
  type ResolvedS3PointerOptions,
  resolvePointerStoreOptions,
  type S3PointerOptions,
} from './pointer-store-options.js';
export { REDIS_POINTER_META_PREFIX, redisMetaKey } from './redis-backend.js';
export { S3_POINTER_METADATA } from './s3-backend.js';
