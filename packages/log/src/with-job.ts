import type { CapstanLogger } from './create-logger.js';

/** The job a log line is about; every field is optional because not every caller knows all three. */
export interface JobLogContext {
  /** CAP trace id (`BusPacket.trace_id`), written as `trace_id`. */
  traceId?: string;
  /** CAP job id, written as `job_id`. */
  jobId?: string;
  /** Tenant the job belongs to, written as `tenant`. */
  tenant?: string;
}

/**
 * Returns a child logger whose lines carry `trace_id`, `job_id` and `tenant` — the snake_case names used on the
 * wire, so a log search for a CAP trace id finds Capstan's lines too. Missing fields are left out, not logged empty.
 */
export function withJob(logger: CapstanLogger, context: JobLogContext): CapstanLogger {
  const bindings: Record<string, string> = {};
  if (context.traceId) bindings.trace_id = context.traceId;
  if (context.jobId) bindings.job_id = context.jobId;
  if (context.tenant) bindings.tenant = context.tenant;
  return logger.child(bindings);
}
