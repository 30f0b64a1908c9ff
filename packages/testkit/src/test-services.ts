import { inject } from 'vitest';
import { MissingTestServiceError } from './errors.js';
import type { TestServices } from './provided-context.js';

/**
 * Inside a vitest test (or hook): the URLs of the NATS, Redis and PostgreSQL servers shared by the whole run,
 * started by `@capstan/testkit`'s vitest global setup (or taken from NATS_URL / REDIS_URL / DATABASE_URL).
 * @throws {MissingTestServiceError} when the global setup is not configured in vitest.config.ts.
 */
export function testServices(): TestServices {
  const services: TestServices = {
    natsUrl: inject('natsUrl'),
    redisUrl: inject('redisUrl'),
    databaseUrl: inject('databaseUrl'),
  };
  const missing = Object.entries(services)
    .filter(([, value]) => typeof value !== 'string' || value === '')
    .map(([key]) => key);
  if (missing.length > 0) {
    throw new MissingTestServiceError(
      `testServices(): ${missing.join(', ')} not provided; add "packages/testkit/src/vitest-global-setup.ts" to ` +
        'test.globalSetup in vitest.config.ts (it starts the servers or reads NATS_URL / REDIS_URL / DATABASE_URL)',
    );
  }
  return services;
}
