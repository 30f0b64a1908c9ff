import { fromBinary } from '@bufbuild/protobuf';
import { JobRequestSchema } from '@capstan/gen/cordum/agent/v1/job_pb';
import type { JobState } from '@capstan/jobs';
import { type CapstanDatabase, createGroupCommit, type GroupCommit, preparedSql } from '@capstan/store';
import { CompiledQuery, type Kysely, type RawBuilder, sql } from 'kysely';
import type { JobRecord } from './job-record.js';
import type { JobChange } from './lifecycle.js';
import { type ApprovalRecord, expireApproval, loadActivePolicySnapshot, loadApproval } from './policy-store.js';

/** Outcome of committing one change. */
export interface CommitResult {
  /** False when the row was not at the expected version (someone else changed it) or, for inserts, already existed. */
  ok: boolean;
  /** The change started a saga rollback (first start wins). */
  rollbackStarted?: boolean;
}

/** A DLQ row. */
export interface DlqRow {
  id: string;
  jobId: string;
  tenant: string;
  topic: string;
  reason: string;
  finalState: string;
  errorCode: string;
  errorMessage: string;
  attempt: number;
  createdAt: Date;
  retriedJobId: string | null;
}

/** A recorded saga compensation. */
export interface SagaStepRow {
  jobId: string;
  workflowId: string;
  tenant: string;
  stepIndex: number;
  compensationRequest: Uint8Array;
  compensationJobId: string | null;
}

/** Postgres access of the scheduler. Writes go through group commit; every update is compare-and-set on `version`. */
export interface JobRepository {
  commit(change: JobChange): Promise<CommitResult>;
  /** Progress fields only, coalesced; no version bump (never conflicts with lifecycle writes). */
  writeProgress(jobId: string, pct: number, message: string): void;
  load(jobId: string): Promise<JobRecord | undefined>;
  loadMany(jobIds: readonly string[]): Promise<JobRecord[]>;
  /** The stored version of each of `jobIds` that exists. */
  versions(jobIds: readonly string[]): Promise<Map<string, number>>;
  findByIdempotencyKey(tenant: string, key: string): Promise<string | undefined>;
  /** Non-terminal jobs whose next action is due at or before `before`. */
  findDue(before: number, limit: number): Promise<JobRecord[]>;
  /** Jobs held by workers (DISPATCHED/RUNNING with a worker id) that are not in `liveWorkers`. */
  findHeldByGoneWorkers(liveWorkers: readonly string[], limit: number): Promise<JobRecord[]>;
  /** Jobs queued or running (PENDING, SCHEDULED, DISPATCHED, RUNNING, RETRYING), across every replica. */
  countOpen(): Promise<number>;
  /** Direct dispatches not yet claimed (still DISPATCHED, not being cancelled) last written before `writtenBefore`. */
  findUnclaimedDirect(writtenBefore: number, limit: number): Promise<JobRecord[]>;
  /** DISPATCHED/RUNNING jobs held by one of `workers` and last written before `writtenBefore` (epoch ms). */
  findHeldByWorkers(workers: readonly string[], writtenBefore: number, limit: number): Promise<JobRecord[]>;
  listDlq(opts: { tenant?: string; limit?: number; afterId?: string }): Promise<DlqRow[]>;
  getDlq(id: string): Promise<DlqRow | undefined>;
  /** Marks a DLQ entry retried; false if it already was. */
  markDlqRetried(id: string, newJobId: string, by: string): Promise<boolean>;
  sagaSteps(tenant: string, workflowId: string): Promise<SagaStepRow[]>;
  /** Claims a compensation to start; false if another run already claimed it. */
  claimCompensation(jobId: string, compensationJobId: string): Promise<boolean>;
  finishRollback(tenant: string, workflowId: string): Promise<void>;
  unfinishedRollbacks(limit: number): Promise<{ tenant: string; workflowId: string }[]>;
  /** Acquires or renews a named lease; returns its fencing epoch when held, undefined otherwise. */
  acquireLease(name: string, holder: string, ttlMs: number): Promise<number | undefined>;
  releaseLease(name: string, holder: string): Promise<void>;
  /** DISPATCHED/RUNNING jobs of a tenant (for `max_concurrent_jobs`; only asked for constrained jobs). */
  countActive(tenant: string): Promise<number>;
  /** The safety kernel's approval row (`policy_approvals`) a parked job refers to. */
  getApproval(approvalId: string): Promise<ApprovalRecord | undefined>;
  /** Marks a PENDING approval EXPIRED; false when it was decided meanwhile. */
  expireApproval(approvalId: string): Promise<boolean>;
  /** The active policy snapshot per `policy_activations`, with its cacheable flag; undefined when none. */
  activePolicySnapshot(): Promise<{ snapshotId: string; cacheable: boolean } | undefined>;
  /** Waits for queued writes. */
  drain(): Promise<void>;
}

/** Options for {@link createJobRepository}. */
export interface JobRepositoryOptions {
  /** Largest group-commit batch; @default 500 */
  maxBatch?: number;
  /** Concurrent group-commit transactions (≤ pool size; 1 for PGlite); @default 2 */
  maxConcurrentFlushes?: number;
  /** Changes waiting before a flush starts beside a running one (see `concurrentAfter`); @default 32 */
  concurrentFlushAfter?: number;
}

const JOB_COLUMNS = [
  'job_id',
  'tenant',
  'topic',
  'state',
  'version',
  'attempt',
  'lease_epoch',
  'max_retries',
  'priority',
  'request',
  'trace_id',
  'sender_id',
  'idempotency_key',
  'workflow_id',
  'parent_job_id',
  'step_index',
  'compensation_of',
  'worker_id',
  'fenced_workers',
  'direct_dispatch',
  'result_ptr',
  'artifact_ptrs',
  'error_code',
  'error_message',
  'decision',
  'decision_reason',
  'policy_snapshot',
  'rule_id',
  'constraints',
  'approval_ref',
  'progress_pct',
  'progress_message',
  'wait_reason',
  'wait_since',
  'dlq_reason',
  'cancel_requested',
  'next_action_at',
  'deadline_at',
  'created_at',
  'updated_at',
  'dispatched_at',
  'started_at',
  'finished_at',
] as const;

/** Columns written once, at insert: identity and the request as accepted. */
const IMMUTABLE: ReadonlySet<string> = new Set([
  'job_id',
  'tenant',
  'topic',
  'priority',
  'request',
  'trace_id',
  'sender_id',
  'idempotency_key',
  'workflow_id',
  'parent_job_id',
  'step_index',
  'compensation_of',
  'created_at',
]);

/** Columns an update rewrites: everything else. */
const MUTABLE: readonly (typeof JOB_COLUMNS)[number][] = JOB_COLUMNS.filter((c) => !IMMUTABLE.has(c));

const CAST: Record<(typeof JOB_COLUMNS)[number], string> = {
  job_id: 'text',
  tenant: 'text',
  topic: 'text',
  state: 'text',
  version: 'int4',
  attempt: 'int4',
  lease_epoch: 'int4',
  max_retries: 'int4',
  priority: 'int4',
  request: 'bytea',
  trace_id: 'text',
  sender_id: 'text',
  idempotency_key: 'text',
  workflow_id: 'text',
  parent_job_id: 'text',
  step_index: 'int4',
  compensation_of: 'text',
  worker_id: 'text',
  fenced_workers: 'text[]',
  direct_dispatch: 'bool',
  result_ptr: 'text',
  artifact_ptrs: 'text[]',
  error_code: 'text',
  error_message: 'text',
  decision: 'text',
  decision_reason: 'text',
  policy_snapshot: 'text',
  rule_id: 'text',
  constraints: 'jsonb',
  approval_ref: 'text',
  progress_pct: 'int4',
  progress_message: 'text',
  wait_reason: 'text',
  wait_since: 'timestamptz',
  dlq_reason: 'text',
  cancel_requested: 'bool',
  next_action_at: 'timestamptz',
  deadline_at: 'timestamptz',
  created_at: 'timestamptz',
  updated_at: 'timestamptz',
  dispatched_at: 'timestamptz',
  started_at: 'timestamptz',
  finished_at: 'timestamptz',
};

// One group commit stamps many rows with the same instant: format each distinct one once (toISOString showed up
// at ~5 % of the scheduler's CPU under load).
let lastTsMs = Number.NaN;
let lastTsIso = '';
const ts = (ms: number | null) => {
  if (ms === null) return null;
  if (ms !== lastTsMs) {
    lastTsMs = ms;
    lastTsIso = new Date(ms).toISOString();
  }
  return lastTsIso;
};
/** Postgres array literal for text[] (arrays as parameters differ between pg and PGlite; a literal works in both). */
const textArray = (values: readonly string[]) =>
  `{${values.map((v) => `"${v.replace(/["\\]/g, (c) => `\\${c}`)}"`).join(',')}}`;

function columnValue(r: JobRecord, col: (typeof JOB_COLUMNS)[number]): unknown {
  switch (col) {
    case 'job_id':
      return r.jobId;
    case 'tenant':
      return r.tenant;
    case 'topic':
      return r.topic;
    case 'state':
      return r.state;
    case 'version':
      return r.version;
    case 'attempt':
      return r.attempt;
    case 'lease_epoch':
      return r.leaseEpoch;
    case 'max_retries':
      return r.maxRetries;
    case 'priority':
      return r.priority;
    case 'request':
      return r.requestBytes;
    case 'trace_id':
      return r.traceId;
    case 'sender_id':
      return r.senderId;
    case 'idempotency_key':
      return r.idempotencyKey;
    case 'workflow_id':
      return r.workflowId;
    case 'parent_job_id':
      return r.parentJobId;
    case 'step_index':
      return r.stepIndex;
    case 'compensation_of':
      return r.compensationOf;
    case 'worker_id':
      return r.workerId;
    case 'fenced_workers':
      return textArray(r.fencedWorkers);
    case 'direct_dispatch':
      return r.directDispatch;
    case 'result_ptr':
      return r.resultPtr;
    case 'artifact_ptrs':
      return textArray(r.artifactPtrs);
    case 'error_code':
      return r.errorCode;
    case 'error_message':
      return r.errorMessage;
    case 'decision':
      return r.decision;
    case 'decision_reason':
      return r.decisionReason;
    case 'policy_snapshot':
      return r.policySnapshot;
    case 'rule_id':
      return r.ruleId;
    case 'constraints':
      return r.constraints === null || r.constraints === undefined ? null : JSON.stringify(r.constraints);
    case 'approval_ref':
      return r.approvalRef;
    case 'progress_pct':
      return r.progressPct;
    case 'progress_message':
      return r.progressMessage;
    case 'wait_reason':
      return r.waitReason;
    case 'wait_since':
      return ts(r.waitSince);
    case 'dlq_reason':
      return r.dlqReason;
    case 'cancel_requested':
      return r.cancelRequested;
    case 'next_action_at':
      return ts(r.nextActionAt);
    case 'deadline_at':
      return ts(r.deadlineAt);
    case 'created_at':
      return ts(r.createdAt);
    case 'updated_at':
      return ts(r.updatedAt);
    case 'dispatched_at':
      return ts(r.dispatchedAt);
    case 'started_at':
      return ts(r.startedAt);
    case 'finished_at':
      return ts(r.finishedAt);
  }
}

const ms = (v: unknown): number | null =>
  v === null || v === undefined ? null : new Date(v as string | Date).getTime();
const arr = (v: unknown): string[] => {
  if (Array.isArray(v)) return v as string[];
  if (typeof v === 'string' && v.startsWith('{')) {
    // PGlite may hand back the array literal; parse the simple quoted/unquoted form.
    const inner = v.slice(1, -1);
    if (inner === '') return [];
    return [...inner.matchAll(/"((?:[^"\\]|\\.)*)"|([^,]+)/g)].map((m) =>
      m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : m[2]!,
    );
  }
  return [];
};

/** Maps a `jobs` row to a record. */
export function rowToRecord(row: Record<string, unknown>): JobRecord {
  const requestBytes =
    row['request'] instanceof Uint8Array ? (row['request'] as Uint8Array) : new Uint8Array(row['request'] as Buffer);
  return {
    jobId: row['job_id'] as string,
    tenant: row['tenant'] as string,
    topic: row['topic'] as string,
    state: row['state'] as JobState,
    version: Number(row['version']),
    attempt: Number(row['attempt']),
    leaseEpoch: Number(row['lease_epoch']),
    maxRetries: Number(row['max_retries']),
    priority: Number(row['priority']),
    request: fromBinary(JobRequestSchema, requestBytes),
    requestBytes,
    traceId: row['trace_id'] as string,
    senderId: row['sender_id'] as string,
    idempotencyKey: (row['idempotency_key'] as string | null) ?? null,
    workflowId: row['workflow_id'] as string,
    parentJobId: row['parent_job_id'] as string,
    stepIndex: Number(row['step_index']),
    compensationOf: row['compensation_of'] as string,
    workerId: row['worker_id'] as string,
    fencedWorkers: arr(row['fenced_workers']),
    directDispatch: Boolean(row['direct_dispatch']),
    resultPtr: row['result_ptr'] as string,
    artifactPtrs: arr(row['artifact_ptrs']),
    errorCode: row['error_code'] as string,
    errorMessage: row['error_message'] as string,
    decision: row['decision'] as string,
    decisionReason: row['decision_reason'] as string,
    policySnapshot: row['policy_snapshot'] as string,
    ruleId: row['rule_id'] as string,
    constraints: row['constraints'] ?? null,
    approvalRef: row['approval_ref'] as string,
    progressPct: Number(row['progress_pct']),
    progressMessage: row['progress_message'] as string,
    waitReason: row['wait_reason'] as string,
    waitSince: ms(row['wait_since']),
    dlqReason: row['dlq_reason'] as string,
    cancelRequested: Boolean(row['cancel_requested']),
    nextActionAt: ms(row['next_action_at']),
    deadlineAt: ms(row['deadline_at']),
    createdAt: ms(row['created_at'])!,
    updatedAt: ms(row['updated_at'])!,
    dispatchedAt: ms(row['dispatched_at']),
    startedAt: ms(row['started_at']),
    finishedAt: ms(row['finished_at']),
  };
}

type JobColumn = (typeof JOB_COLUMNS)[number];

/** Array parameter type of a column in `unnest(...)` (bytea travels as hex text, arrays and json as text). */
function paramType(col: JobColumn): string {
  const t = CAST[col];
  return t === 'bytea' || t === 'text[]' || t === 'jsonb' ? 'text' : t;
}

/** Expression turning the unnest column back into the column's type. */
function columnExpr(col: JobColumn): string {
  const t = CAST[col];
  if (t === 'bytea') return `decode(v.${col}, 'hex')`;
  if (t === 'text[]') return `v.${col}::text[]`;
  if (t === 'jsonb') return `v.${col}::jsonb`;
  return `v.${col}`;
}

function paramValue(r: JobRecord, col: JobColumn): unknown {
  return col === 'request' ? Buffer.from(r.requestBytes).toString('hex') : columnValue(r, col);
}

/**
 * Batched statements are built once: one array parameter per column and `unnest`, so a batch of any size is one
 * short statement that Postgres parses once (instead of thousands of placeholders).
 */
const P_INSERT = 1;
const P_UPDATE = P_INSERT + JOB_COLUMNS.length;
const P_EVENTS = P_UPDATE + MUTABLE.length + 2;
const P_DLQ = P_EVENTS + 10;
const P_SAGA = P_DLQ + 8;
const P_ROLLBACK = P_SAGA + 5;
const arrays = (first: number, types: readonly string[]) => types.map((t, i) => `$${first + i}::${t}[]`).join(', ');

/**
 * One group commit is ONE statement (atomic on its own, so no BEGIN/COMMIT round trips): data-modifying CTEs insert
 * new jobs, compare-and-set the updated ones, and write events, DLQ rows, saga steps and rollback starts only for
 * the jobs whose insert or update went through. Every table gets one array parameter per column (`unnest`), so a
 * batch of any size is the same short statement.
 */
const COMMIT_SQL = preparedSql(
  'capstan_commit',
  `
WITH ins AS (
  INSERT INTO jobs (${JOB_COLUMNS.join(', ')})
  SELECT ${JOB_COLUMNS.map(columnExpr).join(', ')}
  FROM unnest(${arrays(P_INSERT, JOB_COLUMNS.map(paramType))}) AS v(${JOB_COLUMNS.join(', ')})
  ON CONFLICT DO NOTHING RETURNING job_id
), upd AS (
  UPDATE jobs AS j SET ${MUTABLE.map((c) => `${c} = ${columnExpr(c)}`).join(', ')}
  FROM unnest(${arrays(P_UPDATE, ['text', 'int4', ...MUTABLE.map(paramType)])}) AS v(job_id, expected_version, ${MUTABLE.join(', ')})
  -- The = ANY gives the planner an index condition on the primary key (the join to unnest() alone offers none);
  -- it uses it once the table's statistics say the table is not tiny, which createStatisticsKeeper (run by the
  -- reconciler leader) sees to: a plan cached on a nearly empty table read it whole on every commit.
  WHERE j.job_id = ANY($${P_UPDATE}::text[]) AND j.job_id = v.job_id AND j.version = v.expected_version
  RETURNING j.job_id
), done AS (
  SELECT job_id FROM ins UNION ALL SELECT job_id FROM upd
), ev AS (
  INSERT INTO job_events (job_id, tenant, seq, from_state, to_state, reason, attempt, lease_epoch, worker_id, at)
  SELECT e.* FROM unnest(${arrays(P_EVENTS, ['text', 'text', 'int4', 'text', 'text', 'text', 'int4', 'int4', 'text', 'timestamptz'])})
    AS e(job_id, tenant, seq, from_state, to_state, reason, attempt, lease_epoch, worker_id, at)
  WHERE e.job_id IN (SELECT job_id FROM done)
  ON CONFLICT (job_id, seq) DO NOTHING
), dlq AS (
  INSERT INTO job_dlq (job_id, tenant, topic, reason, final_state, error_code, error_message, attempt)
  SELECT d.* FROM unnest(${arrays(P_DLQ, ['text', 'text', 'text', 'text', 'text', 'text', 'text', 'int4'])})
    AS d(job_id, tenant, topic, reason, final_state, error_code, error_message, attempt)
  WHERE d.job_id IN (SELECT job_id FROM done)
  ON CONFLICT (job_id) DO NOTHING
), saga AS (
  INSERT INTO saga_compensations (job_id, workflow_id, tenant, step_index, compensation_request)
  SELECT s.job_id, s.workflow_id, s.tenant, s.step_index, decode(s.req, 'hex')
  FROM unnest(${arrays(P_SAGA, ['text', 'text', 'text', 'int4', 'text'])}) AS s(job_id, workflow_id, tenant, step_index, req)
  WHERE s.job_id IN (SELECT job_id FROM done)
  ON CONFLICT (job_id) DO NOTHING RETURNING job_id, tenant, workflow_id
), reopen AS (
  -- A step that succeeds after its workflow's rollback finished (it was still running then) must be undone too.
  UPDATE saga_rollbacks AS b SET finished_at = NULL
  FROM saga WHERE b.tenant = saga.tenant AND b.workflow_id = saga.workflow_id AND b.finished_at IS NOT NULL
  RETURNING saga.job_id
), rb AS (
  INSERT INTO saga_rollbacks (tenant, workflow_id, trigger_job_id)
  SELECT r.tenant, r.workflow_id, r.trigger_job_id
  FROM unnest(${arrays(P_ROLLBACK, ['text', 'text', 'text'])}) AS r(tenant, workflow_id, trigger_job_id)
  WHERE r.trigger_job_id IN (SELECT job_id FROM done)
  ON CONFLICT DO NOTHING RETURNING trigger_job_id
)
SELECT 'ok' AS kind, job_id FROM done
UNION ALL SELECT 'rollback' AS kind, trigger_job_id AS job_id FROM rb
UNION ALL SELECT 'rollback' AS kind, job_id FROM reopen`,
);

function columnsOf<T>(rows: readonly T[], width: number, cell: (row: T, i: number) => unknown): unknown[][] {
  const cols: unknown[][] = Array.from({ length: width }, () => new Array(rows.length));
  for (let r = 0; r < rows.length; r++) for (let c = 0; c < width; c++) cols[c]![r] = cell(rows[r]!, c);
  return cols;
}

/** Creates the repository over a kysely database (Postgres or PGlite). */
export function createJobRepository(db: Kysely<CapstanDatabase>, opts: JobRepositoryOptions = {}): JobRepository {
  const progress = new Map<string, { pct: number; message: string }>();
  let progressTimer: NodeJS.Timeout | undefined;

  const flush = async (changes: JobChange[]): Promise<CommitResult[]> => {
    const inserts = changes.filter((c) => c.expectedVersion === null);
    // A consistent lock order keeps concurrent replicas' batches from deadlocking.
    const updates = changes
      .filter((c) => c.expectedVersion !== null)
      .sort((a, b) => (a.record.jobId < b.record.jobId ? -1 : 1));
    const events = changes.flatMap((c) => c.events);
    const dlq = changes.flatMap((c) => (c.dlq ? [c.dlq] : []));
    const steps = changes.flatMap((c) => (c.sagaStep ? [c.sagaStep] : []));
    const rollbacks = changes.filter((c) => c.startRollback).map((c) => c.record);
    const params = [
      ...columnsOf(inserts, JOB_COLUMNS.length, (c, i) => paramValue(c.record, JOB_COLUMNS[i]!)),
      ...columnsOf(updates, MUTABLE.length + 2, (c, i) =>
        i === 0 ? c.record.jobId : i === 1 ? c.expectedVersion : paramValue(c.record, MUTABLE[i - 2]!),
      ),
      ...columnsOf(
        events,
        10,
        (e, i) =>
          [e.jobId, e.tenant, e.seq, e.fromState, e.toState, e.reason, e.attempt, e.leaseEpoch, e.workerId, ts(e.at)][
            i
          ],
      ),
      ...columnsOf(
        dlq,
        8,
        (d, i) => [d.jobId, d.tenant, d.topic, d.reason, d.finalState, d.errorCode, d.errorMessage, d.attempt][i],
      ),
      ...columnsOf(
        steps,
        5,
        (x, i) => [x.jobId, x.workflowId, x.tenant, x.stepIndex, Buffer.from(x.compensationRequest).toString('hex')][i],
      ),
      ...columnsOf(rollbacks, 3, (r, i) => [r.tenant, r.workflowId, r.jobId][i]),
    ];
    const res = await db.executeQuery<{ kind: string; job_id: string }>(CompiledQuery.raw(COMMIT_SQL, params));
    const ok = new Set<string>();
    const started = new Set<string>();
    for (const row of res.rows) (row.kind === 'ok' ? ok : started).add(row.job_id);
    // A job id comes back once however many changes of the batch named it: only the first (the row that went in or
    // matched) won; a second insert of the same id was skipped by ON CONFLICT and must not be told it was created.
    const credited = new Set<string>();
    return changes.map((c) => {
      const id = c.record.jobId;
      if (!ok.has(id) || credited.has(id)) return { ok: false };
      credited.add(id);
      return { ok: true, ...(started.has(id) ? { rollbackStarted: true } : {}) };
    });
  };

  const queue: GroupCommit<JobChange, CommitResult> = createGroupCommit({
    flush,
    maxBatch: opts.maxBatch ?? 500,
    maxConcurrent: opts.maxConcurrentFlushes ?? 2,
    concurrentAfter: opts.concurrentFlushAfter ?? 32,
  });

  const flushProgress = async () => {
    progressTimer = undefined;
    if (progress.size === 0) return;
    const batch = [...progress.entries()];
    progress.clear();
    await sql`
      UPDATE jobs AS j SET progress_pct = v.pct, progress_message = v.msg
      FROM (VALUES ${sql.join(batch.map(([id, p]) => sql`(${id}::text, ${p.pct}::int4, ${p.message}::text)`))}) AS v(job_id, pct, msg)
      WHERE j.job_id = v.job_id AND j.state IN ('DISPATCHED', 'RUNNING')`
      .execute(db)
      .catch(() => {});
  };

  const selectJobs = (where: RawBuilder<unknown>, limit?: number) =>
    sql<Record<string, unknown>>`SELECT * FROM jobs WHERE ${where} ${limit ? sql`LIMIT ${limit}` : sql``}`
      .execute(db)
      .then((r) => r.rows.map(rowToRecord));

  return {
    commit: (c) => queue.submit(c),
    writeProgress(jobId, pct, message) {
      progress.set(jobId, { pct, message });
      progressTimer ??= setTimeout(() => void flushProgress(), 50);
    },
    async load(jobId) {
      return (await selectJobs(sql`job_id = ${jobId}`))[0];
    },
    async loadMany(jobIds) {
      if (jobIds.length === 0) return [];
      return selectJobs(sql`job_id IN (${sql.join(jobIds.map((id) => sql`${id}`))})`);
    },
    async versions(jobIds) {
      if (jobIds.length === 0) return new Map();
      const r = await sql<{ job_id: string; version: number }>`
        SELECT job_id, version FROM jobs WHERE job_id = ANY(${textArray(jobIds)}::text[])`.execute(db);
      return new Map(r.rows.map((row) => [row.job_id, Number(row.version)]));
    },
    async findByIdempotencyKey(tenant, key) {
      const r = await sql<{
        job_id: string;
      }>`SELECT job_id FROM jobs WHERE tenant = ${tenant} AND idempotency_key = ${key}`.execute(db);
      return r.rows[0]?.job_id;
    },
    findDue(before, limit) {
      return selectJobs(
        sql`next_action_at IS NOT NULL AND next_action_at <= ${ts(before)}::timestamptz ORDER BY next_action_at`,
        limit,
      );
    },
    findHeldByGoneWorkers(live, limit) {
      const liveList = live.length > 0 ? sql`AND worker_id NOT IN (${sql.join(live.map((w) => sql`${w}`))})` : sql``;
      return selectJobs(sql`state IN ('DISPATCHED', 'RUNNING') AND worker_id <> '' ${liveList}`, limit);
    },
    async countOpen() {
      const r = await sql<{ n: number }>`
        SELECT count(*)::int AS n FROM jobs
        WHERE state IN ('PENDING', 'SCHEDULED', 'DISPATCHED', 'RUNNING', 'RETRYING')`.execute(db);
      return r.rows[0]?.n ?? 0;
    },
    findUnclaimedDirect(writtenBefore, limit) {
      return selectJobs(
        sql`state = 'DISPATCHED' AND direct_dispatch AND worker_id <> '' AND NOT cancel_requested AND updated_at < ${new Date(writtenBefore)}`,
        limit,
      );
    },
    async findHeldByWorkers(workers, writtenBefore, limit) {
      if (workers.length === 0) return [];
      return selectJobs(
        sql`state IN ('DISPATCHED', 'RUNNING') AND worker_id IN (${sql.join(workers.map((w) => sql`${w}`))}) AND updated_at < ${new Date(writtenBefore)}`,
        limit,
      );
    },
    async listDlq({ tenant, limit = 100, afterId }) {
      const r = await sql<Record<string, unknown>>`
        SELECT * FROM job_dlq WHERE true ${tenant ? sql`AND tenant = ${tenant}` : sql``} ${afterId ? sql`AND id < ${afterId}::bigint` : sql``}
        ORDER BY id DESC LIMIT ${Math.min(Math.max(1, limit), 1000)}`.execute(db);
      return r.rows.map(dlqRow);
    },
    async getDlq(id) {
      if (!/^\d{1,18}$/.test(id)) return undefined;
      const r = await sql<Record<string, unknown>>`SELECT * FROM job_dlq WHERE id = ${id}::bigint`.execute(db);
      return r.rows[0] ? dlqRow(r.rows[0]) : undefined;
    },
    async markDlqRetried(id, newJobId, by) {
      const r = await sql`UPDATE job_dlq SET retried_job_id = ${newJobId}, retried_at = now(), retried_by = ${by}
        WHERE id = ${id}::bigint AND retried_job_id IS NULL RETURNING id`.execute(db);
      return r.rows.length > 0;
    },
    async sagaSteps(tenant, workflowId) {
      const r = await sql<Record<string, unknown>>`
        SELECT * FROM saga_compensations WHERE tenant = ${tenant} AND workflow_id = ${workflowId}
        ORDER BY step_index DESC, recorded_at DESC, job_id DESC`.execute(db);
      return r.rows.map((row) => ({
        jobId: row['job_id'] as string,
        workflowId: row['workflow_id'] as string,
        tenant: row['tenant'] as string,
        stepIndex: Number(row['step_index']),
        compensationRequest: new Uint8Array(row['compensation_request'] as Uint8Array),
        compensationJobId: (row['compensation_job_id'] as string | null) ?? null,
      }));
    },
    async claimCompensation(jobId, compensationJobId) {
      const r = await sql`UPDATE saga_compensations SET compensation_job_id = ${compensationJobId}, started_at = now()
        WHERE job_id = ${jobId} AND compensation_job_id IS NULL RETURNING job_id`.execute(db);
      return r.rows.length > 0;
    },
    async finishRollback(tenant, workflowId) {
      await sql`UPDATE saga_rollbacks SET finished_at = now() WHERE tenant = ${tenant} AND workflow_id = ${workflowId} AND finished_at IS NULL`.execute(
        db,
      );
    },
    async unfinishedRollbacks(limit) {
      const r = await sql<{
        tenant: string;
        workflow_id: string;
      }>`SELECT tenant, workflow_id FROM saga_rollbacks WHERE finished_at IS NULL LIMIT ${limit}`.execute(db);
      return r.rows.map((x) => ({ tenant: x.tenant, workflowId: x.workflow_id }));
    },
    async acquireLease(name, holder, ttlMs) {
      const r = await sql<{ epoch: string; holder: string }>`
        INSERT INTO leader_leases (name, holder, epoch, expires_at) VALUES (${name}, ${holder}, 1, now() + ${`${ttlMs} milliseconds`}::interval)
        ON CONFLICT (name) DO UPDATE SET
          epoch = CASE WHEN leader_leases.holder = EXCLUDED.holder THEN leader_leases.epoch ELSE leader_leases.epoch + 1 END,
          holder = EXCLUDED.holder,
          expires_at = EXCLUDED.expires_at
        WHERE leader_leases.holder = EXCLUDED.holder OR leader_leases.expires_at < now()
        RETURNING epoch, holder`.execute(db);
      const row = r.rows[0];
      return row && row.holder === holder ? Number(row.epoch) : undefined;
    },
    async releaseLease(name, holder) {
      await sql`UPDATE leader_leases SET expires_at = now() - interval '1 second' WHERE name = ${name} AND holder = ${holder}`.execute(
        db,
      );
    },
    async countActive(tenant) {
      const r = await sql<{
        n: string | number;
      }>`SELECT count(*) AS n FROM jobs WHERE tenant = ${tenant} AND state IN ('DISPATCHED', 'RUNNING')`.execute(db);
      return Number(r.rows[0]?.n ?? 0);
    },
    getApproval: (approvalId) => loadApproval(db, approvalId),
    expireApproval: (approvalId) => expireApproval(db, approvalId),
    activePolicySnapshot: () => loadActivePolicySnapshot(db),
    async drain() {
      if (progressTimer) {
        clearTimeout(progressTimer);
        await flushProgress();
      }
      await queue.drain();
    },
  };
}

function dlqRow(row: Record<string, unknown>): DlqRow {
  return {
    id: String(row['id']),
    jobId: row['job_id'] as string,
    tenant: row['tenant'] as string,
    topic: row['topic'] as string,
    reason: row['reason'] as string,
    finalState: row['final_state'] as string,
    errorCode: row['error_code'] as string,
    errorMessage: row['error_message'] as string,
    attempt: Number(row['attempt']),
    createdAt: new Date(row['created_at'] as string),
    retriedJobId: (row['retried_job_id'] as string | null) ?? null,
  };
}
