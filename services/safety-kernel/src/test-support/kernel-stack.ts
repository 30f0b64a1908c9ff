import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { PolicyAdmin } from '@capstan/gen/capstan/policy/v1/policy_admin_pb';
import { SafetyKernel } from '@capstan/gen/cordum/agent/v1/safety_pb';
import { Health } from '@capstan/gen/grpc/health/v1/health_pb';
import { createDatabase, migrateToLatest, type StoreDatabase } from '@capstan/store';
import { createTestDatabase, type NatsHandle, startNats, testServices } from '@capstan/testkit';
import { type Client, createClient } from '@connectrpc/connect';
import { createConnectTransport, createGrpcTransport, Http2SessionManager } from '@connectrpc/connect-node';
import { type Logger, pino } from 'pino';
import {
  type SafetyKernelService,
  type SafetyKernelServiceConfig,
  startSafetyKernelService,
} from '../start-safety-kernel-service.js';

/** A bundle exercising every decision, constraints, remediations, approvals and a velocity rule. */
export const TEST_BUNDLE = `version: "t1"
default_decision: deny
default_reason: nothing matched
rules:
  - id: allow-echo
    match: { topics: [job.echo] }
    decision: allow
  - id: deny-danger
    match: { topics: ["job.danger.>"] }
    decision: deny
    reason: dangerous topics are not allowed
    remediations:
      - id: use-safe
        title: Use the safe topic
        replacement_topic: job.safe
  - id: bounded-code
    match: { capabilities: [code.write] }
    decision: allow_with_constraints
    constraints:
      budgets: { max_runtime_ms: 60000, max_retries: 1 }
      sandbox: { isolated: true }
  - id: approve-deploy
    match: { topics: [job.deploy] }
    decision: require_human
    reason: deploys need a human
  - id: throttle-llm
    match: { topics: [job.llm] }
    velocity: { key: [tenant], limit: 3, window_seconds: 60 }
    decision: throttle
  - id: allow-llm
    match: { topics: [job.llm] }
    decision: allow
tests:
  - name: echo allowed
    request: { topic: job.echo }
    expect: { decision: allow, rule_id: allow-echo }
`;

/** NATS (private), a migrated private database and a temp dir for one test file. */
export interface KernelTestEnv {
  natsUrl: string;
  redisUrl: string;
  databaseUrl: string;
  dir: string;
  /** A connection to the test database for assertions. */
  store: StoreDatabase;
  close(): Promise<void>;
}

/** Starts the environment a test file's kernels share. */
export async function startKernelTestEnv(prefix: string): Promise<KernelTestEnv> {
  const nats: NatsHandle = await startNats();
  const database = await createTestDatabase(testServices().databaseUrl, prefix);
  const store = await createDatabase({ url: database.url });
  await migrateToLatest(store.db);
  const dir = await mkdtemp(join(tmpdir(), `${prefix}-`));
  return {
    natsUrl: nats.url,
    redisUrl: testServices().redisUrl,
    databaseUrl: database.url,
    dir,
    store,
    async close() {
      await store.close();
      await nats.stop();
      await database.drop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Log lines a test can inspect. */
export interface CapturedLog {
  logger: Logger;
  lines: Record<string, unknown>[];
  /** Every line's `msg`, joined by newlines. */
  text(): string;
}

/** A pino logger that keeps its JSON lines in memory. */
export function captureLog(): CapturedLog {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      for (const line of String(chunk).split('\n')) if (line) lines.push(JSON.parse(line));
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), lines, text: () => lines.map((l) => l.msg).join('\n') };
}

/** Config for a kernel of the test environment on a free loopback port. */
export function kernelConfig(
  env: KernelTestEnv,
  overrides: Partial<SafetyKernelServiceConfig> = {},
): SafetyKernelServiceConfig {
  return {
    natsUrl: env.natsUrl,
    redisUrl: env.redisUrl,
    databaseUrl: env.databaseUrl,
    logLevel: 'silent',
    listenHost: '127.0.0.1',
    port: 0,
    metricsPort: 0,
    policyFile: '',
    keepSnapshots: 20,
    approvalTtlMs: 3_600_000,
    ...overrides,
  };
}

/** Starts a kernel replica with a captured log. */
export async function startTestKernel(
  env: KernelTestEnv,
  overrides: Partial<SafetyKernelServiceConfig> = {},
): Promise<{ kernel: SafetyKernelService; log: CapturedLog }> {
  const log = captureLog();
  const kernel = await startSafetyKernelService(kernelConfig(env, overrides), { logger: log.logger });
  return { kernel, log };
}

/** Clients of every kernel service over Connect (HTTP/1.1) and gRPC (HTTP/2). */
export interface KernelClients {
  connect: Client<typeof SafetyKernel>;
  grpc: Client<typeof SafetyKernel>;
  admin: Client<typeof PolicyAdmin>;
  grpcAdmin: Client<typeof PolicyAdmin>;
  health: Client<typeof Health>;
  close(): void;
}

/** Creates clients for a kernel at `url`. */
export function kernelClients(url: string): KernelClients {
  const sessions = new Http2SessionManager(url);
  const connectTransport = createConnectTransport({ baseUrl: url, httpVersion: '1.1' });
  const grpcTransport = createGrpcTransport({ baseUrl: url, sessionManager: sessions });
  return {
    connect: createClient(SafetyKernel, connectTransport),
    grpc: createClient(SafetyKernel, grpcTransport),
    admin: createClient(PolicyAdmin, connectTransport),
    grpcAdmin: createClient(PolicyAdmin, grpcTransport),
    health: createClient(Health, grpcTransport),
    close: () => sessions.abort(),
  };
}

/** POSTs JSON with curl (a client that knows nothing about Connect) and returns the HTTP status and body. */
export function curlJson(url: string, body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    execFile(
      'curl',
      [
        '-s',
        '-w',
        '\n%{http_code}',
        '-H',
        'Content-Type: application/json',
        '-d',
        typeof body === 'string' ? body : JSON.stringify(body),
        url,
      ],
      (err, stdout) => {
        if (err) return reject(err);
        const cut = stdout.lastIndexOf('\n');
        resolve({ status: Number(stdout.slice(cut + 1)), json: JSON.parse(stdout.slice(0, cut) || '{}') });
      },
    );
  });
}
