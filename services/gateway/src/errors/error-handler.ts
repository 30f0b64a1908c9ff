import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest, preHandlerAsyncHookHandler } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { TRACE_ID_HEADER } from '../http/trace-id.js';
import type { ErrorCodeName } from './error-codes.js';
import type { ErrorResponse } from './error-response.js';
import { type FieldError, type FieldLocation, GatewayError } from './gateway-error.js';

/** Fastify's request-parsing errors that are the client's fault, and the code each maps to. */
const FASTIFY_CLIENT_ERRORS: Readonly<Record<string, ErrorCodeName>> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'INVALID_REQUEST',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'INVALID_REQUEST',
  FST_ERR_CTP_INVALID_JSON_BODY: 'INVALID_REQUEST',
  FST_ERR_BAD_URL: 'INVALID_REQUEST',
  FST_ERR_MAX_PARAM_LENGTH: 'URI_TOO_LONG',
};

const LOCATIONS: Readonly<Record<string, FieldLocation>> = {
  body: 'body',
  querystring: 'query',
  params: 'params',
  headers: 'headers',
};

interface ZodValidationIssue {
  keyword: string;
  instancePath: string;
  message: string;
  params: Record<string, unknown>;
}

/** Turns fastify-type-provider-zod validation issues into field details, one per bad (or unknown) field. */
function validationDetails(issues: readonly ZodValidationIssue[], context: string | undefined): FieldError[] {
  const location = LOCATIONS[context ?? 'body'] ?? 'body';
  const details: FieldError[] = [];
  for (const issue of issues) {
    const base = issue.instancePath.split('/').filter((part) => part !== '');
    if (issue.keyword === 'unrecognized_keys' && Array.isArray(issue.params.keys)) {
      for (const key of issue.params.keys as string[]) {
        details.push({ field: [...base, key].join('.'), message: 'unknown field; remove it', location });
      }
      continue;
    }
    details.push({ field: base.join('.') || location, message: issue.message, location });
  }
  return details;
}

/** A validation failure is "missing fields" (3002) when every issue is a required value that is absent. */
function isOnlyMissingFields(issues: readonly ZodValidationIssue[]): boolean {
  return issues.every((issue) => issue.keyword === 'invalid_type' && / received undefined$/.test(issue.message ?? ''));
}

/**
 * Maps any thrown value to a {@link GatewayError}; unknown errors become INTERNAL (and are logged as such).
 * `bodyAbsent`: the request had no body at all (fastify validates that as `null`).
 */
export function toGatewayError(error: unknown, bodyAbsent = false): GatewayError {
  if (error instanceof GatewayError) return error;
  const fastifyError = error as FastifyError & { validationContext?: string };
  if (hasZodFastifySchemaValidationErrors(fastifyError)) {
    const issues = fastifyError.validation as unknown as ZodValidationIssue[];
    if (
      fastifyError.validationContext === 'body' &&
      issues.length === 1 &&
      issues[0]?.instancePath === '/' &&
      // One unknown top-level field is also reported at '/': that is a field error, not a wrong body.
      issues[0].keyword !== 'unrecognized_keys'
    ) {
      // The body as a whole is wrong (absent, or not an object): say so instead of naming a field.
      const received = / received (\w+)$/.exec(issues[0].message)?.[1] ?? 'something else';
      const missing = received === 'undefined' || (received === 'null' && bodyAbsent);
      return new GatewayError(
        missing ? 'MISSING_FIELDS' : 'INVALID_REQUEST',
        missing
          ? 'A JSON request body is required (Content-Type: application/json)'
          : `The request body must be a JSON object; received ${received}`,
        { details: [{ field: 'body', message: issues[0].message, location: 'body' }], cause: error },
      );
    }
    const details = validationDetails(issues, fastifyError.validationContext);
    const missing = isOnlyMissingFields(issues);
    const what =
      fastifyError.validationContext === 'querystring' ? 'query' : (fastifyError.validationContext ?? 'body');
    return new GatewayError(
      missing ? 'MISSING_FIELDS' : 'INVALID_REQUEST',
      missing
        ? `Missing required fields: ${details.map((d) => d.field).join(', ')}`
        : `Invalid request ${what}: ${details.map((d) => `${d.field}: ${d.message}`).join('; ')}`,
      { details, cause: error },
    );
  }
  const mapped = typeof fastifyError?.code === 'string' ? FASTIFY_CLIENT_ERRORS[fastifyError.code] : undefined;
  if (mapped) return new GatewayError(mapped, clientMessage(fastifyError), { cause: error });
  // Any other 4xx fastify raises while reading the request (e.g. a JSON syntax error) is the client's fault.
  const status = fastifyError?.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return new GatewayError('INVALID_REQUEST', clientMessage(fastifyError), { cause: error });
  }
  return new GatewayError('INTERNAL', undefined, { cause: error });
}

function clientMessage(error: FastifyError): string {
  const message = (error.message ?? '').replace(/^FST_\w+: /, '');
  if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return `Request body too large: ${message}`;
  if (error instanceof SyntaxError || error.code === 'FST_ERR_CTP_INVALID_JSON_BODY') {
    return `Request body is not valid JSON: ${message}`;
  }
  return message || 'Invalid request';
}

/** Builds the JSON error body. */
export function errorBody(error: GatewayError, traceId: string): ErrorResponse {
  return {
    error: {
      code: error.code,
      message: error.message,
      details: error.details.map((d) => ({ ...d })),
      trace_id: traceId,
    },
  };
}

/** Sends `error` as the gateway's JSON error response. */
export function sendError(request: FastifyRequest, reply: FastifyReply, error: GatewayError): FastifyReply {
  if (request.audit) request.audit.errorCode = error.code;
  for (const [name, value] of Object.entries(error.headers)) reply.header(name, value);
  return reply.code(error.statusCode).type('application/json; charset=utf-8').send(errorBody(error, request.id));
}

/**
 * Installs the one error handler: every error becomes the JSON error shape with its HTTP status; client
 * mistakes are 4xx with field details, and only genuine faults are 500 (logged with cause, never described to
 * the client).
 */
export function installErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler(async (error, request, reply) => {
    const length = request.headers['content-length'];
    const bodyAbsent = request.headers['content-type'] === undefined && (length === undefined || length === '0');
    const gatewayError = toGatewayError(error, bodyAbsent);
    if (gatewayError.statusCode === 413) await discardRestOfBody(request);
    if (gatewayError.statusCode >= 500) {
      request.log.error({ err: error, trace_id: request.id }, 'request failed');
    } else {
      request.log.debug({ code: gatewayError.code, msg: gatewayError.message }, 'request rejected');
    }
    return sendError(request, reply, gatewayError);
  });
}

/** Longest wait for the rest of an oversized body before answering 413 anyway. */
const DISCARD_BODY_MS = 5000;

/**
 * An oversized body that is still arriving (chunked, no Content-Length) is read to its end and thrown away before
 * the 413 goes out, for at most {@link DISCARD_BODY_MS}: answering and closing mid-upload resets the connection, and
 * the client never reads the 413. Nothing is buffered.
 */
async function discardRestOfBody(request: FastifyRequest): Promise<void> {
  const raw = request.raw;
  if (raw.complete || raw.destroyed) return;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(done, DISCARD_BODY_MS);
    function done() {
      clearTimeout(timer);
      raw.off('end', done).off('close', done).off('error', done);
      resolve();
    }
    raw.on('end', done).on('close', done).on('error', done);
    raw.resume();
  });
}

/**
 * fastify's `frameworkErrors` option: errors the router raises before any route runs (an undecodable URL such
 * as `/v1/agents/%ZZ`, an over-long path parameter) get the same JSON error shape and trace id header.
 */
export function frameworkErrorHandler(error: Error, request: FastifyRequest, reply: FastifyReply): void {
  reply.header(TRACE_ID_HEADER, request.id);
  sendError(request, reply, toGatewayError(error));
}

/** Answers unknown routes with 404, code 1001; `preHandler` (the rate limiter) runs first when given. */
export function installNotFoundHandler(app: FastifyInstance, preHandler?: preHandlerAsyncHookHandler): void {
  app.setNotFoundHandler(preHandler ? { preHandler } : {}, (request, reply) => {
    const path = request.url.split('?')[0] ?? request.url;
    return sendError(
      request,
      reply,
      new GatewayError('ROUTE_NOT_FOUND', `No route ${request.method} ${path.slice(0, 200)}; see /v1/openapi.json`),
    );
  });
}
