import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { alertRuleMetrics, declaredMetrics } from './prometheus-files.js';
import { type CliProcess, cliEnv, runCli, spawnCli, stopCli, waitForReady } from './spawn-cli.js';

const dirs: string[] = [];
const started: CliProcess[] = [];

afterAll(async () => {
  // A failed assertion must not leave a dev stack running.
  await Promise.all(started.map((cli) => stopCli(cli)));
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function tempCwd(): string {
  const dir = mkdtempSync(join(tmpdir(), 'capstan-dev-e2e-'));
  dirs.push(dir);
  return dir;
}

interface ReadyInfo {
  pid: number;
  nats: string;
  redis: string;
  database: string;
  services: Record<string, Record<string, string>>;
  processes: Record<string, number>;
  dataDir: string;
}

/** Starts `capstan dev` in `cwd` and waits for its ready line. */
async function startDevCli(cwd: string): Promise<{ cli: CliProcess; info: ReadyInfo }> {
  const cli = spawnCli(['dev'], { cwd });
  started.push(cli);
  return { cli, info: await waitForReady<ReadyInfo>(cli) };
}

/** Running = exists and is not a zombie (orphans are reaped by init, which can take seconds). */
function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

// Each test starts real servers and an embedded PGlite database (seconds each on a loaded machine).
describe('capstan dev', { timeout: 120_000 }, () => {
  it('runs a job end to end: `capstan submit` to job.echo prints the job id, progress and the result', async () => {
    const cwd = tempCwd();
    const { cli } = await startDevCli(cwd);
    // submit finds the running dev stack through .capstan/dev.json in its working directory.
    const ok = await runCli(['submit', '--topic', 'job.echo', '--input', '{"hello":"world","sleep_ms":600}'], { cwd });
    expect(ok.code, ok.stderr).toBe(0);
    const [jobId, ...rest] = ok.stdout.trim().split('\n');
    expect(jobId).toMatch(/^[0-9a-f-]{36}$/);
    expect(JSON.parse(rest.join('\n'))).toMatchObject({ echo: { hello: 'world', sleep_ms: 600 }, attempt: 1 });
    expect(ok.stderr).toMatch(/\[PENDING\][\s\S]*\[DISPATCHED\][\s\S]*\[RUNNING\][\s\S]*%[\s\S]*\[SUCCEEDED\]/);

    const failed = await runCli(['submit', '--topic', 'job.echo', '--input', '{"fail":"fatal"}'], { cwd });
    expect(failed.code).toBe(1);
    expect(JSON.parse(failed.stdout.trim().split('\n').slice(1).join('\n'))).toMatchObject({
      state: 'FAILED',
      error: 'asked to fail (fatal)',
    });

    // The dev safety kernel's bundle denies shell jobs; the policy commands find the kernel through dev.json.
    const shell = await runCli(['submit', '--topic', 'job.shell.x'], { cwd });
    expect(shell.code).toBe(1);
    expect(JSON.parse(shell.stdout.trim().split('\n').slice(1).join('\n'))).toMatchObject({
      state: 'DENIED',
      error: 'jobs that run arbitrary shell commands are not allowed',
    });
    const snapshots = await runCli(['policy', 'list'], { cwd });
    expect(snapshots.code, snapshots.stderr).toBe(0);
    expect(snapshots.stdout).toMatch(/^\* {2}[0-9a-f]{16}@dev-1 +5 +file:\S+dev-policy\.yaml /m);

    const bad = await runCli(['submit', '--topic', 'job.echo', '--input', '{nope'], { cwd });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/--input is not valid JSON/);
    cli.child.kill('SIGINT');
    expect(await cli.exited).toBe(0);
  });

  it('starts the stack, announces it once, serves NATS (JetStream) and Redis, and stops cleanly on SIGINT', async () => {
    const cwd = tempCwd();
    const { cli, info } = await startDevCli(cwd);

    expect(cli.stdout().match(/CAPSTAN_READY/g)).toHaveLength(1);
    expect(info.pid).toBe(cli.child.pid);
    expect(info.dataDir).toBe(join(cwd, '.capstan'));
    expect(info.database).toBe(`pglite://${join(cwd, '.capstan', 'pglite')}`);
    expect(Object.keys(info.services)).toEqual(['safety-kernel', 'scheduler', 'gateway', 'echo-worker']);
    expect(info.services['safety-kernel']?.['url']).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(info.services['scheduler']?.['metrics']).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    expect(info.services['echo-worker']).toEqual({ topic: 'job.echo' });
    // Every service's Prometheus endpoint answers with its own metrics, and its health check is green.
    const declared = new Set<string>();
    for (const [service, metric] of [
      ['scheduler', 'capstan_jobs_active'],
      ['gateway', 'capstan_gateway_streams_open'],
      ['safety-kernel', 'capstan_safety_kernel_active_snapshot_info'],
    ] as const) {
      const urls = info.services[service]!;
      const scraped = await fetch(urls['metrics']!);
      expect(scraped.status, service).toBe(200);
      const page = await scraped.text();
      expect(page, service).toContain(`# TYPE ${metric} `);
      for (const name of declaredMetrics(page)) declared.add(name);
      expect((await fetch(urls['health']!)).status, service).toBe(200);
    }
    // The alert rules shipped in deploy/prometheus query only metrics the services really export.
    expect(alertRuleMetrics().filter((name) => !declared.has(name))).toEqual([]);
    expect(JSON.parse(readFileSync(join(cwd, '.capstan', 'dev.json'), 'utf8'))).toEqual(info);
    expect(cli.stderr()).toMatch(/^capstan dev: applied migrations: 0001-bus-dead-letters(, |$)/m);

    const nc = await connect({ servers: info.nats, timeout: 5_000 });
    try {
      const reply = await nc.request('$JS.API.INFO', undefined, { timeout: 5_000 });
      expect(reply.json<{ type: string }>().type).toBe('io.nats.jetstream.api.v1.account_info_response');
    } finally {
      await nc.close();
    }
    const redis = new Redis(info.redis, { lazyConnect: true, maxRetriesPerRequest: 1 });
    try {
      await redis.connect();
      expect(await redis.ping()).toBe('PONG');
      await redis.set('capstan:e2e', 'ok');
      expect(await redis.get('capstan:e2e')).toBe('ok');
    } finally {
      redis.disconnect();
    }

    // A second dev in the same directory would share the data files: it must refuse, naming the first.
    const second = await runCli(['dev'], { cwd });
    expect(second.code).toBe(1);
    expect(second.stderr).toContain(`capstan dev is already running in this directory (pid ${info.pid}`);

    cli.child.kill('SIGINT');
    expect(await cli.exited).toBe(0);
    expect(cli.stderr()).toContain('capstan dev: stopped');
    for (const pid of Object.values(info.processes)) expect(isAlive(pid)).toBe(false);
    expect(existsSync(join(cwd, '.capstan', 'dev.json'))).toBe(false);
    expect(existsSync(join(cwd, '.capstan', 'nats', 'jetstream'))).toBe(true);
  });

  it('after being killed with SIGKILL, the next start cleans up the orphaned servers', async () => {
    const cwd = tempCwd();
    const first = await startDevCli(cwd);
    first.cli.child.kill('SIGKILL');
    await first.cli.exited;
    const orphans = Object.values(first.info.processes);
    for (const pid of orphans) expect(isAlive(pid)).toBe(true);

    const { cli, info } = await startDevCli(cwd);
    expect(cli.stderr()).toMatch(/stopping nats-server \(pid \d+\) left over from a previous run/);
    for (const pid of orphans) expect(isAlive(pid)).toBe(false);

    cli.child.kill('SIGTERM');
    expect(await cli.exited).toBe(0);
    for (const pid of Object.values(info.processes)) expect(isAlive(pid)).toBe(false);
  });

  it('rejects bad configuration with every problem named before starting anything', async () => {
    const cwd = tempCwd();
    const env = cliEnv({ CAPSTAN_DEV_NATS_PORT: 'abc', CAPSTAN_LOG_LEVEL: 'chatty' });
    const result = await runCli(['dev'], { cwd, env });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('capstan dev: Invalid configuration (2 problems)');
    expect(result.stderr).toContain('CAPSTAN_DEV_NATS_PORT="abc" is invalid');
    expect(result.stderr).toContain('CAPSTAN_LOG_LEVEL="chatty" is invalid');
    expect(result.stdout).not.toContain('CAPSTAN_READY');
    expect(existsSync(join(cwd, '.capstan', 'nats'))).toBe(false);
  });
});
