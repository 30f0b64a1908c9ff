import type { Migration } from 'kysely';
import * as busDeadLetters from './0001-bus-dead-letters.js';
import * as jobs from './0002-jobs.js';
import * as policy from './0003-policy.js';
import * as gateway from './0004-gateway.js';
import * as openJobs from './0005-open-jobs.js';

/**
 * Every migration, by name. Listed statically (not read from disk) so bundlers include them and the CLI
 * works from a single file. Names sort in execution order: add new ones as `NNNN-name` at the end.
 */
export const MIGRATIONS: Readonly<Record<string, Migration>> = {
  '0001-bus-dead-letters': busDeadLetters,
  '0002-jobs': jobs,
  '0003-policy': policy,
  '0004-gateway': gateway,
  '0005-open-jobs': openJobs,
};
