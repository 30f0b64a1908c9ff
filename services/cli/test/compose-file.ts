import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { z } from 'zod';

/** The repository's docker-compose.yml. */
export const COMPOSE_FILE = new URL('../../../docker-compose.yml', import.meta.url);

const condition = z.strictObject({
  condition: z.enum(['service_started', 'service_healthy', 'service_completed_successfully']),
});
const bindMount = z.strictObject({
  type: z.literal('bind'),
  source: z.string(),
  target: z.string(),
  read_only: z.boolean().optional(),
});

/** The part of a compose service these tests read; anything else a service sets is kept as is. */
const serviceSchema = z.looseObject({
  image: z.string(),
  build: z.string().optional(),
  command: z.array(z.string()).optional(),
  entrypoint: z.array(z.string()).optional(),
  environment: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).optional(),
  ports: z.array(z.string()).optional(),
  volumes: z.array(z.union([z.string(), bindMount])).optional(),
  depends_on: z.record(z.string(), condition).optional(),
  healthcheck: z.looseObject({ test: z.array(z.string()) }).optional(),
});

const composeSchema = z.looseObject({ services: z.record(z.string(), serviceSchema) });

/** One service of the compose file. */
export type ComposeService = z.infer<typeof serviceSchema>;

/**
 * Parses docker-compose.yml as docker compose does (YAML 1.1 merge keys `<<:` and anchors resolved) and checks the
 * shape of what the tests read, so a typo such as `dependson` or a string where a list belongs fails here.
 */
export function loadCompose(): z.infer<typeof composeSchema> {
  return composeSchema.parse(parse(readFileSync(COMPOSE_FILE, 'utf8'), { merge: true }));
}

/**
 * Resolves `${NAME:-default}`, `${NAME-default}` and `${NAME}` the way docker compose does when NAME is unset
 * (the defaults in the file are what a plain `docker compose up` uses), and `$$` to `$`.
 */
export function interpolate(value: string): string {
  return value.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}/g, (match, _name, fallback?: string) =>
    match === '$$' ? '$' : (fallback ?? ''),
  );
}

/** A service's environment with interpolation resolved and every value as a string (as a container sees it). */
export function containerEnv(service: ComposeService): Record<string, string> {
  return Object.fromEntries(
    Object.entries(service.environment ?? {}).map(([name, value]) => [name, interpolate(String(value))]),
  );
}
