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
 * Lua scripts that make a pointer write, read or stat one atomic round trip each (a MULTI of the same commands
 * costs 6–7 commands, and the client's CPU for each, per payload; a job does three of these). Scripts touch two keys,
 * like the MULTI they replace, so both must live on one node (a sharded Redis Cluster is not supported).
 * Write: KEYS = payload, metadata hash; ARGV = bytes, PX ttl ms ('' for none), then field/value pairs of the metadata.
 * DEL first clears stale fields and any old TTL, so readers never see new bytes with old metadata.
 */
const WRITE_SCRIPT = `
if ARGV[2] == '' then redis.call('SET', KEYS[1], ARGV[1]) else redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) end
redis.call('DEL', KEYS[2])
if #ARGV > 2 then
  redis.call('HSET', KEYS[2], unpack(ARGV, 3))
  if ARGV[2] ~= '' then redis.call('PEXPIRE', KEYS[2], ARGV[2]) end
end
return 1`;

/**
 * Read: KEYS = payload, metadata hash; ARGV = the last byte offset to return (GETRANGE caps the transfer at the
 * size limit even for an oversized value). Returns nil for a missing key, else { size, bytes, metadata pairs, pttl }.
 */
const READ_SCRIPT = `
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
return { redis.call('STRLEN', KEYS[1]), redis.call('GETRANGE', KEYS[1], 0, ARGV[1]), redis.call('HGETALL', KEYS[2]),
  redis.call('PTTL', KEYS[1]) }`;

/** STAT: like READ without the bytes. */
const STAT_SCRIPT = `
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
return { redis.call('STRLEN', KEYS[1]), redis.call('HGETALL', KEYS[2]), redis.call('PTTL', KEYS[1]) }`;

/** The scripts as ioredis commands (EVALSHA, falling back to EVAL once per connection). */
interface PointerScripts {
  capstanPointerWrite(key: string, metaKey: string, value: Buffer, ttl: string, ...meta: string[]): Promise<number>;
  capstanPointerReadBuffer(
    key: string,
    metaKey: string,
    lastByte: number,
  ): Promise<[number, Buffer, Buffer[], number] | null>;
  capstanPointerStatBuffer(key: string, metaKey: string): Promise<[number, Buffer[], number] | null>;
}

function withPointerScripts(client: Redis): Redis & PointerScripts {
  const scripted = client as Redis & Partial<PointerScripts>;
  // A client the caller shares between several stores gets the commands once.
  if (typeof scripted.capstanPointerWrite !== 'function') {
    client.defineCommand('capstanPointerWrite', { numberOfKeys: 2, lua: WRITE_SCRIPT });
    client.defineCommand('capstanPointerRead', { numberOfKeys: 2, lua: READ_SCRIPT, readOnly: true });
    client.defineCommand('capstanPointerStat', { numberOfKeys: 2, lua: STAT_SCRIPT, readOnly: true });
  }
  return client as Redis & PointerScripts;
}

/** HGETALL's flat [field, value, …] reply (as buffers) as a record. */
function pairsToRecord(pairs: Buffer[]): Record<string, string> {
  const record: Record<string, string> = {};
  for (let i = 0; i + 1 < pairs.length; i += 2) record[pairs[i]!.toString()] = pairs[i + 1]!.toString();
  return record;
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
          // Commands issued in the same event-loop turn (many jobs' pointers under load) leave in one socket write.
          enableAutoPipelining: true,
        })
      : redis;
  const scripts = withPointerScripts(client);
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
      const fields = Object.entries(metaToRecord(meta)).flat();
      await scripted(uri, () =>
        scripts.capstanPointerWrite(key, metaKey, value, ttlMs === undefined ? '' : String(ttlMs), ...fields),
      );
    },

    async read(pointer, uri, maxBytes): Promise<StoredObject | undefined> {
      const key = keyOf(pointer, uri);
      const reply = await scripted(uri, () => scripts.capstanPointerReadBuffer(key, redisMetaKey(key), maxBytes - 1));
      if (reply === null) return undefined;
      const [size, bytes, pairs, pttl] = reply;
      if (size > maxBytes) throw payloadTooLarge(uri, size, maxBytes);
      const data = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      const meta = toMeta(pairsToRecord(pairs), uri);
      return meta ? { data, meta, observed: {} } : { data, observed: observed(pttl) };
    },

    async stat(pointer, uri): Promise<StoredStat | undefined> {
      const key = keyOf(pointer, uri);
      const reply = await scripted(uri, () => scripts.capstanPointerStatBuffer(key, redisMetaKey(key)));
      if (reply === null) return undefined;
      const [size, pairs, pttl] = reply;
      const meta = toMeta(pairsToRecord(pairs), uri);
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

/** Runs one pointer script, turning WRONGTYPE (a key of another type behind the pointer) into a specific error. */
async function scripted<T>(uri: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof Error && error.message.includes('WRONGTYPE')) {
      throw new PointerError(
        'INVALID_PAYLOAD',
        `redis key behind ${uri} (or its metadata hash) holds the wrong type; pointers reference string values`,
        { uri, cause: error },
      );
    }
    throw error;
  }
}
