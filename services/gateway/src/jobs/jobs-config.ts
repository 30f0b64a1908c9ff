import { field, parseIntegerEnv } from '@capstan/config';
import { z } from 'zod';

const positiveInt = (min: number, max: number) => z.number().int().min(min).max(max);

/**
 * Configuration of the jobs and streaming surfaces (`/v1/jobs`, `/v1/dlq`, `/v1/workers`, `/ws/v1`, SSE), spread
 * into `gatewayConfigSpec` so every field is an env var / config-file key like the rest of the gateway's.
 */
export const jobsConfigFields = {
  jobInputMaxBytes: field({
    env: 'CAPSTAN_GATEWAY_JOB_INPUT_MAX_BYTES',
    key: 'gateway.jobs.inputMaxBytes',
    default: 512 * 1024,
    schema: positiveInt(1, 64 * 1024 * 1024),
    fromEnv: parseIntegerEnv,
    expected: 'bytes from 1 to 67108864',
    doc: 'Largest inline job input (`input` serialized as JSON, or `input_text`); larger inputs get 413 (code 1002). Every inline input is stored at redis://ctx:<job_id> (CAP passes inputs as pointers only); it must also fit in CAPSTAN_GATEWAY_BODY_LIMIT_BYTES.',
  }),
  jobInputTtlMs: field({
    env: 'CAPSTAN_GATEWAY_JOB_INPUT_TTL_MS',
    key: 'gateway.jobs.inputTtlMs',
    default: 24 * 60 * 60 * 1000,
    schema: positiveInt(60_000, 365 * 24 * 60 * 60 * 1000),
    fromEnv: parseIntegerEnv,
    expected: 'milliseconds from 60000 to 31536000000',
    doc: 'How long a stored inline input (redis://ctx:<job_id>) lives; a job still waiting for a worker after this loses its input.',
  }),
  jobAcceptedTtlMs: field({
    env: 'CAPSTAN_GATEWAY_JOB_ACCEPTED_TTL_MS',
    key: 'gateway.jobs.acceptedTtlMs',
    default: 60 * 60 * 1000,
    schema: positiveInt(10_000, 7 * 24 * 60 * 60 * 1000),
    fromEnv: parseIntegerEnv,
    expected: 'milliseconds from 10000 to 604800000',
    doc: 'How long the gateway remembers an accepted submit in Redis: GET shows it as ACCEPTED until the scheduler records it, and a reused Idempotency-Key with a different request is refused (409) within this window. After it, the jobs table alone answers a reused key.',
  }),
  jobSubmitMaxInFlight: field({
    env: 'CAPSTAN_GATEWAY_JOB_SUBMIT_MAX_IN_FLIGHT',
    key: 'gateway.jobs.submitMaxInFlight',
    default: 512,
    schema: positiveInt(1, 1_000_000),
    fromEnv: parseIntegerEnv,
    expected: 'an integer from 1 to 1000000',
    doc: 'Most POST /v1/jobs this replica processes at once; more get 503 (code 1016, Retry-After) before their body is read, so memory stays bounded under any load. Worst case held in request bodies: this × CAPSTAN_GATEWAY_BODY_LIMIT_BYTES.',
  }),
  jobResultMaxBytes: field({
    env: 'CAPSTAN_GATEWAY_JOB_RESULT_MAX_BYTES',
    key: 'gateway.jobs.resultMaxBytes',
    default: 8 * 1024 * 1024,
    schema: positiveInt(1024, 256 * 1024 * 1024),
    fromEnv: parseIntegerEnv,
    expected: 'bytes from 1024 to 268435456',
    doc: 'Largest result GET /v1/jobs/:id/result loads from the pointer store; larger results are refused (410, code 1009) with their pointer.',
  }),
  streamMaxBufferedBytes: field({
    env: 'CAPSTAN_GATEWAY_STREAM_MAX_BUFFERED_BYTES',
    key: 'gateway.streaming.maxBufferedBytes',
    default: 1024 * 1024,
    schema: positiveInt(1024, 256 * 1024 * 1024),
    fromEnv: parseIntegerEnv,
    expected: 'bytes from 1024 to 268435456',
    doc: 'Unsent bytes a WebSocket or SSE client may fall behind by; a slower client is evicted (WebSocket close 4008, SSE stream ended) instead of growing memory.',
  }),
  streamReplayLimit: field({
    env: 'CAPSTAN_GATEWAY_STREAM_REPLAY_LIMIT',
    key: 'gateway.streaming.replayLimit',
    default: 1000,
    schema: positiveInt(1, 100_000),
    fromEnv: parseIntegerEnv,
    expected: 'an integer from 1 to 100000',
    doc: 'Most stored job events replayed to a resuming WebSocket join or SSE stream; beyond it the client is told the replay was truncated.',
  }),
  sseHeartbeatMs: field({
    env: 'CAPSTAN_GATEWAY_SSE_HEARTBEAT_MS',
    key: 'gateway.streaming.sseHeartbeatMs',
    default: 15_000,
    schema: positiveInt(100, 300_000),
    fromEnv: parseIntegerEnv,
    expected: 'milliseconds from 100 to 300000',
    doc: 'Interval of the `: ping` comment lines that keep idle SSE streams open through proxies.',
  }),
  wsIdleTimeoutMs: field({
    env: 'CAPSTAN_GATEWAY_WS_IDLE_TIMEOUT_MS',
    key: 'gateway.streaming.wsIdleTimeoutMs',
    default: 60_000,
    schema: positiveInt(1000, 3_600_000),
    fromEnv: parseIntegerEnv,
    expected: 'milliseconds from 1000 to 3600000',
    doc: 'A WebSocket that sends nothing (not even a Phoenix heartbeat) for this long is closed (Phoenix clients beat every 30 s).',
  }),
} as const;
