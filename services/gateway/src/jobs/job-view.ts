import { fromBinary } from '@bufbuild/protobuf';
import { type JobRequest, JobRequestSchema } from '@capstan/gen/cordum/agent/v1/job_pb';
import type { CapstanDatabase } from '@capstan/store';
import type { Selectable } from 'kysely';
import type { AcceptedJob } from './accepted-jobs.js';
import { type ApiJobState, JOB_STATES, type JobView, PRIORITY_NAMES } from './job-schemas.js';

/** A `jobs` row as selected. */
export type JobRow = Selectable<CapstanDatabase['jobs']>;

const iso = (value: Date | null): string | null => (value === null ? null : value.toISOString());
const orNull = (value: string): string | null => (value === '' ? null : value);

/** The state as the API names it; a state this gateway does not know (a newer scheduler) reads as unfinished. */
export function apiState(state: string): ApiJobState {
  return (JOB_STATES as readonly string[]).includes(state) ? (state as ApiJobState) : 'PENDING';
}

function decodeRequest(bytes: Uint8Array): JobRequest | undefined {
  try {
    return fromBinary(JobRequestSchema, bytes);
  } catch {
    // A row written by a foreign scheduler with an unreadable request still has every other column.
    return undefined;
  }
}

/** The API view of a job row (decodes the stored `JobRequest` for labels and the input pointer). */
export function toJob(row: JobRow): JobView {
  const request = decodeRequest(row.request);
  const hasDecision = row.decision !== '' || row.decision_reason !== '' || row.policy_snapshot !== '';
  return {
    job_id: row.job_id,
    topic: row.topic,
    state: apiState(row.state),
    priority: PRIORITY_NAMES[row.priority] ?? 'unspecified',
    attempt: row.attempt,
    max_retries: row.max_retries,
    worker_id: orNull(row.worker_id),
    trace_id: row.trace_id,
    idempotency_key: row.idempotency_key,
    labels: { ...(request?.labels ?? {}) },
    input_ptr: orNull(request?.contextPtr ?? ''),
    result_ptr: orNull(row.result_ptr),
    artifact_ptrs: row.artifact_ptrs,
    decision: hasDecision
      ? {
          decision: row.decision,
          reason: row.decision_reason,
          policy_snapshot: row.policy_snapshot,
          rule_id: row.rule_id,
          approval_ref: row.approval_ref,
          constraints: row.constraints ?? null,
        }
      : null,
    progress: { percent: row.progress_pct, message: row.progress_message },
    error:
      row.error_code !== '' || row.error_message !== '' ? { code: row.error_code, message: row.error_message } : null,
    wait_reason: orNull(row.wait_reason),
    dlq_reason: orNull(row.dlq_reason),
    cancel_requested: row.cancel_requested,
    parent_job_id: orNull(row.parent_job_id),
    workflow_id: orNull(row.workflow_id),
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
    dispatched_at: iso(row.dispatched_at),
    started_at: iso(row.started_at),
    finished_at: iso(row.finished_at),
    deadline_at: iso(row.deadline_at),
  };
}

/** The view of a job the gateway accepted but the scheduler has not recorded yet (state `ACCEPTED`). */
export function acceptedJobView(jobId: string, accepted: AcceptedJob, inputPtr: string | null = null): JobView {
  const at = new Date(accepted.acceptedAt).toISOString();
  return {
    job_id: jobId,
    topic: accepted.topic,
    state: 'ACCEPTED',
    priority: 'unspecified',
    attempt: 0,
    max_retries: 0,
    worker_id: null,
    trace_id: accepted.traceId,
    idempotency_key: null,
    labels: {},
    input_ptr: inputPtr,
    result_ptr: null,
    artifact_ptrs: [],
    decision: null,
    progress: { percent: 0, message: '' },
    error: null,
    wait_reason: null,
    dlq_reason: null,
    cancel_requested: false,
    parent_job_id: null,
    workflow_id: null,
    created_at: at,
    updated_at: at,
    dispatched_at: null,
    started_at: null,
    finished_at: null,
    deadline_at: null,
  };
}
