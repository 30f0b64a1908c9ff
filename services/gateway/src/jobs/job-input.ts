import {
  CAP_CONTEXT_KEY_PREFIX,
  CAP_RESULT_KEY_PREFIX,
  contextPointer,
  isPointerError,
  type PointerError,
  parsePointer,
} from '@capstan/pointers';
import type { GatewayContext } from '../app/gateway-context.js';
import { GatewayError } from '../errors/gateway-error.js';
import type { SubmitJobBody } from './job-schemas.js';

/** The input of a submit, ready to be stored: serialized bytes and their content type, or an existing pointer. */
export type PreparedInput =
  | { kind: 'none' }
  | { kind: 'inline'; data: string; contentType: string }
  | { kind: 'pointer'; uri: string };

/**
 * Serializes the inline `input` as JSON and checks it against the configured maximum, or takes `input_ptr` as
 * given (checked later by {@link checkInputPointer}).
 * @throws {GatewayError} 413 (1002) naming `input` when the input is larger than `maxBytes`.
 */
export function prepareInput(body: SubmitJobBody, maxBytes: number): PreparedInput {
  if (body.input_ptr !== undefined) return { kind: 'pointer', uri: body.input_ptr };
  if (body.input === undefined) return { kind: 'none' };
  const data = JSON.stringify(body.input);
  const size = Buffer.byteLength(data, 'utf8');
  if (size > maxBytes) {
    throw new GatewayError(
      'PAYLOAD_TOO_LARGE',
      `Job input too large: ${size} bytes; at most ${maxBytes} bytes inline`,
      {
        details: [
          {
            field: 'input',
            message: `${size} bytes of JSON; at most ${maxBytes} (CAPSTAN_GATEWAY_JOB_INPUT_MAX_BYTES). Store larger inputs yourself and pass input_ptr`,
            location: 'body',
          },
        ],
      },
    );
  }
  return { kind: 'inline', data, contentType: 'application/json' };
}

function badPointer(message: string): GatewayError {
  return new GatewayError('INVALID_REQUEST', `Invalid input_ptr: ${message}`, {
    details: [{ field: 'input_ptr', message, location: 'body' }],
  });
}

/**
 * Checks that an `input_ptr` names a payload the caller's organization owns, so a job can never be pointed at
 * another tenant's data: the input (`redis://ctx:<job_id>`) or result (`redis://res:<job_id>`) of one of the
 * organization's own jobs (the way to chain jobs), and that the payload is still there.
 * @throws {GatewayError} 400 (3001) naming `input_ptr`.
 */
export async function checkInputPointer(gateway: GatewayContext, tenant: string, uri: string): Promise<void> {
  let key: string;
  try {
    const pointer = parsePointer(uri);
    if (pointer.scheme !== 'redis') throw badPointer(`scheme ${pointer.scheme} not accepted here`);
    key = pointer.key;
  } catch (err) {
    if (err instanceof GatewayError) throw err;
    throw badPointer((err as Error).message);
  }
  const prefix = [CAP_CONTEXT_KEY_PREFIX, CAP_RESULT_KEY_PREFIX].find((p) => key.startsWith(p));
  const ownerJob = prefix === undefined ? '' : key.slice(prefix.length);
  const owned =
    ownerJob !== '' &&
    (await gateway.db
      .selectFrom('jobs')
      .select('job_id')
      .where('job_id', '=', ownerJob)
      .where('tenant', '=', tenant)
      .executeTakeFirst()) !== undefined;
  if (!owned) {
    throw badPointer(
      'expected redis://ctx:<job_id> or redis://res:<job_id> of a job of your organization (other payloads cannot be referenced)',
    );
  }
  try {
    await gateway.pointers.head(uri);
  } catch (err) {
    if (isPointerError(err, 'NOT_FOUND') || isPointerError(err, 'EXPIRED'))
      throw badPointer(`nothing is stored at ${uri}`);
    throw pointerFailure(err, 'check the input pointer');
  }
}

/**
 * Stores an inline input at `redis://ctx:<job_id>` (CAP workers read it there) and returns the pointer; an
 * existing pointer is returned unchanged; no input → empty pointer.
 */
export async function storeInput(
  gateway: GatewayContext,
  jobId: string,
  input: PreparedInput,
  ttlMs: number,
): Promise<string> {
  if (input.kind === 'none') return '';
  if (input.kind === 'pointer') return input.uri;
  const uri = contextPointer(jobId);
  try {
    await gateway.pointers.put(uri, input.data, { contentType: input.contentType, ttlMs });
  } catch (err) {
    throw pointerFailure(err, 'store the job input');
  }
  return uri;
}

/** Maps a pointer-store failure to the gateway's errors: the store being down is a 503, anything else a 500. */
export function pointerFailure(err: unknown, what: string): GatewayError {
  if (isPointerError(err, 'BACKEND_UNAVAILABLE')) {
    return new GatewayError('SERVICE_UNAVAILABLE', `Cannot ${what}: the payload store is unavailable; retry later`, {
      cause: err,
      headers: { 'retry-after': '1' },
    });
  }
  return new GatewayError('INTERNAL', undefined, { cause: err as PointerError });
}
