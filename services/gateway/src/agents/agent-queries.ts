import type { CapstanDatabase } from '@capstan/store';
import { type Kysely, type SelectQueryBuilder, sql } from 'kysely';
import type { AgentPresence, Availability } from './agent-presence.js';

type AgentQuery = SelectQueryBuilder<CapstanDatabase, 'agents', object>;

/**
 * Narrows an agents query to a live-availability value. Availability is not stored: it is pushed down as a
 * `worker_id` set from the in-memory presence table (bounded by the number of live workers).
 */
export function whereAvailability(query: AgentQuery, presence: AgentPresence, wanted: Availability): AgentQuery {
  const live = presence.liveWorkerIds();
  const busy = presence.busyWorkerIds();
  if (wanted === 'offline') return live.length === 0 ? query : query.where('worker_id', 'not in', live);
  const ids = wanted === 'busy' ? busy : live.filter((id) => !busy.includes(id));
  // An empty IN list is invalid SQL; no live worker means no match.
  return ids.length === 0 ? query.where((eb) => eb.val(false)) : query.where('worker_id', 'in', ids);
}

/** `status` filter: online (online or busy) / offline. */
export function whereStatus(query: AgentQuery, presence: AgentPresence, status: 'online' | 'offline'): AgentQuery {
  const live = presence.liveWorkerIds();
  if (status === 'offline') return live.length === 0 ? query : query.where('worker_id', 'not in', live);
  return live.length === 0 ? query.where((eb) => eb.val(false)) : query.where('worker_id', 'in', live);
}

/** The agents of one organization. */
export function agentsOf(db: Kysely<CapstanDatabase>, organizationId: string): AgentQuery {
  return db.selectFrom('agents').where('organization_id', '=', organizationId);
}

/** `capabilities @> ARRAY[capability]`: an exact tag match that can use the GIN index on `capabilities`. */
export function hasCapability(capability: string) {
  return sql<boolean>`capabilities @> ARRAY[${capability}]::text[]`;
}
