import type { Client, SubmitOptions } from '@capstan/worker';
import type { SubmitRecord } from './history.js';
import type { HistoryRecorder } from './history-recorder.js';
import type { FaultJobInput } from './side-effects.js';

/** What to submit: a fault job and the terminal states the test allows for it. */
export interface FaultSubmit {
  input: FaultJobInput;
  /** Terminal states allowed. @default ['SUCCEEDED'] */
  expect?: readonly string[];
  /** @default a new id `<prefix>-<n>` */
  jobId?: string;
  idempotencyKey?: string;
  workflowId?: string;
  stepIndex?: number;
  /** Give the job a compensation (same topic and input) so a later fatal step of its workflow undoes it. */
  compensate?: boolean;
}

/** Submits fault jobs through the Capstan client and records each submit and its JetStream ack. */
export interface JobSubmitter {
  readonly topic: string;
  readonly tenant: string;
  /** Submits one job; resolves with its record once acked or failed (never rejects). */
  submit(job: FaultSubmit): Promise<SubmitRecord>;
}

/** Creates a {@link JobSubmitter} for one topic and tenant. */
export function createJobSubmitter(opts: {
  client: Client;
  recorder: HistoryRecorder;
  topic: string;
  tenant: string;
  /** Job id prefix. */
  prefix: string;
}): JobSubmitter {
  let n = 0;
  return {
    topic: opts.topic,
    tenant: opts.tenant,
    async submit(job) {
      const jobId = job.jobId ?? `${opts.prefix}-${++n}`;
      const record = opts.recorder.recordSubmit({
        jobId,
        tenant: opts.tenant,
        expect: job.expect ?? ['SUCCEEDED'],
        submittedAt: Date.now(),
        ...(job.idempotencyKey ? { idempotencyKey: job.idempotencyKey } : {}),
      });
      const options: SubmitOptions = {
        topic: opts.topic,
        tenant: opts.tenant,
        jobId,
        input: job.input,
        ...(job.idempotencyKey ? { idempotencyKey: job.idempotencyKey } : {}),
        ...(job.workflowId ? { workflowId: job.workflowId } : {}),
        ...(job.stepIndex !== undefined ? { stepIndex: job.stepIndex } : {}),
        ...(job.compensate ? { compensation: { topic: opts.topic } } : {}),
      };
      try {
        await opts.client.submit(options);
        record.ackedAt = Date.now();
      } catch (err) {
        record.error = (err as Error).message;
        record.failedAt = Date.now();
      }
      return record;
    },
  };
}
