import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDatabase, migrateToLatest } from '@capstan/store';
import {
  createTestDatabase,
  type NatsHandle,
  type ServerHandle,
  startNats,
  startRedis,
  type TestDatabase,
  testServices,
} from '@capstan/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliProcess, cliEnv, runCli, spawnCli, stopCli, waitFor } from './spawn-cli.js';

const dir = mkdtempSync(join(tmpdir(), 'capstan-safety-kernel-cmd-'));
const started: CliProcess[] = [];
let nats: NatsHandle;
let redis: ServerHandle;
let database: TestDatabase;

beforeAll(async () => {
  // Own NATS: the kernel announces activations on the bus, which must not reach other test files' kernels.
  [nats, redis, database] = await Promise.all([
    startNats(),
    startRedis(),
    createTestDatabase(testServices().databaseUrl, 'capstan_cli_kernel_cmd'),
  ]);
  const store = await createDatabase({ url: database.url });
  await migrateToLatest(store.db);
  await store.close();
}, 60_000);

afterAll(async () => {
  await Promise.all(started.map((cli) => stopCli(cli)));
  await Promise.all([nats?.stop(), redis?.stop(), database?.drop()]);
  rmSync(dir, { recursive: true, force: true });
});

function kernelEnv(extra: Record<string, string> = {}) {
  return cliEnv({
    CAPSTAN_NATS_URL: nats.url,
    CAPSTAN_REDIS_URL: redis.url,
    CAPSTAN_DATABASE_URL: database.url,
    CAPSTAN_SAFETY_KERNEL_PORT: '0',
    CAPSTAN_LOG_LEVEL: 'warn',
    ...extra,
  });
}

describe('capstan safety-kernel', { timeout: 60_000 }, () => {
  it('serves the policy file on its port until SIGINT, and the policy commands reach it', async () => {
    writeFileSync(
      join(dir, 'policy.yaml'),
      'version: cmd\nrules:\n  - { id: echo, match: { topics: [job.echo] }, decision: allow }\n',
    );
    const kernel = spawnCli(['safety-kernel'], { cwd: dir, env: kernelEnv({ CAPSTAN_POLICY_FILE: 'policy.yaml' }) });
    started.push(kernel);
    const READY =
      /safety kernel serving Connect, gRPC and gRPC-Web at (http:\/\/127\.0\.0\.1:\d+); active snapshot (\S+) \(watching policy\.yaml\)/;
    await waitFor(
      () => READY.test(kernel.stderr()) || kernel.child.exitCode !== null,
      30_000,
      () => `no ready line; stderr:\n${kernel.stderr()}`,
    );
    const [, url, snapshot] = READY.exec(kernel.stderr()) ?? [];
    expect(snapshot).toMatch(/@cmd$/);
    const metricsUrl = /safety kernel metrics at (http:\/\/127\.0\.0\.1:\d+\/metrics)/.exec(kernel.stderr())?.[1];
    const metrics = await fetch(metricsUrl!);
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toContain(`capstan_safety_kernel_active_snapshot_info{snapshot="${snapshot}"} 1`);

    const list = await runCli(['policy', 'list', '--kernel', url!], { cwd: dir });
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(new RegExp(`^\\*  ${snapshot!.replace('@', '\\@')} +1 +file:policy\\.yaml `, 'm'));

    kernel.child.kill('SIGINT');
    expect(await kernel.exited).toBe(0);
  });

  it('refuses an invalid policy file with its positions and exits 1', async () => {
    writeFileSync(join(dir, 'broken.yaml'), 'rules:\n  - { id: x, decison: allow }\n');
    const result = await runCli(['safety-kernel'], {
      cwd: dir,
      env: kernelEnv({ CAPSTAN_POLICY_FILE: 'broken.yaml' }),
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^capstan safety-kernel: invalid policy file broken\.yaml \(CAPSTAN_POLICY_FILE\):/m);
    expect(result.stderr).toMatch(/broken\.yaml:2:\d+: rules\[0\]\.decison: unknown field "decison"/);
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });

  it('rejects bad configuration naming the variable', async () => {
    const result = await runCli(['safety-kernel'], { cwd: dir, env: kernelEnv({ CAPSTAN_APPROVAL_TTL_MS: 'soon' }) });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('CAPSTAN_APPROVAL_TTL_MS="soon" is invalid');
  });
});
