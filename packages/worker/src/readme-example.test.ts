import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { type Bus, createBus } from '@capstan/bus';
import { JobStatus } from '@capstan/gen/cordum/agent/v1/job_pb';
import { type NatsHandle, startNats, testServices, uniqueName } from '@capstan/testkit';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { startBridgeScheduler } from './testing/bridge-scheduler.js';
import { createFakeScheduler, type FakeScheduler, until } from './testing/fake-scheduler.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const packagesDir = path.join(here, '..', '..');
let nats: NatsHandle;
let bus: Bus;
let observer: FakeScheduler;
let dir: string;

beforeAll(async () => {
  // Private: the example uses the fixed topic job.summarize and the Capstan streams.
  nats = await startNats({ jetstream: true });
  bus = await createBus({ servers: nats.url, senderId: uniqueName('readme_bridge') });
  await bus.ensureStreams();
  observer = await createFakeScheduler(nats.url);
  dir = await mkdtemp(path.join(tmpdir(), 'capstan-worker-readme-'));
});

afterAll(async () => {
  vi.unstubAllEnvs();
  await observer?.close();
  await bus?.close();
  await nats?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Writes a marked README block to a temp file, importing workspace packages from source instead of by name. */
async function readmeBlock(readme: string, name: string): Promise<string> {
  const block = new RegExp(
    `<!-- readme-example:${name}:start -->\\s*\`\`\`ts\\n([\\s\\S]*?)\`\`\`\\s*<!-- readme-example:${name}:end -->`,
  ).exec(readme);
  expect(block, `README.md must keep the marked ${name} example`).not.toBeNull();
  const code = (block?.[1] ?? '').replace(/'@capstan\/(worker|bus|pointers)'/g, (_m, pkg: string) =>
    JSON.stringify(pathToFileURL(path.join(packagesDir, pkg, 'src', 'index.ts')).href),
  );
  const file = path.join(dir, `${name}.ts`);
  await writeFile(file, code);
  return pathToFileURL(file).href;
}

it('the README worker and client examples run against real servers', async () => {
  const readme = await readFile(path.join(here, '..', 'README.md'), 'utf8');
  const workerModule = await readmeBlock(readme, 'worker');
  const clientModule = await readmeBlock(readme, 'client');
  vi.stubEnv('NATS_URL', nats.url);
  vi.stubEnv('REDIS_URL', testServices().redisUrl);
  const stopBridge = await startBridgeScheduler(bus);
  const log = vi.spyOn(console, 'log').mockImplementation(() => {});
  try {
    // The worker example runs until it is signalled, so its import settles only after the drain.
    const workerRun = import(workerModule);
    await until(
      () => observer.handshakes.some((h) => h.value.readyTopics.includes('job.summarize')),
      10_000,
      'worker handshake',
    );

    await import(clientModule);
    expect(log.mock.calls).toEqual([
      ['event', 'SUCCEEDED'],
      ['SUCCEEDED', { summary: 'Capstan runs CAP jobs for', words: 9 }],
    ]);
    const [result] = observer.results;
    expect(result?.value.status).toBe(JobStatus.SUCCEEDED);
    expect(result?.lease).toBe('1.1');
    const jobId = result?.value.jobId ?? '';
    expect(result?.value.artifactPtrs).toEqual([`redis://art:${jobId}:words.txt`]);
    const redis = new Redis(testServices().redisUrl);
    try {
      expect(await redis.get(`art:${jobId}:words.txt`)).toBe('Capstan\nruns\nCAP\njobs\nfor\nAI\nagents\nover\nNATS');
    } finally {
      redis.disconnect();
    }

    const workerId =
      observer.handshakes.find((h) => h.value.readyTopics.includes('job.summarize'))?.value.componentId ?? '';
    // handleSignals: true — a SIGTERM drains the worker and the example's `await worker.closed()` returns.
    process.emit('SIGTERM', 'SIGTERM');
    await workerRun;
    await until(() => observer.heartbeatsOf(workerId).at(-1)?.value.activeJobs === 0);
  } finally {
    log.mockRestore();
    await stopBridge();
  }
});
