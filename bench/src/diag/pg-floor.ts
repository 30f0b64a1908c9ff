// `node --conditions=@capstan/source --import tsx bench/src/diag/pg-floor.ts`: a paced SELECT 1 round trip from Node
// to Postgres — the floor under the scheduler's commit on the dispatch path (see docs/benchmarks.md, dispatch-overhead).
import { createDatabase } from '@capstan/store';
import { startPostgres } from '@capstan/testkit';
import { sql } from 'kysely';
import { pacedLatency } from '../lib/paced-latency.js';
import { summarizeMicros } from '../lib/stats.js';

const pg = await startPostgres();
const store = await createDatabase({ url: pg.url });
const one = () => sql`SELECT 1`.execute(store.db);
for (let i = 0; i < 2000; i++) await one();
for (const rate of [100, 500])
  console.log(`SELECT 1 paced ${rate}/s`, summarizeMicros(await pacedLatency(one, rate, rate * 5)));
await store.close();
await pg.stop();
