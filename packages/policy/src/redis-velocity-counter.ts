import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { PolicyArgumentError } from './errors.js';
import { DEFAULT_REDIS_VELOCITY_KEY_PREFIX } from './limits.js';
import type { VelocityCounter } from './velocity-counter.js';

/** Options of `createRedisVelocityCounter`. */
export interface RedisVelocityCounterOptions {
  /** Connected ioredis client; the caller owns it (and quits it). */
  redis: Redis;
  /**
   * Prefix of every sorted-set key.
   * @default "capstan:policy:velocity:"
   */
  keyPrefix?: string;
}

interface ResolvedRedisVelocityCounterOptions {
  redis: Redis;
  keyPrefix: string;
}

/** Fills defaults and validates `RedisVelocityCounterOptions`. */
export function resolveRedisVelocityCounterOptions(
  options: RedisVelocityCounterOptions,
): ResolvedRedisVelocityCounterOptions {
  if (!options?.redis)
    throw new PolicyArgumentError('createRedisVelocityCounter: options.redis (an ioredis client) is required');
  return { redis: options.redis, keyPrefix: options.keyPrefix ?? DEFAULT_REDIS_VELOCITY_KEY_PREFIX };
}

/**
 * One round trip, atomic: drop entries out of the window, add this hit, keep only the newest limit+1 (bounded
 * memory, still enough to decide), refresh the TTL so idle keys vanish. A dry run only counts (ZCOUNT), so
 * Evaluate/Explain never write.
 * KEYS[1] key; ARGV now, windowMs, limit, dryRun(0|1), member. Returns the count including this request.
 */
const HIT_SCRIPT = `
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
if ARGV[4] == '1' then
  return redis.call('ZCOUNT', KEYS[1], '(' .. (now - window), '+inf') + 1
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
redis.call('ZADD', KEYS[1], now, ARGV[5])
local count = redis.call('ZCARD', KEYS[1])
if count > limit + 1 then
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, count - limit - 2)
end
redis.call('PEXPIRE', KEYS[1], window)
return count
`;

/**
 * A velocity counter shared by every process using the same Redis: one sorted set per key scored by hit time.
 * Time comes from the caller's `now` (the kernel's clock) so all replicas should run NTP-synced clocks.
 */
export function createRedisVelocityCounter(options: RedisVelocityCounterOptions): VelocityCounter {
  const { redis, keyPrefix } = resolveRedisVelocityCounterOptions(options);
  return {
    async hit(key, windowMs, limit, { dryRun, now }) {
      // The random suffix keeps two hits in the same millisecond distinct set members.
      const member = `${now}-${randomBytes(6).toString('hex')}`;
      const raw = await redis.eval(
        HIT_SCRIPT,
        1,
        keyPrefix + key,
        Math.floor(now),
        Math.ceil(windowMs),
        limit,
        dryRun ? '1' : '0',
        member,
      );
      const count = Number(raw);
      return { count: Math.min(count, limit + 1), exceeded: count > limit };
    },
  };
}
