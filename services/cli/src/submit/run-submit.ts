import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { createBus } from '@capstan/bus';
import { DEFAULT_DEV_DIR, DEFAULT_NATS_URL, DEFAULT_REDIS_URL } from '@capstan/config';
import type { JobEvent } from '@capstan/gen/capstan/scheduler/v1/job_event_pb';
import { JobPriority } from '@capstan/gen/cordum/agent/v1/job_pb';
import { createPointerStore } from '@capstan/pointers';
import { createClient, WaitForResultTimeoutError } from '@capstan/worker';
import { readDevInfo } from '../dev/dev-info.js';

/** Options of `capstan submit`. */
export interface SubmitCommandOptions {
  topic: string;
  input?: string;
  tenant?: string;
  idempotencyKey?: string;
  priority?: string;
  label?: string[];
  timeout?: string;
  wait: boolean;
  natsUrl?: string;
  redisUrl?: string;
}

/** A usage mistake: the message says what was wrong and what is expected. */
export class SubmitUsageError extends Error {
  override name = 'SubmitUsageError';
}

/** Errors `capstan submit` reports without a stack. */
export const EXPECTED_SUBMIT_ERRORS = [SubmitUsageError, WaitForResultTimeoutError];

const PRIORITIES: Record<string, JobPriority> = {
  interactive: JobPriority.INTERACTIVE,
  batch: JobPriority.BATCH,
  critical: JobPriority.CRITICAL,
};

/** Parses `--input`: JSON text, `@file` (JSON file) or `-` (JSON on stdin). */
export function parseInput(raw: string | undefined): unknown {
  if (raw === undefined) return undefined;
  let text = raw;
  let source = '--input';
  if (raw === '-') {
    text = readFileSync(0, 'utf8');
    source = 'stdin';
  } else if (raw.startsWith('@')) {
    const path = resolve(raw.slice(1));
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      throw new SubmitUsageError(`cannot read --input file ${path}: ${(err as Error).message}`);
    }
    source = path;
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new SubmitUsageError(
      `${source} is not valid JSON (${(err as Error).message}); pass e.g. --input '{"text":"hello"}', --input @file.json or --input -`,
    );
  }
}

function parseLabels(labels: string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of labels ?? []) {
    const i = l.indexOf('=');
    if (i <= 0) throw new SubmitUsageError(`--label ${JSON.stringify(l)} is invalid: expected key=value`);
    out[l.slice(0, i)] = l.slice(i + 1);
  }
  return out;
}

/** Where to find NATS and Redis: flags, then env, then a running `capstan dev` in this directory, then defaults. */
function endpoints(opts: SubmitCommandOptions) {
  const dev = readDevInfo(resolve(DEFAULT_DEV_DIR));
  return {
    nats: opts.natsUrl ?? process.env['CAPSTAN_NATS_URL'] ?? process.env['NATS_URL'] ?? dev?.nats ?? DEFAULT_NATS_URL,
    redis:
      opts.redisUrl ?? process.env['CAPSTAN_REDIS_URL'] ?? process.env['REDIS_URL'] ?? dev?.redis ?? DEFAULT_REDIS_URL,
  };
}

/** One progress line for an event. */
export function describeEvent(e: JobEvent): string {
  const j = e.job;
  if (!j) return 'event';
  if (e.kind === 2) {
    const filled = Math.round(j.progressPct / 5);
    return `[${j.state}] ${'█'.repeat(filled)}${'░'.repeat(20 - filled)} ${String(j.progressPct).padStart(3)}% ${j.progressMessage}`;
  }
  const extra = [
    j.workerId && `worker ${j.workerId}`,
    j.attempt > 1 && `attempt ${j.attempt}`,
    j.waitReason && `waiting: ${j.waitReason}`,
    j.errorMessage && j.errorMessage,
  ]
    .filter(Boolean)
    .join(', ');
  return `[${j.state}]${e.reason ? ` ${e.reason}` : ''}${extra ? ` (${extra})` : ''}`;
}

/**
 * `capstan submit --topic job.echo --input '{...}'`: stores the input behind `redis://ctx:<job_id>`, submits the
 * JobRequest on `sys.job.submit`, prints the job id, then (unless `--no-wait`) follows the job's events with a
 * progress display and prints the result as JSON. Exit code 0 only when the job SUCCEEDED.
 */
export async function runSubmitCommand(opts: SubmitCommandOptions): Promise<void> {
  if (!opts.topic?.startsWith('job.'))
    throw new SubmitUsageError(
      `--topic ${JSON.stringify(opts.topic ?? '')} is invalid: expected a job subject such as job.echo`,
    );
  const input = parseInput(opts.input);
  const labels = parseLabels(opts.label);
  const priority = opts.priority ? PRIORITIES[opts.priority.toLowerCase()] : undefined;
  if (opts.priority && priority === undefined)
    throw new SubmitUsageError(`--priority ${opts.priority} is invalid: expected interactive, batch or critical`);
  const timeoutMs = opts.timeout === undefined ? 60_000 : Number(opts.timeout);
  if (!Number.isInteger(timeoutMs) || timeoutMs <= 0)
    throw new SubmitUsageError(`--timeout ${opts.timeout} is invalid: expected milliseconds > 0`);
  const { nats, redis } = endpoints(opts);

  let bus: Awaited<ReturnType<typeof createBus>>;
  try {
    bus = await createBus({ servers: nats.split(','), senderId: `capstan-cli-${process.pid}` });
  } catch (err) {
    throw new SubmitUsageError(`${(err as Error).message}\nStart the stack with \`npm run dev\` (or pass --nats-url).`);
  }
  const pointers = createPointerStore({ redis });
  const client = createClient({ bus, pointers });
  const tty = process.stderr.isTTY;
  try {
    const submit = {
      topic: opts.topic,
      ...(input !== undefined ? { input } : {}),
      ...(opts.tenant ? { tenant: opts.tenant } : {}),
      ...(opts.idempotencyKey ? { idempotencyKey: opts.idempotencyKey } : {}),
      ...(priority !== undefined ? { priority } : {}),
      ...(Object.keys(labels).length > 0 ? { labels } : {}),
    };
    if (!opts.wait) {
      const { jobId, traceId } = await client.submit(submit);
      process.stdout.write(`${jobId}\n`);
      process.stderr.write(`submitted job ${jobId} (trace ${traceId}) to ${opts.topic}\n`);
      return;
    }
    let announced = false;
    const result = await client.submitAndWait(submit, {
      timeoutMs,
      onEvent: (e) => {
        if (!announced && e.job?.jobId) {
          announced = true;
          process.stdout.write(`${e.job.jobId}\n`);
        }
        const line = describeEvent(e);
        process.stderr.write(tty ? `\r\x1b[2K${line}${e.kind === 2 ? '' : '\n'}` : `${line}\n`);
      },
    });
    if (!announced) process.stdout.write(`${result.jobId}\n`);
    if (tty) process.stderr.write('\r\x1b[2K');
    process.stderr.write(`job ${result.jobId} ${result.state}\n`);
    process.stdout.write(
      `${JSON.stringify(result.state === 'SUCCEEDED' ? result.output : { state: result.state, error_code: result.snapshot.errorCode, error: result.snapshot.errorMessage }, null, 2)}\n`,
    );
    if (result.state !== 'SUCCEEDED') process.exitCode = 1;
  } finally {
    await bus.close();
    await pointers.close();
  }
}
