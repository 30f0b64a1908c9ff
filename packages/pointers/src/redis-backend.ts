import { Redis } from 'ioredis';
import type { RedisPointer } from './parse-pointer.js';
import type { ObservedFacts, PointerBackend, StoredObject, StoredStat } from './pointer-backend.js';
import { PointerError, payloadTooLarge } from './pointer-errors.js';
import { metaFromRecord, metaToRecord, type StoredMeta } from './stored-meta.js';

/**
 * Prefix of the Redis hash holding a payload's metadata: `capstan:ptrmeta:<key>`. The payload key itself holds the
 * raw bytes only, because CAP SDK workers read it with a plain GET. A separate namespace (rather than `<key>:meta`)
 * keeps metadata keys from colliding with payload keys such as `art:x:meta`.
 */
export const REDIS_POINTER_META_PREFIX = 'capstan:ptrmeta:';

/** The Redis key of the metadata hash for payload key `key`. */
export function redisMetaKey(key: string): string {
  return `${REDIS_POINTER_META_PREFIX}${key}`;
}

/**
 * Creates the `redis://` backend. `redis` is either a client the caller owns or a URL the backend connects to
 * (lazily, on first use) and disconnects from on close.
 */
export function createRedisBackend(redis: Redis | string): PointerBackend<RedisPointer> {
  const owned = typeof redis === 'string';
  const client =
    typeof redis === 'string'
      ? new Redis(redis, {
          lazyConnect: true,
          // Fail a command after a couple of reconnect attempts so callers get BACKEND_UNAVAILABLE within seconds
          // instead of hanging while ioredis retries 20 times.
          maxRetriesPerRequest: 2,
        })
      : redis;
  // Errors reach callers through the failed commands; without a listener ioredis would also print every
  // reconnect error to stderr.
  if (owned) client.on('error', () => {});

  function keyOf(pointer: RedisPointer, uri: string): string {
    if (pointer.key.startsWith(REDIS_POINTER_META_PREFIX)) {
      throw new PointerError(
        'INVALID_POINTER',
        `redis pointer ${uri} uses the reserved key prefix ${REDIS_POINTER_META_PREFIX} (pointer metadata)`,
        { uri },
      );
    }
    return pointer.key;
  }

  return {
    // Redis drops the key when PX runs out, so expiry is the server's job (and immune to writer/reader clock skew).
    expiresNatively: true,
    sharedWithThirdParties: true,

    async write(pointer, uri, data, meta, ttlMs) {
      const key = keyOf(pointer, uri);
      const metaKey = redisMetaKey(key);
      const value = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
      // One MULTI so readers never see new bytes with old metadata. DEL first clears stale fields and any old TTL.
      const tx = client.multi();
      if (ttlMs === undefined) tx.set(key, value);
      else tx.set(key, value, 'PX', ttlMs);
      tx.del(metaKey);
      tx.hset(metaKey, metaToRecord(meta));
      if (ttlMs !== undefined) tx.pexpire(metaKey, ttlMs);
      results(await tx.exec(), uri);
    },

    async read(pointer, uri, maxBytes): Promise<StoredObject | undefined> {
      const key = keyOf(pointer, uri);
      // Atomic snapshot; GETRANGE caps the transfer at maxBytes even for an oversized value.
      const [exists, size, bytes, record, pttl] = results(
        await client
          .multi()
          .exists(key)
          .strlen(key)
          .getrangeBuffer(key, 0, maxBytes - 1)
          .hgetall(redisMetaKey(key))
          .pttl(key)
          .exec(),
        uri,
      ) as [number, number, Buffer, Record<string, string>, number];
      if (exists === 0) return undefined;
      if (size > maxBytes) throw payloadTooLarge(uri, size, maxBytes);
      const data = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      const meta = toMeta(record, uri);
      return meta ? { data, meta, observed: {} } : { data, observed: observed(pttl) };
    },

    async stat(pointer, uri): Promise<StoredStat | undefined> {
      const key = keyOf(pointer, uri);
      const [exists, size, record, pttl] = results(
        await client.multi().exists(key).strlen(key).hgetall(redisMetaKey(key)).pttl(key).exec(),
        uri,
      ) as [number, number, Record<string, string>, number];
      if (exists === 0) return undefined;
      const meta = toMeta(record, uri);
      return meta ? { size, meta, observed: {} } : { size, observed: observed(pttl) };
    },

    async remove(pointer, uri) {
      const key = keyOf(pointer, uri);
      await client.del(key, redisMetaKey(key));
    },

    async close() {
      if (!owned) return;
      // A lazy client that never connected has nothing to QUIT; QUIT would connect first.
      if (client.status === 'wait' || client.status === 'end') {
        client.disconnect();
        return;
      }
      try {
        await client.quit();
      } catch {
        client.disconnect();
      }
    },
  };
}

function toMeta(record: Record<string, string>, uri: string): StoredMeta | undefined {
  return Object.keys(record).length === 0 ? undefined : metaFromRecord(record, uri);
}

function observed(pttl: number): ObservedFacts {
  // PTTL is -1 for keys without a TTL (and -2 for missing keys, excluded earlier).
  return pttl > 0 ? { expiresAt: new Date(Date.now() + pttl) } : {};
}

/** Unwraps MULTI replies, turning a per-command error into a thrown one (WRONGTYPE gets a specific message). */
function results(replies: [Error | null, unknown][] | null, uri: string): unknown[] {
  if (replies === null) throw new Error(`redis transaction for ${uri} was aborted`);
  return replies.map(([error, value]) => {
    if (error) {
      if (error.message.startsWith('WRONGTYPE')) {
        throw new PointerError(
          'INVALID_PAYLOAD',
          `redis key behind ${uri} (or its metadata hash) holds the wrong type; pointers reference string values`,
          { uri, cause: error },
        );
      }
      throw error;
    }
    return value;
  });
}
