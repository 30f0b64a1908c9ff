/**
 * @capstan/worker — the Capstan TypeScript worker SDK for CAP jobs (`createWorker`), and a small client to submit
 * jobs and wait for their outcome (`createClient`).
 */
export {
  type JobAbortReason,
  JobCancelledError,
  JobDeadlineExceededError,
  WorkerShutdownError,
} from './abort-reasons.js';
export {
  type CancelOptions,
  type Client,
  type ClientOptions,
  createClient,
  type PriorityName,
  type SubmitBudget,
  type SubmitOptions,
  type SubmitReceipt,
} from './client.js';
export { createWorker, type ShutdownOptions, type Worker, type WorkerStats } from './create-worker.js';
export {
  ClientArgumentError,
  ResultReadError,
  SubmitError,
  SubmitRefusedError,
  WaitForResultTimeoutError,
  WorkerOptionsError,
  WorkerStartError,
} from './errors.js';
export type { JobContext, JobHandler, WriteArtifactOptions } from './job-context.js';
export { ABSOLUTE_DEADLINE_THRESHOLD_MS } from './job-deadline.js';
export { JobFailure, type JobFailureCode, type JobFailureOptions } from './job-failure.js';
export { SDK_VERSION, WORKER_TYPE } from './sdk-version.js';
export {
  CTL_JOB_GET_TIMEOUT_MS,
  DEFAULT_WAIT_TIMEOUT_MS,
  type FinalJobState,
  type JobResultView,
  type WaitOptions,
} from './watch-job.js';
export {
  DEFAULT_CONCURRENCY,
  DEFAULT_DEDUPE_CACHE_SIZE,
  DEFAULT_HEARTBEAT_INTERVAL_MS,
  DEFAULT_SHUTDOWN_TIMEOUT_MS,
  MAX_CONCURRENCY,
  MAX_HEARTBEAT_INTERVAL_MS,
  MIN_HEARTBEAT_INTERVAL_MS,
  type ResolvedWorkerOptions,
  resolveWorkerOptions,
  type WorkerOptions,
} from './worker-options.js';
