import type { CapstanDatabase } from '@capstan/store';
import type { Selectable } from 'kysely';
import { z } from 'zod';
import { cursorPaginationSchema } from '../http/pagination.js';
import { fitsPgBigint } from '../http/pg-ranges.js';

/** A `job_dlq` row as selected. */
export type DlqRow = Selectable<CapstanDatabase['job_dlq']>;

/** Dead-letter entry ids: the decimal `job_dlq.id` (an int8). Anything else is a 400 naming `id`. */
export const dlqIdSchema = z
  .string()
  .regex(/^[1-9][0-9]{0,18}$/, 'not a dead-letter entry id: a positive integer')
  .refine(fitsPgBigint, 'not a dead-letter entry id: larger than any there can be');

/** A dead-letter entry as the API returns it. */
export const dlqEntrySchema = z
  .object({
    id: z.string(),
    job_id: z.string(),
    topic: z.string(),
    reason: z.string().describe('Why the job was dead-lettered, e.g. fatal, max_retries_exceeded, safety_denied'),
    final_state: z.string(),
    error_code: z.string(),
    error_message: z.string(),
    attempt: z.number().int(),
    created_at: z.string(),
    retried_job_id: z.string().nullable(),
    retried_at: z.string().nullable(),
    retried_by: z.string().nullable(),
  })
  .meta({ id: 'DeadLetterEntry' });

/** Answer of `GET /v1/dlq`. */
export const dlqListSchema = z.object({ entries: z.array(dlqEntrySchema), pagination: cursorPaginationSchema });

/** The API view of a `job_dlq` row. */
export function toDlqEntry(row: DlqRow): z.infer<typeof dlqEntrySchema> {
  return {
    id: String(row.id),
    job_id: row.job_id,
    topic: row.topic,
    reason: row.reason,
    final_state: row.final_state,
    error_code: row.error_code,
    error_message: row.error_message,
    attempt: row.attempt,
    created_at: row.created_at.toISOString(),
    retried_job_id: row.retried_job_id,
    retried_at: row.retried_at === null ? null : row.retried_at.toISOString(),
    retried_by: row.retried_by,
  };
}
