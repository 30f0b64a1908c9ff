import type { CapstanDatabase } from '@capstan/store';
import type { Selectable } from 'kysely';
import { z } from 'zod';
import type { AgentPresence } from './agent-presence.js';

/** A stored agent row. */
export type AgentRow = Selectable<CapstanDatabase['agents']>;

/** Path words under /v1/agents that cannot be agent ids. */
const RESERVED_AGENT_IDS = new Set(['query', 'discover']);

/**
 * Agent (and worker) ids: letters, digits, `_ - :`, starting with a letter or digit, at most 128 characters —
 * valid NATS subject tokens (CAP `worker.<id>.jobs`), and nothing a path could be built from (`.`/`/`).
 */
export const agentIdSchema = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9_:-]{0,127}$/,
    'letters, digits, _ - : only, starting with a letter or digit, at most 128',
  )
  .refine((id) => !RESERVED_AGENT_IDS.has(id), 'reserved word; choose another id');

/** A capability tag, e.g. `summarization`. */
export const capabilitySchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/, 'letters, digits, _ . : - only, at most 64, e.g. summarization');

/** Availability filter values. */
export const availabilitySchema = z.enum(['online', 'busy', 'offline']);

/** Largest serialized `metadata` object accepted. */
export const MAX_METADATA_BYTES = 16 * 1024;

/** Free-form agent metadata: a JSON object of bounded size. */
export const metadataSchema = z
  .record(z.string().max(128), z.unknown())
  .refine((value) => Buffer.byteLength(JSON.stringify(value)) <= MAX_METADATA_BYTES, {
    message: `too large: at most ${MAX_METADATA_BYTES} bytes of JSON`,
  });

/** An agent as the API returns it. */
export const agentSchema = z
  .object({
    agent_id: z.string(),
    organization_id: z.string(),
    agent_type: z.string(),
    framework: z.string(),
    capabilities: z.array(z.string()),
    version: z.string(),
    metadata: z.record(z.string(), z.unknown()),
    worker_id: z.string().describe('CAP worker id whose sys.heartbeat makes this agent available'),
    availability: availabilitySchema.describe('online/busy from live heartbeats or connections, else offline'),
    status: z.enum(['online', 'offline']).describe('online when availability is online or busy'),
    registered_at: z.string(),
    updated_at: z.string(),
  })
  .meta({ id: 'Agent' });

/** The API view of an agent row with its live availability. */
export function toAgent(row: AgentRow, presence: AgentPresence): z.infer<typeof agentSchema> {
  const availability = presence.availability(row.worker_id);
  return {
    agent_id: row.agent_id,
    organization_id: row.organization_id,
    agent_type: row.agent_type,
    framework: row.framework,
    capabilities: row.capabilities,
    version: row.version,
    metadata: (row.metadata ?? {}) as Record<string, unknown>,
    worker_id: row.worker_id,
    availability,
    status: availability === 'offline' ? 'offline' : 'online',
    registered_at: row.registered_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}
