import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { curlJson, type KernelTestEnv, startKernelTestEnv, TEST_BUNDLE } from './test-support/kernel-stack.js';

const main = fileURLToPath(new URL('./main.ts', import.meta.url));

let env: KernelTestEnv;
beforeAll(async () => {
  env = await startKernelTestEnv('sk_main');
});
afterAll(async () => {
  await env?.close();
});

function runMain(extraEnv: Record<string, string>) {
  const child = spawn(process.execPath, ['--conditions=@capstan/source', '--import', 'tsx', main], {
    env: { ...process.env, ...extraEnv },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  return { child, stdout: () => stdout, stderr: () => stderr };
}

describe('capstan-safety-kernel (main.ts)', () => {
  it('starts from the environment, serves Check, and exits 0 on SIGTERM', async () => {
    const file = join(env.dir, 'main-policy.yaml');
    await writeFile(file, TEST_BUNDLE);
    const proc = runMain({
      NATS_URL: env.natsUrl,
      REDIS_URL: env.redisUrl,
      DATABASE_URL: env.databaseUrl,
      SAFETY_KERNEL_PORT: '0',
      CAPSTAN_LISTEN_HOST: '127.0.0.1',
      CAPSTAN_POLICY_FILE: file,
      CAPSTAN_LOG_LEVEL: 'info',
    });
    await expect.poll(() => proc.stdout(), { timeout: 20_000 }).toMatch(/safety kernel ready/);
    const ready = proc
      .stdout()
      .split('\n')
      .map((l) => (l.startsWith('{') ? (JSON.parse(l) as { msg: string; url?: string }) : undefined))
      .find((l) => l?.msg === 'safety kernel ready');
    const check = await curlJson(`${ready?.url}/cordum.agent.v1.SafetyKernel/Check`, { topic: 'job.echo' });
    expect(check.json).toMatchObject({ decision: 'DECISION_TYPE_ALLOW', ruleId: 'allow-echo' });
    proc.child.kill('SIGTERM');
    const [code] = await once(proc.child, 'exit');
    expect(code).toBe(0);
    expect(proc.stdout()).toMatch(/safety kernel stopped/);
  });

  it('exits 1 with a message naming the variable when the config is invalid', async () => {
    const proc = runMain({ CAPSTAN_APPROVAL_TTL_MS: 'tomorrow', DATABASE_URL: env.databaseUrl });
    const [code] = await once(proc.child, 'exit');
    expect(code).toBe(1);
    expect(proc.stderr()).toMatch(/CAPSTAN_APPROVAL_TTL_MS/);
  });
});
