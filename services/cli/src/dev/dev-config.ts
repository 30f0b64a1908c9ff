import {
  DEFAULT_DEV_DIR,
  databaseUrl,
  defineConfig,
  field,
  listenHost,
  logLevel,
  natsUrl,
  parseIntegerEnv,
  portSchema,
  redisUrl,
} from '@capstan/config';
import { z } from 'zod';

/** Declares an optional port: unset lets `capstan dev` use the default port or, when that is busy, a free one. */
function devPort(env: string, key: string, what: string) {
  return field({
    env,
    key,
    schema: portSchema.optional(),
    fromEnv: parseIntegerEnv,
    expected: 'a TCP port number from 0 to 65535 (0 = any free port), or unset for the default when it is free',
    doc: `Port of the dev ${what}.`,
  });
}

/** Configuration of `capstan dev`. */
export const devConfigSpec = defineConfig({
  /** Where servers keep their data, relative to the working directory. */
  dataDir: field({
    env: 'CAPSTAN_DEV_DIR',
    key: 'dev.dir',
    default: DEFAULT_DEV_DIR,
    schema: z.string().min(1),
    expected: 'a directory path such as .capstan',
    doc: 'Directory holding the dev servers’ data, logs and dev.json.',
  }),
  natsPort: devPort('CAPSTAN_DEV_NATS_PORT', 'dev.natsPort', 'nats-server'),
  redisPort: devPort('CAPSTAN_DEV_REDIS_PORT', 'dev.redisPort', 'redis-server'),
  host: listenHost,
  /** Used instead of starting nats-server with `--no-infra`. */
  natsUrl,
  /** Used instead of starting redis-server with `--no-infra`. */
  redisUrl,
  databaseUrl,
  logLevel,
});
