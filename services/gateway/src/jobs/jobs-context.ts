import type { Bus } from '@capstan/bus';
import { createPointerStore, type PointerStore } from '@capstan/pointers';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { GatewayServiceConfig } from '../gateway-config.js';
import { createJobEventHub, type JobEventHub } from '../streaming/job-event-hub.js';
import { createStreamRegistry, type StreamRegistry } from '../streaming/stream-registry.js';
import { type AcceptedJobs, createAcceptedJobs } from './accepted-jobs.js';
import { createSubmitLimiter, type SubmitLimiter } from './submit-admission.js';

/** The shared clients of the jobs and streaming surfaces (part of `GatewayContext`). */
export interface JobsContext {
  /** Payload pointers (job inputs and results) on the shared Redis client, `redis://` only. */
  pointers: PointerStore;
  /** Submits accepted but not yet recorded by the scheduler, and idempotency fingerprints (Redis). */
  acceptedJobs: AcceptedJobs;
  /** Bounds this replica's submits in progress (`CAPSTAN_GATEWAY_JOB_SUBMIT_MAX_IN_FLIGHT`). */
  submitLimiter: SubmitLimiter;
  /** One NATS subscription per tenant to the scheduler's job events, shared by every WebSocket and SSE client. */
  jobEvents: JobEventHub;
  /** Open WebSocket sessions and SSE streams of this replica. */
  streams: StreamRegistry;
}

/** Options of {@link createJobsContext}. */
export interface JobsContextOptions {
  config: GatewayServiceConfig;
  redis: Redis;
  bus: Bus;
  logger: Logger;
}

/** Builds the {@link JobsContext}; `close()` releases what it opened (never the Redis client or the bus). */
export function createJobsContext(options: JobsContextOptions): { context: JobsContext; close(): Promise<void> } {
  const { config, redis, bus, logger } = options;
  const pointers = createPointerStore({
    redis,
    allowedSchemes: ['redis'],
    // Inputs are bounded by jobInputMaxBytes before they get here; this bounds what is read back.
    maxBytes: Math.max(config.jobInputMaxBytes, config.jobResultMaxBytes),
  });
  const jobEvents = createJobEventHub(bus.nc, logger.child({ component: 'job-event-hub' }));
  return {
    context: {
      pointers,
      acceptedJobs: createAcceptedJobs(redis, config.jobAcceptedTtlMs),
      submitLimiter: createSubmitLimiter(config.jobSubmitMaxInFlight),
      jobEvents,
      streams: createStreamRegistry(),
    },
    async close() {
      jobEvents.close();
      await pointers.close();
    },
  };
}
