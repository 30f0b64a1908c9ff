import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { CapstanStack } from './capstan-stack.js';
import { newId } from './ids.js';
import { interopPaths, type SdkLanguage } from './toolchains.js';

/** One JSON line a worker or client program printed on stdout. */
export interface ProgramEvent {
  event: string;
  job_id?: string;
  [field: string]: unknown;
}

/** Thrown when an SDK program exits badly or does not say what was expected in time; carries its stderr tail. */
export class SdkProgramError extends Error {
  override readonly name = 'SdkProgramError';
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

function logFile(name: string): string {
  const dir = join(interopPaths().cacheDir, 'logs');
  mkdirSync(dir, { recursive: true });
  return join(dir, `${name}.log`);
}

function tail(path: string, lines = 25): string {
  try {
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no output)';
  }
}

/** A running SDK worker program. */
export interface WorkerProgram {
  readonly workerId: string;
  /** Every event it printed so far. */
  readonly events: ProgramEvent[];
  /** Resolves with the first event matching `pred` (already printed or future). */
  waitFor(pred: (e: ProgramEvent) => boolean, what: string, timeoutMs?: number): Promise<ProgramEvent>;
  /** SIGTERM (the SDK drains), SIGKILL after 5 s. */
  stop(): Promise<void>;
}

/** Options of {@link startWorker}. */
export interface StartWorkerOptions {
  topic: string;
  /** @default a unique id */
  workerId?: string;
  /** @default 'agent' */
  mode?: 'agent' | 'lowlevel';
  /** PEM private key file the worker signs with. */
  signingKey?: string;
  /** Senders whose packets the worker verifies: sender id → PEM public key file. */
  trust?: Record<string, string>;
}

/** Starts the language's worker program against `stack` and waits until it says it is ready. */
export async function startWorker(
  lang: SdkLanguage,
  stack: CapstanStack,
  opts: StartWorkerOptions,
): Promise<WorkerProgram> {
  const workerId = opts.workerId ?? newId(`${lang.id}-worker`);
  const args = [
    '--mode',
    opts.mode ?? 'agent',
    '--nats',
    stack.nats.url,
    '--redis',
    stack.redisUrl,
    '--worker-id',
    workerId,
    '--topic',
    opts.topic,
    '--heartbeat-interval',
    '0.5',
    ...(opts.signingKey ? ['--signing-key', opts.signingKey] : []),
    ...Object.entries(opts.trust ?? {}).flatMap(([sender, file]) => ['--trust', `${sender}=${file}`]),
  ];
  const { command, args: argv } = lang.worker(args);
  const log = logFile(workerId);
  const stderr = openSync(log, 'a');
  const child = spawn(command, argv, { stdio: ['ignore', 'pipe', stderr] });
  closeSync(stderr);
  running.add(child);
  const events: ProgramEvent[] = [];
  const waiters = new Set<() => void>();
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => {
      running.delete(child);
      resolve(code);
      for (const wake of waiters) wake();
    });
    child.once('error', () => resolve(-1));
  });
  createInterface({ input: child.stdout! }).on('line', (line) => {
    try {
      events.push(JSON.parse(line) as ProgramEvent);
    } catch {
      events.push({ event: 'text', text: line });
    }
    for (const wake of waiters) wake();
  });
  let exitCode: number | null | undefined;
  void exited.then((code) => {
    exitCode = code;
  });

  const program: WorkerProgram = {
    workerId,
    events,
    waitFor(pred, what, timeoutMs = 15_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = events.find(pred);
          if (found) return done(() => resolve(found));
          if (exitCode !== undefined)
            return done(() =>
              reject(
                new SdkProgramError(`${lang.id} worker ${workerId} exited (${exitCode}) before ${what}:\n${tail(log)}`),
              ),
            );
        };
        const timer = setTimeout(
          () =>
            done(() =>
              reject(
                new SdkProgramError(`${lang.id} worker ${workerId}: no ${what} within ${timeoutMs} ms:\n${tail(log)}`),
              ),
            ),
          timeoutMs,
        );
        const done = (settle: () => void) => {
          clearTimeout(timer);
          waiters.delete(check);
          settle();
        };
        waiters.add(check);
        check();
      });
    },
    async stop() {
      if (exitCode !== undefined) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
  await program.waitFor((e) => e.event === 'ready', 'ready event', 20_000);
  return program;
}

/** Runs the language's client program once and returns the JSON object it printed. */
export async function runClient(lang: SdkLanguage, args: readonly string[], timeoutMs = 30_000): Promise<ProgramEvent> {
  const { command, args: argv } = lang.client(args);
  const log = logFile(newId(`${lang.id}-client`));
  const stderr = openSync(log, 'a');
  const child = spawn(command, argv, { stdio: ['ignore', 'pipe', stderr] });
  closeSync(stderr);
  running.add(child);
  let out = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    out += chunk.toString('utf8');
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const code = await new Promise<number | null>((resolve) => {
    child.once('exit', resolve);
    child.once('error', () => resolve(-1));
  });
  clearTimeout(timer);
  running.delete(child);
  const line = out.trim().split('\n').at(-1) ?? '';
  if (code !== 0 || !line) {
    throw new SdkProgramError(
      `${lang.id} client ${args[0]} exited with ${code}${timeoutMs && code === null ? ' (killed: timeout)' : ''}:\n${tail(log)}\n${out}`,
    );
  }
  return JSON.parse(line) as ProgramEvent;
}

/** Arguments for the client's `submit` command. */
export interface SubmitArgs {
  jobId: string;
  topic: string;
  traceId: string;
  input: unknown;
  /** Seconds to wait for the job's JobResult (0: just submit). */
  wait?: number;
  senderId?: string;
  signingKey?: string;
  tenant?: string;
  /** BusPacket.auth_token (only the Go program takes it). */
  authToken?: string;
}

/** Submits one job through the language's SDK client. */
export function submitJob(lang: SdkLanguage, stack: CapstanStack, a: SubmitArgs): Promise<ProgramEvent> {
  return runClient(lang, [
    'submit',
    '--nats',
    stack.nats.url,
    '--redis',
    stack.redisUrl,
    '--job-id',
    a.jobId,
    '--topic',
    a.topic,
    '--trace-id',
    a.traceId,
    '--input',
    JSON.stringify(a.input),
    '--wait',
    String(a.wait ?? 0),
    '--sender-id',
    a.senderId ?? `${lang.id}-client`,
    ...(a.tenant ? ['--tenant', a.tenant] : []),
    ...(a.signingKey ? ['--signing-key', a.signingKey] : []),
    ...(a.authToken ? ['--auth-token', a.authToken] : []),
  ]);
}

/** Cancels a job through the language's SDK client (a JobCancel on sys.job.cancel). */
export function cancelJob(
  lang: SdkLanguage,
  stack: CapstanStack,
  a: { jobId: string; reason: string; senderId?: string },
): Promise<ProgramEvent> {
  return runClient(lang, [
    'cancel',
    '--nats',
    stack.nats.url,
    '--job-id',
    a.jobId,
    '--reason',
    a.reason,
    '--sender-id',
    a.senderId ?? `${lang.id}-client`,
  ]);
}

/** Asks the safety kernel Check, Evaluate, Explain and ListSnapshots through the language's gRPC client. */
export function checkPolicy(
  lang: SdkLanguage,
  a: { kernel: string; jobId: string; topic: string; tenant: string },
): Promise<ProgramEvent> {
  return runClient(lang, [
    'check',
    '--kernel',
    a.kernel,
    '--job-id',
    a.jobId,
    '--topic',
    a.topic,
    '--tenant',
    a.tenant,
  ]);
}

/** Runs a program to completion and returns every JSON line it printed (non-JSON lines fail the call). */
export async function runProgramLines(
  command: string,
  args: readonly string[],
  timeoutMs = 60_000,
): Promise<Record<string, unknown>[]> {
  const child = spawn(command, [...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (c: Buffer) => {
    out += c.toString('utf8');
  });
  child.stderr!.on('data', (c: Buffer) => {
    err += c.toString('utf8');
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const code = await new Promise<number | null>((resolve) => {
    child.once('exit', resolve);
    child.once('error', () => resolve(-1));
  });
  clearTimeout(timer);
  running.delete(child);
  if (code !== 0) throw new SdkProgramError(`${command} ${args.join(' ')} exited with ${code}:\n${err}${out}`);
  return out
    .trim()
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}
