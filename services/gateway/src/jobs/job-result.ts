import { isTerminal, type JobState } from '@capstan/jobs';
import { isPointerError } from '@capstan/pointers';
import type { z } from 'zod';
import type { GatewayContext } from '../app/gateway-context.js';
import { GatewayError } from '../errors/gateway-error.js';
import { pointerFailure } from './job-input.js';
import type { LocatedJob } from './job-lookup.js';
import type { jobResultSchema } from './job-schemas.js';
import { apiState } from './job-view.js';

/** Answer of `GET /v1/jobs/:id/result`. */
export type JobResultView = z.infer<typeof jobResultSchema>;

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Decodes result bytes the way they were most likely meant: JSON, else UTF-8 text, else base64. */
function decodeOutput(data: Uint8Array): Pick<JobResultView, 'output' | 'output_text' | 'output_base64'> {
  let text: string;
  try {
    text = utf8.decode(data);
  } catch {
    return { output: null, output_text: null, output_base64: Buffer.from(data).toString('base64') };
  }
  try {
    return { output: JSON.parse(text) as unknown, output_text: null, output_base64: null };
  } catch {
    return { output: null, output_text: text, output_base64: null };
  }
}

/**
 * Dereferences the result pointer of a finished job. Unfinished jobs (including ones not yet recorded) get 409
 * code 1008; a finished job without a result pointer answers with its state and error only; a pointer whose
 * payload expired, is too large or lives where this gateway cannot read gets 410 code 1009 naming the pointer.
 */
export async function readJobResult(gateway: GatewayContext, jobId: string, job: LocatedJob): Promise<JobResultView> {
  if (job.kind === 'accepted' || !isTerminal(job.row.state as JobState)) {
    const state = job.kind === 'accepted' ? 'ACCEPTED' : job.row.state;
    throw new GatewayError('JOB_NOT_FINISHED', `Job ${jobId} is ${state}, not finished; it has no result yet`, {
      details: [
        {
          field: 'id',
          message: `state ${state}; retry after it ends, or follow GET /v1/jobs/${jobId}/stream`,
          location: 'params',
        },
      ],
      headers: { 'retry-after': '1' },
    });
  }
  const row = job.row;
  const base: JobResultView = {
    job_id: jobId,
    state: apiState(row.state),
    result_ptr: row.result_ptr || null,
    content_type: null,
    size: null,
    output: null,
    output_text: null,
    output_base64: null,
    error:
      row.error_code !== '' || row.error_message !== '' ? { code: row.error_code, message: row.error_message } : null,
  };
  if (!row.result_ptr) return base;
  try {
    const { data, info } = await gateway.pointers.get(row.result_ptr);
    return { ...base, content_type: info.contentType, size: info.size, ...decodeOutput(data) };
  } catch (err) {
    if (
      isPointerError(err, 'NOT_FOUND') ||
      isPointerError(err, 'EXPIRED') ||
      isPointerError(err, 'TOO_LARGE') ||
      isPointerError(err, 'SCHEME_NOT_ALLOWED') ||
      isPointerError(err, 'NOT_ALLOWED') ||
      isPointerError(err, 'INVALID_POINTER') ||
      isPointerError(err, 'CHECKSUM_MISMATCH')
    ) {
      throw new GatewayError(
        'JOB_RESULT_UNAVAILABLE',
        `The result of job ${jobId} at ${row.result_ptr} cannot be served: ${err.message}`,
        {
          cause: err,
        },
      );
    }
    throw pointerFailure(err, `read the result of job ${jobId}`);
  }
}
