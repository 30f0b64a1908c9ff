import { randomBytes } from 'node:crypto';

/**
 * A fresh id such as `python-worker-3f9a1c`: CAP ids, worker ids and topic tokens allow `[A-Za-z0-9_-:]`, and the
 * readable prefix says in logs which scenario made it.
 */
export function newId(prefix: string): string {
  return `${prefix}-${randomBytes(3).toString('hex')}`;
}
