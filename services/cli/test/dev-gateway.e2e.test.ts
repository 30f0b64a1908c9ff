import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { loadCompose } from './compose-file.js';
import { type CliProcess, spawnCli, stopCli, waitForReady } from './spawn-cli.js';

const run = promisify(execFile);
const README = new URL('../../../README.md', import.meta.url);
const dirs: string[] = [];
const started: CliProcess[] = [];

afterAll(async () => {
  // A failed assertion must not leave a dev stack running.
  await Promise.all(started.map((cli) => stopCli(cli)));
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function tempCwd(): string {
  const dir = mkdtempSync(join(tmpdir(), 'capstan-dev-gateway-e2e-'));
  dirs.push(dir);
  return dir;
}

interface ReadyInfo {
  services: Record<string, Record<string, string>>;
  dataDir: string;
}

/** Starts `capstan dev` in `cwd` and returns it with the gateway's entry of its ready line. */
async function startDev(cwd: string): Promise<{ cli: CliProcess; info: ReadyInfo; gateway: Record<string, string> }> {
  const cli = spawnCli(['dev'], { cwd });
  started.push(cli);
  const info = await waitForReady<ReadyInfo>(cli);
  const gateway = info.services['gateway'];
  if (!gateway) throw new Error(`no gateway in the ready line: ${JSON.stringify(info.services)}`);
  return { cli, info, gateway };
}

/**
 * Runs the health check docker-compose.yml gives `service` (a `node -e` script) against `url` instead of the
 * container's own port; resolves with its exit code.
 */
async function composeHealthcheck(service: string, url: string): Promise<number> {
  const test = loadCompose().services[service]?.healthcheck?.test ?? [];
  expect(test.slice(0, 3)).toEqual(['CMD', 'node', '-e']);
  const script = test[3]!.replace(/http:\/\/127\.0\.0\.1:\d+/g, url);
  return run(process.execPath, ['-e', script], { timeout: 20_000 }).then(
    () => 0,
    (error: { code?: number }) => error.code ?? -1,
  );
}

/** A REST client for the gateway with the demo key. */
function client(gateway: Record<string, string>) {
  return async (path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> => {
    const response = await fetch(`${gateway['url']}${path}`, {
      method: body === undefined ? 'GET' : 'POST',
      headers: { 'x-api-key': gateway['demoApiKey']!, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: response.status, json: (await response.json()) as Record<string, unknown> };
  };
}

/** Polls `GET /v1/jobs/:id/result` past its 409 (not finished yet). */
async function resultOf(api: ReturnType<typeof client>, jobId: string): Promise<Record<string, unknown>> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const answer = await api(`/v1/jobs/${jobId}/result`);
    if (answer.status !== 409) {
      expect(answer.status, JSON.stringify(answer.json)).toBe(200);
      return answer.json;
    }
    if (Date.now() > deadline) throw new Error(`job ${jobId} did not finish within 30 s`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** The README's REST example: the first `sh` block after its marker comment. */
function readmeRestExample(): string {
  const text = readFileSync(README, 'utf8');
  const block = /<!-- readme-rest-example[^>]*-->\n```sh\n([\s\S]*?)```/.exec(text)?.[1];
  if (!block) throw new Error('README.md lost its readme-rest-example block');
  return block;
}

const mode = (path: string) => statSync(path).mode & 0o777;

// Starts the whole stack twice on an embedded PGlite database (tens of seconds on a loaded machine).
describe('capstan dev with the gateway', { timeout: 240_000 }, () => {
  it('serves REST with a demo key: job.echo runs through kernel, scheduler and worker; a restart reuses the key', async () => {
    const cwd = tempCwd();
    const { cli, info, gateway } = await startDev(cwd);
    const url = gateway['url']!;
    expect(gateway).toEqual({
      url: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/),
      openapi: `${url}/v1/openapi.json`,
      docs: `${url}/docs`,
      metrics: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/),
      health: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+\/healthz$/),
      demoOrganizationId: expect.stringMatching(/^org_[0-9a-f]{32}$/),
      demoUser: 'demo@capstan.local',
      demoApiKey: expect.stringMatching(/^cacp_live_[A-Za-z0-9_-]{43}$/),
      demoCredentials: join(cwd, '.capstan', 'demo-credentials.json'),
    });
    // The secrets sit in owner-only files and never reach the logs.
    expect(mode(join(cwd, '.capstan', 'dev.json'))).toBe(0o600);
    expect(mode(gateway['demoCredentials']!)).toBe(0o600);
    expect(JSON.parse(readFileSync(gateway['demoCredentials']!, 'utf8'))).toMatchObject({
      organizationId: gateway['demoOrganizationId'],
      email: 'demo@capstan.local',
      apiKey: gateway['demoApiKey'],
    });
    expect(cli.stderr()).not.toContain(gateway['demoApiKey']);
    expect((await fetch(gateway['openapi']!)).status).toBe(200);

    // docker-compose.yml's health checks pass against the real services (and fail where nothing listens).
    expect(await composeHealthcheck('gateway', url)).toBe(0);
    expect(await composeHealthcheck('safety-kernel', info.services['safety-kernel']!['url']!)).toBe(0);
    expect(await composeHealthcheck('safety-kernel', 'http://127.0.0.1:9')).toBe(1);

    // REST → gateway → scheduler (the kernel allows job.echo for the demo organization's tenant) → echo worker.
    const api = client(gateway);
    const submit = await api('/v1/jobs', { topic: 'job.echo', input: { hello: 'rest' } });
    expect(submit.status, JSON.stringify(submit.json)).toBe(202);
    const jobId = submit.json['job_id'] as string;
    expect(await resultOf(api, jobId)).toMatchObject({
      state: 'SUCCEEDED',
      output: { echo: { hello: 'rest' }, attempt: 1 },
      error: null,
    });
    const job = await api(`/v1/jobs/${jobId}`);
    expect(job.json).toMatchObject({
      state: 'SUCCEEDED',
      worker_id: expect.stringMatching(/^echo-worker-/),
      decision: { decision: 'ALLOW', rule_id: 'allow-echo' },
    });

    // The dev policy still denies what it denies, for this tenant too.
    const shell = await api('/v1/jobs', { topic: 'job.shell.x', input: {} });
    expect(shell.status).toBe(202);
    expect(await resultOf(api, shell.json['job_id'] as string)).toMatchObject({
      state: 'DENIED',
      error: { message: 'jobs that run arbitrary shell commands are not allowed' },
    });

    // The README's quick start, exactly as written, in the directory `npm run dev` runs in.
    const readme = await run('bash', ['-eo', 'pipefail', '-c', readmeRestExample()], { cwd, timeout: 60_000 });
    expect(readme.stdout).toMatch(/^event: end\ndata: \{"job_id":"[^"]+","state":"SUCCEEDED"\}$/m);
    expect(JSON.parse(readme.stdout.trim().split('\n').at(-1)!)).toMatchObject({
      state: 'SUCCEEDED',
      output: { echo: { hello: 'capstan' } },
    });

    cli.child.kill('SIGINT');
    expect(await cli.exited).toBe(0);

    // A second start prints the same demo tenant and key, and the first run's jobs are still there.
    const second = await startDev(cwd);
    const same = ['demoOrganizationId', 'demoUser', 'demoApiKey', 'demoCredentials'] as const;
    expect(Object.fromEntries(same.map((k) => [k, second.gateway[k]]))).toEqual(
      Object.fromEntries(same.map((k) => [k, gateway[k]])),
    );
    expect(second.cli.stderr()).toContain('demo tenant reused');
    expect(await resultOf(client(second.gateway), jobId)).toMatchObject({ state: 'SUCCEEDED' });
    second.cli.child.kill('SIGINT');
    expect(await second.cli.exited).toBe(0);
  });
});
