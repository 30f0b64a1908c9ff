import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { GatewayError } from '../errors/gateway-error.js';

/** Redis key prefix of the rate-limit counters (shared by every gateway replica). */
export const RATE_LIMIT_KEY_PREFIX = 'capstan:ratelimit:';

/** The counter a request is charged to: its organization when authenticated, its client IP otherwise. */
export function rateLimitKey(request: FastifyRequest): string {
  return request.auth ? `org:${request.auth.organizationId}` : `ip:${request.ip}`;
}

/**
 * Per-tenant rate limiting with @fastify/rate-limit on Redis: a fixed window per organization (or per client IP
 * for anonymous and rejected calls), counted atomically in Redis so every replica shares the budget. Every
 * limited response carries `x-ratelimit-limit`, `x-ratelimit-remaining` and `x-ratelimit-reset` (seconds);
 * over the limit: 429, code 6001, `Retry-After`. When Redis is unreachable the limiter lets requests through
 * (logged; `/ready` reports Redis down) rather than taking the API down with it.
 */
export async function registerRateLimit(app: FastifyInstance): Promise<void> {
  const { config, redis, logger } = app.gateway;
  await app.register(rateLimit, {
    global: true,
    redis,
    nameSpace: RATE_LIMIT_KEY_PREFIX,
    timeWindow: config.rateLimitWindowMs,
    max: (_request, key) => (key.startsWith('org:') ? config.rateLimitMax : config.rateLimitAnonymousMax),
    keyGenerator: rateLimitKey,
    skipOnError: true,
    addHeadersOnExceeding: { 'x-ratelimit-limit': true, 'x-ratelimit-remaining': true, 'x-ratelimit-reset': true },
    addHeaders: {
      'x-ratelimit-limit': true,
      'x-ratelimit-remaining': true,
      'x-ratelimit-reset': true,
      'retry-after': true,
    },
    onExceeded: (request, key) => logger.info({ key, trace_id: request.id }, 'rate limit exceeded'),
    errorResponseBuilder: (_request, context) =>
      new GatewayError(
        'RATE_LIMITED',
        `Rate limit exceeded: ${context.max} requests per ${context.after}; retry in ${Math.ceil(context.ttl / 1000)} s`,
      ),
  });
}
