/**
 * Limits and fixed names of the policy engine, defined once and imported everywhere.
 */

/** Largest bundle `loadBundle` accepts by default: 1 MiB of UTF-8. */
export const DEFAULT_MAX_BUNDLE_BYTES = 1024 * 1024;

/** Most rules a bundle may hold; a bigger bundle is a mistake, not a policy. */
export const MAX_RULES = 5000;

/** Longest `when:` CEL expression, in characters. */
export const MAX_CEL_EXPRESSION_LENGTH = 4096;

/** Longest velocity window: one day. */
export const MAX_VELOCITY_WINDOW_SECONDS = 86_400;

/** `rule_id` reported when no rule matched and the bundle's default decision applies. */
export const DEFAULT_RULE_ID = 'default';

/** Default cap on the number of keys the in-memory velocity counter keeps. */
export const DEFAULT_MEMORY_VELOCITY_MAX_KEYS = 100_000;

/** Default Redis key prefix of the Redis velocity counter. */
export const DEFAULT_REDIS_VELOCITY_KEY_PREFIX = 'capstan:policy:velocity:';
