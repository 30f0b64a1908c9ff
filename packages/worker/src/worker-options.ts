import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Bus } from '@capstan/bus';
import type { PointerStore } from '@capstan/pointers';
import { isSubjectToken, jobSubject } from '@capstan/protocol';
import { type Logger, pino } from 'pino';
import { WorkerOptionsError } from './errors.js';
import type { JobHandler } from './job-context.js';

/** Jobs run at once unless `concurrency` says otherwise. */
export const DEFAULT_CONCURRENCY = 10;
/** Heartbeat period unless `heartbeatIntervalMs` says otherwise. */
export const DEFAULT_HEARTBEAT_INTERVAL_MS = 2000;
/** Shortest heartbeat period accepted (CAP expects 2–5 s; faster is allowed for tests and small fleets). */
export const MIN_HEARTBEAT_INTERVAL_MS = 500;
/** Longest heartbeat period accepted (the scheduler's liveness window assumes at most 5 s). */
export const MAX_HEARTBEAT_INTERVAL_MS = 5000;
/** How long a shutdown lets running jobs finish unless told otherwise. */
export const DEFAULT_SHUTDOWN_TIMEOUT_MS = 30_000;
/** (job, epoch) pairs remembered to drop duplicate deliveries unless `dedupeCacheSize` says otherwise. */
export const DEFAULT_DEDUPE_CACHE_SIZE = 10_000;
/** Largest `concurrency` accepted. */
export const MAX_CONCURRENCY = 10_000;

/** Options for `createWorker`. */
export interface WorkerOptions<TInput = unknown> {
  /**
   * A connected bus to use. The worker does not close it on shutdown (the caller owns it). Give this or `servers`.
   * Packets are sent with `sender_id` = the worker id; a bus signer signs only packets whose sender is its own, so
   * for signed packets create the bus with `senderId` equal to `workerId`.
   */
  bus?: Bus;
  /** NATS URL(s) to connect to; the worker creates its own bus and closes it on shutdown. Give this or `bus`. */
  servers?: string | readonly string[];
  /** Where inputs are read from (`context_ptr`) and results and artifacts written to. Not closed by the worker. */
  pointers: PointerStore;
  /** Job topics this worker serves, each a `job.*` subject (e.g. `job.echo`); at least one. */
  topics: readonly string[];
  /** Pool name reported in heartbeats. @default the first topic */
  pool?: string;
  /** Identity: heartbeat `worker_id`, handshake `component_id`, packet `sender_id`. One NATS subject token. @default `<hostname>-<pid>-<6 hex chars>` */
  workerId?: string;
  /** Jobs run at once; as many more wait in a local queue, beyond that jobs are handed back with "201". @default 10 */
  concurrency?: number;
  /** Also take jobs on `worker.<id>.jobs` and advertise `direct_dispatch` in the handshake. @default true */
  directDispatch?: boolean;
  /** Heartbeat period in ms, 500–5000. @default 2000 */
  heartbeatIntervalMs?: number;
  /**
   * How often the handshake is repeated, in ms (1000–600000), so scheduler replicas that start later learn this
   * worker's topics and direct dispatch (CAP has no way to ask for a handshake). @default 15000
   */
  handshakeRepeatMs?: number;
  /** Labels reported in heartbeats (routing hints for the scheduler). @default {} */
  labels?: Readonly<Record<string, string>>;
  /** Display label in heartbeats (`agent_name`); never used as an identity. @default none */
  agentName?: string;
  /** Runs each job. */
  handler: JobHandler<TInput>;
  /** Logger; each job gets a child with `job_id` and `trace_id`. @default a silent pino logger */
  logger?: Logger;
  /** Drain gracefully on SIGTERM and SIGINT (the CLI turns this on; libraries embedding a worker usually don't). @default false */
  handleSignals?: boolean;
  /** How long `shutdown()` (and a signal) lets running jobs finish before aborting them, in ms. @default 30000 */
  shutdownTimeoutMs?: number;
  /** How many (job_id, epoch) pairs are remembered to drop duplicate deliveries. @default 10000 */
  dedupeCacheSize?: number;
}

/** {@link WorkerOptions} with defaults filled in and every value validated. */
export interface ResolvedWorkerOptions<TInput = unknown> {
  connection: { kind: 'bus'; bus: Bus } | { kind: 'servers'; servers: string[] };
  pointers: PointerStore;
  topics: readonly string[];
  pool: string;
  workerId: string;
  concurrency: number;
  directDispatch: boolean;
  heartbeatIntervalMs: number;
  handshakeRepeatMs: number;
  labels: Readonly<Record<string, string>>;
  agentName: string;
  handler: JobHandler<TInput>;
  logger: Logger;
  handleSignals: boolean;
  shutdownTimeoutMs: number;
  dedupeCacheSize: number;
}

/**
 * Fills defaults and validates {@link WorkerOptions} once.
 * @throws {WorkerOptionsError} naming the option and the expected form.
 */
export function resolveWorkerOptions<TInput = unknown>(options: WorkerOptions<TInput>): ResolvedWorkerOptions<TInput> {
  if (typeof options !== 'object' || options === null) fail('options', options, 'an object');
  const topics = resolveTopics(options.topics);
  return {
    connection: resolveConnection(options.bus, options.servers),
    pointers: resolvePointers(options.pointers),
    topics,
    pool: optionalText(options.pool, 'pool') ?? (topics[0] as string),
    workerId: resolveWorkerId(options.workerId),
    concurrency: integerIn(options.concurrency, 'concurrency', 1, MAX_CONCURRENCY) ?? DEFAULT_CONCURRENCY,
    directDispatch: optionalBoolean(options.directDispatch, 'directDispatch') ?? true,
    heartbeatIntervalMs:
      integerIn(
        options.heartbeatIntervalMs,
        'heartbeatIntervalMs',
        MIN_HEARTBEAT_INTERVAL_MS,
        MAX_HEARTBEAT_INTERVAL_MS,
      ) ?? DEFAULT_HEARTBEAT_INTERVAL_MS,
    handshakeRepeatMs: integerIn(options.handshakeRepeatMs, 'handshakeRepeatMs', 1000, 600_000) ?? 15_000,
    labels: resolveLabels(options.labels),
    agentName: optionalText(options.agentName, 'agentName') ?? '',
    handler: resolveHandler(options.handler),
    logger: resolveLogger(options.logger),
    handleSignals: optionalBoolean(options.handleSignals, 'handleSignals') ?? false,
    shutdownTimeoutMs:
      integerIn(options.shutdownTimeoutMs, 'shutdownTimeoutMs', 0, 24 * 60 * 60 * 1000) ?? DEFAULT_SHUTDOWN_TIMEOUT_MS,
    dedupeCacheSize: integerIn(options.dedupeCacheSize, 'dedupeCacheSize', 1, 10_000_000) ?? DEFAULT_DEDUPE_CACHE_SIZE,
  };
}

/** The default worker id: `<hostname>-<pid>-<6 hex chars>`, with characters NATS tokens forbid (dots) replaced by `-`. */
export function defaultWorkerId(): string {
  const host = hostname().replace(/[^A-Za-z0-9_-]/g, '-') || 'worker';
  return `${host}-${process.pid}-${randomBytes(3).toString('hex')}`;
}

function fail(option: string, value: unknown, expected: string): never {
  throw new WorkerOptionsError(`invalid worker option ${option}: got ${describe(value)}; expected ${expected}`);
}

/** A short rendering of a bad value: JSON for small values, the kind of value for big or circular ones. */
function describe(value: unknown): string {
  if (typeof value === 'function') return 'a function';
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch {
    text = undefined;
  }
  if (text !== undefined && text.length <= 120) return text;
  if (value === undefined) return 'undefined';
  return Array.isArray(value) ? 'an array' : typeof value === 'object' ? 'an object' : typeof value;
}

function resolveConnection(
  bus: Bus | undefined,
  servers: string | readonly string[] | undefined,
): ResolvedWorkerOptions['connection'] {
  if (bus !== undefined && servers !== undefined) fail('bus/servers', { servers }, 'either a bus or servers, not both');
  if (bus !== undefined) {
    if (
      typeof bus !== 'object' ||
      bus === null ||
      typeof bus.subscribe !== 'function' ||
      typeof bus.publish !== 'function'
    ) {
      fail('bus', bus, 'a Bus from createBus() of @capstan/bus');
    }
    return { kind: 'bus', bus };
  }
  if (servers === undefined)
    fail('bus/servers', undefined, 'a bus (from createBus()) or servers (a NATS URL like "nats://127.0.0.1:4222")');
  const list = typeof servers === 'string' ? [servers] : servers;
  if (!Array.isArray(list) || list.length === 0 || !list.every((s) => typeof s === 'string' && s.trim() !== '')) {
    fail('servers', servers, 'a NATS URL like "nats://127.0.0.1:4222" or a non-empty array of them');
  }
  return { kind: 'servers', servers: [...list] };
}

function resolvePointers(pointers: PointerStore): PointerStore {
  if (
    typeof pointers !== 'object' ||
    pointers === null ||
    typeof pointers.getJson !== 'function' ||
    typeof pointers.putJson !== 'function' ||
    typeof pointers.put !== 'function'
  ) {
    fail('pointers', pointers, 'a PointerStore from createPointerStore() of @capstan/pointers');
  }
  return pointers;
}

function resolveTopics(topics: readonly string[]): readonly string[] {
  const expected = 'a non-empty array of job subjects starting with "job." (e.g. ["job.echo"])';
  if (!Array.isArray(topics) || topics.length === 0) fail('topics', topics, expected);
  for (const topic of topics) {
    try {
      jobSubject(topic);
    } catch {
      fail('topics', topic, `each topic to be ${expected.replace('a non-empty array of ', 'one of ')}`);
    }
  }
  if (new Set(topics).size !== topics.length) fail('topics', topics, 'each topic listed once');
  return [...topics];
}

function resolveWorkerId(workerId: string | undefined): string {
  if (workerId === undefined) return defaultWorkerId();
  if (typeof workerId !== 'string' || !isSubjectToken(workerId)) {
    fail('workerId', workerId, 'one NATS subject token of letters, digits, "_", "-" or ":" (no dots or spaces)');
  }
  return workerId;
}

function resolveLabels(labels: Readonly<Record<string, string>> | undefined): Readonly<Record<string, string>> {
  if (labels === undefined) return {};
  if (typeof labels !== 'object' || labels === null || Array.isArray(labels))
    fail('labels', labels, 'an object of string values');
  for (const [key, value] of Object.entries(labels)) {
    if (typeof value !== 'string') fail(`labels.${key}`, value, 'a string');
  }
  return { ...labels };
}

function resolveHandler<TInput>(handler: JobHandler<TInput>): JobHandler<TInput> {
  if (typeof handler !== 'function') fail('handler', handler, 'a function (input, ctx) => result');
  return handler;
}

function resolveLogger(logger: Logger | undefined): Logger {
  if (logger === undefined) return pino({ level: 'silent' });
  if (typeof logger !== 'object' || logger === null || typeof logger.child !== 'function')
    fail('logger', '<not a logger>', 'a pino logger');
  return logger;
}

function optionalText(value: string | undefined, option: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.trim() === '') fail(option, value, 'a non-empty string');
  return value;
}

function optionalBoolean(value: boolean | undefined, option: string): boolean | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'boolean') fail(option, value, 'true or false');
  return value;
}

function integerIn(value: number | undefined, option: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    fail(option, value, `an integer from ${min} to ${max}`);
  }
  return value;
}
