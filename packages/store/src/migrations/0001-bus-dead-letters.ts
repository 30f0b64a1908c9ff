import { type Kysely, sql } from 'kysely';

/**
 * `bus_dead_letters`: packets a bus consumer refused, persisted so operators can inspect and replay them.
 * Migrations take `Kysely<unknown>`: they must describe the schema as it was at that version, not today's types.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('bus_dead_letters')
    .addColumn('id', 'bigint', (col) => col.primaryKey().generatedAlwaysAsIdentity())
    .addColumn('subject', 'text', (col) => col.notNull())
    .addColumn('code', 'text', (col) => col.notNull())
    .addColumn('reason', 'text', (col) => col.notNull())
    .addColumn('sender_id', 'text')
    .addColumn('trace_id', 'text')
    .addColumn('consumer', 'text', (col) => col.notNull())
    .addColumn('original', 'bytea', (col) => col.notNull())
    .addColumn('received_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .execute();
  // Listing and pruning go by time.
  await db.schema
    .createIndex('bus_dead_letters_received_at_idx')
    .on('bus_dead_letters')
    .column('received_at')
    .execute();
}

/** Drops the table (and its index). */
export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('bus_dead_letters').execute();
}
