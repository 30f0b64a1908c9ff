/**
 * vitest global setup: starts ONE nats-server (JetStream), redis-server and PostgreSQL for the whole test run
 * and hands their URLs to the tests (`testServices()`). A server is not started when its URL is already set
 * in the environment (NATS_URL, REDIS_URL, DATABASE_URL), so CI or a developer can point tests at their own.
 *
 * Runs in vitest's main process, where importing `vitest` itself is not allowed: only type imports here.
 */
import type { TestProject } from 'vitest/node';
import type {} from './provided-context.js';
import type { ServerHandle } from './server-handle.js';
import { startNats } from './start-nats.js';
import { startPostgres } from './start-postgres.js';
import { startRedis } from './start-redis.js';

interface ServiceSpec {
  key: 'natsUrl' | 'redisUrl' | 'databaseUrl';
  envVar: string;
  start: () => Promise<ServerHandle>;
}

const SERVICES: readonly ServiceSpec[] = [
  { key: 'natsUrl', envVar: 'NATS_URL', start: () => startNats({ jetstream: true }) },
  { key: 'redisUrl', envVar: 'REDIS_URL', start: () => startRedis() },
  { key: 'databaseUrl', envVar: 'DATABASE_URL', start: () => startPostgres() },
];

/** Starts (or reuses) the shared servers and returns the teardown that stops what it started. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const started: ServerHandle[] = [];
  const stopStarted = async () => {
    await Promise.allSettled(started.map((handle) => handle.stop()));
  };
  // In parallel: Postgres dominates (~0.6 s), the others take tens of ms.
  const results = await Promise.allSettled(
    SERVICES.map(async (service) => {
      const fromEnv = process.env[service.envVar];
      if (fromEnv) return { service, url: fromEnv };
      const handle = await service.start();
      started.push(handle);
      return { service, url: handle.url };
    }),
  );
  const failures = results.filter((result) => result.status === 'rejected');
  if (failures.length > 0) {
    await stopStarted();
    const reasons = failures.map((failure) => String(failure.reason?.stack ?? failure.reason));
    throw new AggregateError(
      failures.map((failure) => failure.reason),
      `@capstan/testkit global setup could not start the test servers:\n${reasons.join('\n')}`,
    );
  }
  for (const result of results) {
    if (result.status === 'fulfilled') project.provide(result.value.service.key, result.value.url);
  }
  return stopStarted;
}
