import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { create } from '@bufbuild/protobuf';
import { PolicyCheckRequestSchema } from '@capstan/gen/cordum/agent/v1/safety_pb';
import { DEFAULT_RULE_ID } from '@capstan/policy';
import { Code, ConnectError } from '@connectrpc/connect';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SafetyKernelService } from './start-safety-kernel-service.js';
import {
  type KernelClients,
  type KernelTestEnv,
  kernelClients,
  startKernelTestEnv,
  startTestKernel,
  TEST_BUNDLE,
} from './test-support/kernel-stack.js';

let env: KernelTestEnv;
let kernel: SafetyKernelService;
let clients: KernelClients;
let policyFile: string;

beforeAll(async () => {
  env = await startKernelTestEnv('sk_metrics');
  policyFile = join(env.dir, 'policy.yaml');
  await writeFile(policyFile, TEST_BUNDLE);
  ({ kernel } = await startTestKernel(env, { policyFile }));
  clients = kernelClients(kernel.url);
});

afterAll(async () => {
  clients?.close();
  await kernel?.stop();
  await env?.close();
});

const scrape = async (): Promise<string> => {
  const res = await fetch(`${kernel.metricsUrl}/metrics`);
  expect(res.status).toBe(200);
  return res.text();
};

/** The value of one sample, e.g. `capstan_safety_kernel_checks_total{decision="DENY",rule_id="deny-danger"}`. */
const sample = (text: string, series: string): number | undefined => {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
};

const failure = (p: Promise<unknown>) =>
  p.then(
    () => {
      throw new Error('expected the call to fail');
    },
    (err: unknown) => ConnectError.from(err),
  );

describe('safety kernel metrics', () => {
  it('counts Check decisions by rule, errors by method and code, approvals, snapshots and bundle rejections', async () => {
    const req = (init: Parameters<typeof create<typeof PolicyCheckRequestSchema>>[1]) =>
      create(PolicyCheckRequestSchema, { tenant: 'acme', ...init });
    // gRPC (the kernel's node:http2 fast path) and Connect over HTTP/1.1 both count.
    await clients.grpc.check(req({ jobId: 'm-1', topic: 'job.echo' }));
    await clients.connect.check(req({ jobId: 'm-2', topic: 'job.echo' }));
    await clients.grpc.check(req({ jobId: 'm-3', topic: 'job.danger.rm' }));
    await clients.grpc.check(req({ jobId: 'm-4', topic: 'job.unknown' }));
    await clients.connect.check(req({ jobId: 'm-5', topic: 'job.deploy' }));
    // Evaluate has no side effects and is not a Check.
    await clients.grpc.evaluate(req({ jobId: 'm-6', topic: 'job.echo' }));
    // Malformed requests, on both paths.
    expect((await failure(clients.grpc.check(req({ tenant: 'acme' })))).code).toBe(Code.InvalidArgument);
    expect((await failure(clients.connect.check(req({ tenant: 'acme' })))).code).toBe(Code.InvalidArgument);
    // An invalid bundle upload is refused; the active snapshot stays.
    const before = kernel.activeSnapshot();
    expect(
      (
        await failure(
          clients.admin.uploadBundle({ bundleYaml: 'rules:\n  - { id: x, decison: allow }\n', activate: true }),
        )
      ).code,
    ).toBe(Code.InvalidArgument);

    const text = await scrape();
    expect(sample(text, 'capstan_safety_kernel_checks_total{decision="ALLOW",rule_id="allow-echo"}')).toBe(2);
    expect(sample(text, 'capstan_safety_kernel_checks_total{decision="DENY",rule_id="deny-danger"}')).toBe(1);
    // No rule matched: the bundle default decides.
    expect(sample(text, `capstan_safety_kernel_checks_total{decision="DENY",rule_id="${DEFAULT_RULE_ID}"}`)).toBe(1);
    expect(sample(text, 'capstan_safety_kernel_checks_total{decision="REQUIRE_HUMAN",rule_id="approve-deploy"}')).toBe(
      1,
    );
    expect(sample(text, 'capstan_safety_kernel_check_duration_seconds_count')).toBe(5);
    expect(sample(text, 'capstan_safety_kernel_rpc_errors_total{method="Check",code="invalid_argument"}')).toBe(2);
    expect(sample(text, 'capstan_safety_kernel_rpc_errors_total{method="UploadBundle",code="invalid_argument"}')).toBe(
      1,
    );
    expect(sample(text, 'capstan_safety_kernel_bundle_rejections_total{source="admin"}')).toBe(1);
    expect(sample(text, 'capstan_safety_kernel_approvals_open')).toBe(1);
    expect(sample(text, `capstan_safety_kernel_active_snapshot_info{snapshot="${before}"}`)).toBe(1);
    const switches = sample(text, 'capstan_safety_kernel_snapshot_switches_total') ?? 0;
    expect(switches).toBeGreaterThanOrEqual(1);
    // Node's process metrics come with it.
    expect(text).toMatch(/^process_cpu_user_seconds_total /m);

    // An activation switches the snapshot: the info label follows it and only it is reported.
    const uploaded = await clients.admin.uploadBundle({
      bundleYaml: TEST_BUNDLE.replace('version: "t1"', 'version: "t2"'),
      activate: true,
      actor: 'metrics-test',
    });
    const next = uploaded.snapshot?.snapshotId ?? '';
    expect(next).not.toBe(before);
    const after = await scrape();
    expect(sample(after, `capstan_safety_kernel_active_snapshot_info{snapshot="${next}"}`)).toBe(1);
    expect(after).not.toContain(`snapshot="${before}"`);
    expect(sample(after, 'capstan_safety_kernel_snapshot_switches_total')).toBe(switches + 1);

    // Recorded decisions show once the writer has flushed (every 50 ms).
    await expect
      .poll(async () => sample(await scrape(), 'capstan_safety_kernel_decisions_recorded_total'), { timeout: 5000 })
      .toBe(5);
    expect(sample(after, 'capstan_safety_kernel_decisions_dropped_total')).toBe(0);
  });

  it('reports an invalid policy file edit as a rejection from the file', async () => {
    await writeFile(policyFile, 'rules:\n  - { id: x, decison: allow }\n');
    await expect
      .poll(async () => sample(await scrape(), 'capstan_safety_kernel_bundle_rejections_total{source="file"}'), {
        timeout: 10_000,
      })
      .toBe(1);
  });

  it('answers /healthz with 200 while the database and NATS are there', async () => {
    const res = await fetch(`${kernel.metricsUrl}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok' });
  });
});
