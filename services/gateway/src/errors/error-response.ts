import { z } from 'zod';

/** Schema of one entry of `error.details`. */
export const fieldErrorSchema = z
  .object({
    field: z.string().describe('Dotted path of the field, e.g. `scopes.0`'),
    message: z.string().describe('What is wrong and what is expected'),
    location: z.enum(['body', 'query', 'params', 'headers']).optional().describe('Part of the request'),
  })
  .meta({ id: 'FieldError' });

/** Schema of every error response body; shared by the error handler and the OpenAPI document. */
export const errorResponseSchema = z
  .object({
    error: z.object({
      code: z.number().int().describe('Numeric error code (see the error table in docs/gateway.md)'),
      message: z.string(),
      details: z.array(fieldErrorSchema),
      trace_id: z.string().describe('Correlates the response with server logs (also in the x-trace-id header)'),
    }),
  })
  .meta({ id: 'ErrorResponse' });

/** An error response body. */
export type ErrorResponse = z.infer<typeof errorResponseSchema>;
