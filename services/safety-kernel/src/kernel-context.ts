import type { VelocityCounter } from '@capstan/policy';
import type { CapstanDatabase } from '@capstan/store';
import type { NatsConnection } from '@nats-io/nats-core';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { ApprovalStore } from './approval-store.js';
import type { DecisionRecorder } from './decision-recorder.js';
import type { KernelMetrics } from './kernel-metrics.js';
import type { SnapshotRegistry } from './snapshot-registry.js';
import type { SnapshotStore } from './snapshot-store.js';

/** Everything the RPC implementations share inside one kernel replica. */
export interface KernelContext {
  db: Kysely<CapstanDatabase>;
  nc: NatsConnection;
  logger: Logger;
  registry: SnapshotRegistry;
  snapshots: SnapshotStore;
  approvals: ApprovalStore;
  decisions: DecisionRecorder;
  metrics: KernelMetrics;
  /** The shared (Redis) velocity counter Check counts in. */
  velocity: VelocityCounter;
  /** Snapshots listed by ListSnapshots / ListBundles. */
  keepSnapshots: number;
  /** Lifetime of new approvals. */
  approvalTtlMs: number;
  /** Clock (ms since the epoch); tests may pin it. */
  now(): number;
}
