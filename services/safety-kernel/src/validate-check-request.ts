import type { PolicyCheckRequest } from '@capstan/gen/cordum/agent/v1/safety_pb';
import { isValidSubject } from '@capstan/protocol';
import type { ConnectError } from '@connectrpc/connect';
import { MAX_ID_LENGTH, MAX_LABELS } from './limits.js';
import { invalidArgument } from './rpc-errors.js';

function tooLong(field: string, value: string): ConnectError | undefined {
  return value.length > MAX_ID_LENGTH
    ? invalidArgument(field, `${value.length} characters; expected at most ${MAX_ID_LENGTH}`)
    : undefined;
}

/**
 * Checks what every policy RPC needs from a PolicyCheckRequest, so a bad request gets INVALID_ARGUMENT naming the
 * field instead of an answer to a question nobody asked. `prefix` is prepended to field names (e.g. `requests[3].`).
 * Returns the first problem, or undefined.
 */
export function checkRequestProblem(request: PolicyCheckRequest | undefined, prefix = ''): ConnectError | undefined {
  if (!request) return invalidArgument(prefix.replace(/\.$/, '') || 'request', 'is required');
  const f = (name: string) => `${prefix}${name}`;
  if (request.topic === '') return invalidArgument(f('topic'), 'is required; expected a job topic such as "job.echo"');
  if (!isValidSubject(request.topic)) {
    return invalidArgument(
      f('topic'),
      `${JSON.stringify(request.topic.slice(0, MAX_ID_LENGTH))} is not a topic; expected dot-separated tokens of ` +
        'letters, digits, "_", "-" or ":" such as "job.echo"',
    );
  }
  const long =
    tooLong(f('job_id'), request.jobId) ??
    tooLong(f('tenant'), request.tenant) ??
    tooLong(f('principal_id'), request.principalId) ??
    tooLong(f('memory_id'), request.memoryId) ??
    tooLong(f('meta.tenant_id'), request.meta?.tenantId ?? '') ??
    tooLong(f('meta.actor_id'), request.meta?.actorId ?? '') ??
    tooLong(f('meta.capability'), request.meta?.capability ?? '');
  if (long) return long;
  if (!Number.isFinite(request.estimatedCost) || request.estimatedCost < 0) {
    return invalidArgument(f('estimated_cost'), `${request.estimatedCost} is not a cost; expected a finite number ≥ 0`);
  }
  const labels = Object.keys(request.labels).length + Object.keys(request.meta?.labels ?? {}).length;
  if (labels > MAX_LABELS) {
    return invalidArgument(f('labels'), `${labels} labels (labels + meta.labels); expected at most ${MAX_LABELS}`);
  }
  return undefined;
}

/** Throws the problem found by {@link checkRequestProblem}. */
export function assertValidCheckRequest(
  request: PolicyCheckRequest | undefined,
  prefix = '',
): asserts request is PolicyCheckRequest {
  const problem = checkRequestProblem(request, prefix);
  if (problem) throw problem;
}
