import { type Kysely, sql } from 'kysely';

/**
 * Index of the jobs that are queued or running, so the schedulers' admission bound (`CAPSTAN_MAX_OPEN_JOBS`) can
 * count them several times a second: the count reads only these entries, however many finished jobs the table
 * holds.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE INDEX jobs_open_idx ON jobs (state)
    WHERE state IN ('PENDING', 'SCHEDULED', 'DISPATCHED', 'RUNNING', 'RETRYING')
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP INDEX IF EXISTS jobs_open_idx`.execute(db);
}
