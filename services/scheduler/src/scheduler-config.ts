import {
  databaseUrl,
  field,
  listenHost,
  logLevel,
  natsUrl,
  parseBooleanEnv,
  parseIntegerEnv,
  schedulerMetricsPort,
} from '@capstan/config';
import { z } from 'zod';

/** Configuration of the scheduler service (env vars, or keys of the CAPSTAN_CONFIG file). */
export const schedulerConfigSpec = {
  natsUrl,
  databaseUrl,
  logLevel,
  listenHost,
  metricsPort: schedulerMetricsPort,
  schedulerId: field({
    env: 'CAPSTAN_SCHEDULER_ID',
    key: 'scheduler.id',
    default: '',
    schema: z.string().regex(/^[A-Za-z0-9_\-:]*$/, 'letters, digits, _ - : only'),
    expected: 'a component id such as scheduler-1 (empty: scheduler-<hostname>-<pid>)',
    doc: 'Identity of this replica on the bus (sender_id of the packets it publishes).',
  }),
  routingFile: field({
    env: 'CAPSTAN_ROUTING_FILE',
    key: 'scheduler.routingFile',
    default: '',
    schema: z.string(),
    expected: 'a path to a routing YAML file (see docs/scheduler.md), or empty for "every topic is its own pool"',
    doc: 'Topic → pool routes and per-topic limits; reloaded live when the file changes.',
  }),
  failOpen: field({
    env: 'CAPSTAN_POLICY_FAIL_OPEN',
    key: 'scheduler.policyFailOpen',
    default: false,
    schema: z.boolean(),
    fromEnv: parseBooleanEnv,
    expected: 'true or false',
    doc: 'When the safety kernel is unreachable, allow jobs (labelled fail-open) instead of holding them.',
  }),
  noWorkerWaitMs: field({
    env: 'CAPSTAN_NO_WORKER_WAIT_MS',
    key: 'scheduler.noWorkerWaitMs',
    default: 60_000,
    schema: z.number().int().min(100),
    fromEnv: parseIntegerEnv,
    expected: 'milliseconds ≥ 100',
    doc: 'How long a job waits for a live worker before it is dead-lettered with reason no_workers.',
  }),
} as const;
