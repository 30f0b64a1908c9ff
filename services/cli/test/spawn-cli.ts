import { type ChildProcess, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** The CLI entry point, run from source through tsx so the tests need no build. */
export const CLI_MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const TSX_LOADER = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

/**
 * The environment for a CLI under test: the runner's, minus every setting that would point `capstan` at the
 * runner's servers or config, plus free ports for the dev servers and the gateway (tests never use default ports).
 */
export function cliEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const key of Object.keys(env)) {
    if (key.startsWith('CAPSTAN_') || ['NATS_URL', 'REDIS_URL', 'DATABASE_URL', 'LOG_LEVEL'].includes(key)) {
      delete env[key];
    }
  }
  return {
    ...env,
    CAPSTAN_DEV_NATS_PORT: '0',
    CAPSTAN_DEV_REDIS_PORT: '0',
    CAPSTAN_GATEWAY_PORT: '0',
    CAPSTAN_GATEWAY_METRICS_PORT: '0',
    CAPSTAN_SAFETY_KERNEL_METRICS_PORT: '0',
    ...extra,
  };
}

/** A running `capstan` process with its output collected. */
export interface CliProcess {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /** Resolves with the exit code (or the signal name) once the process is gone. */
  exited: Promise<number | string>;
}

/**
 * Starts `capstan <args>` as its users would (`#!/usr/bin/env node` → main.ts), from source via tsx with the
 * `@capstan/source` condition so workspace packages resolve to their TypeScript too.
 */
export function spawnCli(args: readonly string[], options: { cwd: string; env?: NodeJS.ProcessEnv }): CliProcess {
  const child = spawn(process.execPath, ['--conditions=@capstan/source', '--import', TSX_LOADER, CLI_MAIN, ...args], {
    cwd: options.cwd,
    env: options.env ?? cliEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown'));
  });
  return { child, stdout: () => stdout, stderr: () => stderr, exited };
}

/** Runs `capstan <args>` to completion. */
export async function runCli(
  args: readonly string[],
  options: { cwd: string; env?: NodeJS.ProcessEnv },
): Promise<{ code: number | string; stdout: string; stderr: string }> {
  const cli = spawnCli(args, options);
  const code = await cli.exited;
  return { code, stdout: cli.stdout(), stderr: cli.stderr() };
}

/** Waits until `predicate` holds, polling; throws with `describe()` after `timeoutMs`. */
export async function waitFor(predicate: () => boolean, timeoutMs: number, describe: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${describe()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The line `capstan dev` prints on stdout once everything is up. */
const READY_LINE = /^CAPSTAN_READY (\{.*\})$/m;

/**
 * Waits for the `CAPSTAN_READY {json}` line of a `capstan dev` under test and returns its JSON; throws with the
 * process's stderr when it exits (or stays silent) instead.
 */
export async function waitForReady<T>(cli: CliProcess, timeoutMs = 60_000): Promise<T> {
  await waitFor(
    () => READY_LINE.test(cli.stdout()) || cli.child.exitCode !== null,
    timeoutMs,
    () => `no CAPSTAN_READY line; stderr:\n${cli.stderr()}`,
  );
  const match = READY_LINE.exec(cli.stdout());
  if (!match) throw new Error(`capstan dev exited with ${cli.child.exitCode}; stderr:\n${cli.stderr()}`);
  return JSON.parse(match[1]!) as T;
}

/**
 * Stops what a test left running (e.g. after a failed assertion): SIGINT first, so `capstan dev` stops the
 * nats-server and redis-server it started (a SIGKILL would orphan them), then SIGKILL after `graceMs`.
 */
export async function stopCli(cli: CliProcess, graceMs = 8_000): Promise<void> {
  if (cli.child.exitCode !== null || cli.child.signalCode !== null) return;
  cli.child.kill('SIGINT');
  const timer = setTimeout(() => cli.child.kill('SIGKILL'), graceMs);
  await cli.exited;
  clearTimeout(timer);
}
