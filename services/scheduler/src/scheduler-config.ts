import {
  databaseUrl,
  field,
  listenHost,
  logLevel,
  natsUrl,
  parseBooleanEnv,
  parseIntegerEnv,
  schedulerMetricsPort,
  signatureConfigSpec,
  urlSchema,
} from '@capstan/config';
import { z } from 'zod';

const httpUrl = urlSchema(['http', 'https']);
/** Empty (no kernel: allow-all) or the kernel's http(s) base URL. */
const kernelUrlSchema: z.ZodType<string> = z.string({ error: 'not a string' }).superRefine((value, ctx) => {
  if (value === '') return;
  const r = httpUrl.safeParse(value);
  if (!r.success) for (const issue of r.error.issues) ctx.addIssue({ code: 'custom', message: issue.message });
});

const milliseconds = (min: number) => z.number().int().min(min);

/** Configuration of the scheduler service (env vars, or keys of the CAPSTAN_CONFIG file). */
export const schedulerConfigSpec = {
  natsUrl,
  databaseUrl,
  logLevel,
  listenHost,
  metricsPort: schedulerMetricsPort,
  /** Packet signing and verification (CAPSTAN_REQUIRE_SIGNATURES, CAPSTAN_TRUSTED_KEYS, ...). */
  signatures: signatureConfigSpec,
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
  safetyKernelUrl: field({
    env: ['CAPSTAN_SAFETY_KERNEL_URL', 'SAFETY_KERNEL_URL'],
    key: 'safetyKernel.url',
    default: '',
    schema: kernelUrlSchema,
    expected: 'the safety kernel base URL such as http://127.0.0.1:50051, or empty for the allow-all policy',
    doc: 'Safety kernel the scheduler asks (Check) before every dispatch; empty allows every job (development).',
  }),
  safetyKernelProtocol: field<'grpc' | 'connect'>({
    env: 'CAPSTAN_SAFETY_KERNEL_PROTOCOL',
    key: 'safetyKernel.protocol',
    default: 'grpc',
    schema: z.enum(['grpc', 'connect']),
    fromEnv: (raw) => raw.trim().toLowerCase(),
    expected: 'grpc (HTTP/2) or connect (Connect protocol over HTTP/1.1)',
    doc: 'Wire protocol of the Check calls to the safety kernel.',
  }),
  policyTimeoutMs: field({
    env: 'CAPSTAN_POLICY_TIMEOUT_MS',
    key: 'scheduler.policyTimeoutMs',
    default: 2000,
    schema: milliseconds(1),
    fromEnv: parseIntegerEnv,
    expected: 'milliseconds ≥ 1',
    doc: 'Timeout of one Check call; a timeout counts as the kernel being unreachable.',
  }),
  policyCacheTtlMs: field({
    env: 'CAPSTAN_POLICY_CACHE_TTL_MS',
    key: 'scheduler.policyCacheTtlMs',
    default: 10_000,
    schema: milliseconds(0),
    fromEnv: parseIntegerEnv,
    expected: 'milliseconds ≥ 0 (0 disables the decision cache)',
    doc: 'How long a cached ALLOW / ALLOW_WITH_CONSTRAINTS / DENY is reused for an equal request (cacheable snapshots only).',
  }),
  policyCacheMaxEntries: field({
    env: 'CAPSTAN_POLICY_CACHE_MAX_ENTRIES',
    key: 'scheduler.policyCacheMaxEntries',
    default: 10_000,
    schema: z.number().int().min(1),
    fromEnv: parseIntegerEnv,
    expected: 'an integer ≥ 1',
    doc: 'Most decisions kept in the cache (least recently used dropped first).',
  }),
  policyBreakerFailures: field({
    env: 'CAPSTAN_POLICY_BREAKER_FAILURES',
    key: 'scheduler.policyBreakerFailures',
    default: 5,
    schema: z.number().int().min(1),
    fromEnv: parseIntegerEnv,
    expected: 'an integer ≥ 1',
    doc: 'Consecutive failed Check calls (timeouts, unreachable) that open the circuit breaker.',
  }),
  policyBreakerHalfOpenMs: field({
    env: 'CAPSTAN_POLICY_BREAKER_HALF_OPEN_MS',
    key: 'scheduler.policyBreakerHalfOpenMs',
    default: 5000,
    schema: milliseconds(1),
    fromEnv: parseIntegerEnv,
    expected: 'milliseconds ≥ 1',
    doc: 'How long the open breaker fails checks fast before it lets one trial call through.',
  }),
  approvalPollMs: field({
    env: 'CAPSTAN_APPROVAL_POLL_MS',
    key: 'scheduler.approvalPollMs',
    default: 2000,
    schema: milliseconds(10),
    fromEnv: parseIntegerEnv,
    expected: 'milliseconds ≥ 10',
    doc: 'First re-read of a parked job’s approval (growing to 60 s); decisions sent by the kernel apply at once.',
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
  streamReplicas: field({
    env: 'CAPSTAN_STREAM_REPLICAS',
    key: 'scheduler.streamReplicas',
    default: 1,
    schema: z.number().int().min(1).max(5),
    fromEnv: parseIntegerEnv,
    expected: 'an integer 1–5 (3 on a 3-node NATS cluster); at most the number of JetStream servers',
    doc: 'JetStream replicas of the submit, result and dead-letter streams the scheduler creates.',
  }),
  maxOpenJobs: field({
    env: 'CAPSTAN_MAX_OPEN_JOBS',
    key: 'scheduler.maxOpenJobs',
    default: 0,
    schema: z.number().int().min(0),
    fromEnv: parseIntegerEnv,
    expected: 'an integer ≥ 0 (0: no bound)',
    doc: 'Admission: while a replica holds this many queued or running jobs it takes no new submits, so the submit backlog fills and further submits are refused (429).',
  }),
  submitBacklogMax: field({
    env: 'CAPSTAN_SUBMIT_BACKLOG_MAX',
    key: 'scheduler.submitBacklogMax',
    default: 1_000_000,
    schema: z.number().int().min(1),
    fromEnv: parseIntegerEnv,
    expected: 'an integer ≥ 1',
    doc: 'Most submits waiting in JetStream for a scheduler; beyond it new submits are refused (admission control, 429 at the gateway).',
  }),
} as const;
