/**
 * The subject table: the only place bus subjects are spelled.
 *
 * CAP subjects (`sys.*`, `job.*`, `worker.<id>.jobs`) are a compatibility contract with the official CAP SDKs.
 * Capstan's own internal subjects live under `capstan.>`.
 */

/** CAP subjects shared with every CAP component. */
export const Subjects = {
  /** Clients submit `BusPacket{job_request}` here. */
  jobSubmit: 'sys.job.submit',
  /** Workers publish `BusPacket{job_result}` here. */
  jobResult: 'sys.job.result',
  /** Workers publish `BusPacket{job_progress}` here. */
  jobProgress: 'sys.job.progress',
  /** Cancels (`BusPacket{job_cancel}`) travel here. */
  jobCancel: 'sys.job.cancel',
  /** Jobs that ended badly are announced here. */
  jobDlq: 'sys.job.dlq',
  /** Workers publish `BusPacket{heartbeat}` here every 2–5 s. */
  heartbeat: 'sys.heartbeat',
  /** Components publish `BusPacket{handshake}` here on connect and reconnect. */
  handshake: 'sys.handshake',
  /** Operational alerts (`BusPacket{alert}`). */
  alert: 'sys.alert',
} as const;

/** Prefix of Capstan's own subjects. */
export const CAPSTAN_SUBJECT_PREFIX = 'capstan';

/** Capstan-internal subjects (not part of CAP). */
export const CapstanSubjects = {
  /** Dead-lettered packets, `capstan.dlq.<original subject>`; payload is `capstan.bus.v1.DeadLetter`. */
  deadLetterPrefix: 'capstan.dlq',
  /** Wildcard matching every dead letter. */
  deadLetterAll: 'capstan.dlq.>',
  /** Job state/progress events for gateways: `capstan.events.job.<tenant>.<job_id>`. */
  jobEventsPrefix: 'capstan.events.job',
  /** Policy bundle activations, so every replica switches snapshot. */
  policyChanged: 'capstan.policy.changed',
  /**
   * Request/reply: a human approved or rejected a parked job (`capstan.policy.v1.ApprovalDecided` →
   * `ApprovalApplied`); the scheduler re-reads the approval from the store and releases or denies the job.
   */
  ctlJobApproval: 'capstan.ctl.job.approval',
  /** Request/reply: a job's snapshot (`capstan.scheduler.v1.GetJobRequest` → `GetJobResponse`). */
  ctlJobGet: 'capstan.ctl.job.get',
  /** Request/reply: re-submit a dead-lettered job (`RetryDeadLetterRequest` → `RetryDeadLetterResponse`). */
  ctlDlqRetry: 'capstan.ctl.dlq.retry',
  /**
   * Gateway replicas announce which workers hold a WebSocket session on them (JSON, see
   * `services/gateway/src/agents/presence-sharing.ts`), so `GET /v1/agents` availability agrees on every
   * replica. No queue group: every replica sees every announcement.
   */
  gatewayPresence: 'capstan.gateway.presence',
  /**
   * A gateway replica changed API keys or users (revoked, disabled, role): every replica drops its cached
   * credentials (`services/gateway/src/auth/credential-changes.ts`). Payload: the announcing replica's random id
   * (UTF-8), so it skips its own announcement; no queue group.
   */
  gatewayCredentialsChanged: 'capstan.gateway.credentials.changed',
} as const;

/** Every job event of a tenant (`capstan.events.job.<tenant>.>`); `*` for every tenant. */
export function jobEventsWildcard(tenant = '*'): string {
  if (tenant !== '*') assertToken(tenant, 'tenant');
  return `${CapstanSubjects.jobEventsPrefix}.${tenant}.>`;
}

/** Events of one job in any tenant (`capstan.events.job.*.<job_id>`), for clients that don't know the tenant. */
export function jobEventsAnyTenant(jobId: string): string {
  assertToken(jobId, 'job id');
  return `${CapstanSubjects.jobEventsPrefix}.*.${jobId}`;
}

/** JetStream stream names for the durable subjects. */
export const Streams = {
  /** Backs `sys.job.submit` so accepted submits survive consumer restarts. */
  submit: 'CAPSTAN_SUBMIT',
  /** Backs `sys.job.result`. */
  result: 'CAPSTAN_RESULT',
  /** Keeps dead letters for inspection. */
  deadLetter: 'CAPSTAN_DLQ',
} as const;

/** Queue group (and JetStream durable name) shared by scheduler replicas on `sys.job.*`. */
export const SCHEDULER_QUEUE_GROUP = 'capstan-scheduler';

/** Tenant of jobs that name none. */
export const DEFAULT_TENANT = 'default';

/** Prefix CAP workers take jobs on: `job.<...>`. */
export const JOB_SUBJECT_PREFIX = 'job.';

const TOKEN = /^[A-Za-z0-9_\-:]+$/;

/** Thrown when a subject or subject token is not valid for NATS. */
export class SubjectError extends Error {
  override name = 'SubjectError';
}

/** True when `subject` is a concrete (wildcard-free) NATS subject made of safe tokens. */
export function isValidSubject(subject: string): boolean {
  if (subject.length === 0 || subject.length > 256) return false;
  return subject.split('.').every((t) => TOKEN.test(t));
}

/**
 * The subject a job is published on for pool workers. CAP uses the JobRequest's `topic` itself as the subject
 * (e.g. `job.echo`), so it must start with `job.` and be a concrete subject.
 */
export function jobSubject(topic: string): string {
  if (!topic.startsWith(JOB_SUBJECT_PREFIX) || !isValidSubject(topic)) {
    throw new SubjectError(
      `invalid job topic ${JSON.stringify(topic)}: expected a NATS subject starting with "job." made of [A-Za-z0-9_-:] tokens, e.g. "job.echo"`,
    );
  }
  return topic;
}

/** CAP SDK workers subscribe to a job subject in a queue group named after the subject itself. */
export function queueGroupForJobSubject(subject: string): string {
  return subject;
}

/** Direct-dispatch subject of one worker; only for workers that advertised `direct_dispatch` in their handshake. */
export function workerJobsSubject(workerId: string): string {
  assertToken(workerId, 'worker id');
  return `worker.${workerId}.jobs`;
}

/** Where packets rejected on `subject` are dead-lettered. */
export function deadLetterSubject(subject: string): string {
  return `${CapstanSubjects.deadLetterPrefix}.${subject}`;
}

/** Per-job event subject; gateways subscribe with wildcards per tenant (`capstan.events.job.<tenant>.>`). */
export function jobEventsSubject(tenant: string, jobId: string): string {
  assertToken(tenant || DEFAULT_TENANT, 'tenant');
  assertToken(jobId, 'job id');
  return `${CapstanSubjects.jobEventsPrefix}.${tenant || DEFAULT_TENANT}.${jobId}`;
}

/** True when `value` can be one subject token (job ids and tenants must be, to get events). */
export function isSubjectToken(value: string): boolean {
  return TOKEN.test(value);
}

function assertToken(value: string, what: string): void {
  if (!TOKEN.test(value)) {
    throw new SubjectError(
      `invalid ${what} ${JSON.stringify(value)}: expected one NATS subject token of [A-Za-z0-9_-:]`,
    );
  }
}
