import { readFileSync } from 'node:fs';
import { createPointerStore } from '@capstan/pointers';
import { describe, expect, it } from 'vitest';
import { SDK_VERSION } from './sdk-version.js';
import { defaultWorkerId, resolveWorkerOptions, type WorkerOptions } from './worker-options.js';

const pointers = createPointerStore();
const base: WorkerOptions = { servers: 'nats://127.0.0.1:4222', pointers, topics: ['job.echo'], handler: () => null };

describe('resolveWorkerOptions', () => {
  it('fills the documented defaults', () => {
    const resolved = resolveWorkerOptions(base);
    expect(resolved).toMatchObject({
      connection: { kind: 'servers', servers: ['nats://127.0.0.1:4222'] },
      topics: ['job.echo'],
      pool: 'job.echo',
      concurrency: 10,
      directDispatch: true,
      heartbeatIntervalMs: 2000,
      labels: {},
      agentName: '',
      handleSignals: false,
      shutdownTimeoutMs: 30_000,
      dedupeCacheSize: 10_000,
    });
    expect(resolved.workerId).toMatch(/^[A-Za-z0-9_-]+-\d+-[0-9a-f]{6}$/);
  });

  it('makes default worker ids that are valid subject tokens and differ per worker', () => {
    const a = defaultWorkerId();
    expect(a).not.toContain('.');
    expect(defaultWorkerId()).not.toBe(a);
  });

  it.each([
    [{ topics: [] }, /invalid worker option topics: got \[\]; expected a non-empty array of job subjects/],
    [
      { topics: ['echo'] },
      /invalid worker option topics: got "echo"; expected each topic to be one of job subjects starting with "job."/,
    ],
    [{ topics: ['job.a', 'job.a'] }, /expected each topic listed once/],
    [{ concurrency: 0 }, /invalid worker option concurrency: got 0; expected an integer from 1 to 10000/],
    [{ concurrency: 2.5 }, /concurrency: got 2.5/],
    [
      { heartbeatIntervalMs: 100 },
      /invalid worker option heartbeatIntervalMs: got 100; expected an integer from 500 to 5000/,
    ],
    [{ heartbeatIntervalMs: 6000 }, /heartbeatIntervalMs: got 6000/],
    [{ workerId: 'host.local' }, /invalid worker option workerId: got "host.local"; expected one NATS subject token/],
    [{ labels: { zone: 1 } }, /invalid worker option labels.zone: got 1; expected a string/],
    [{ handler: 'nope' }, /invalid worker option handler: got "nope"; expected a function/],
    [{ pointers: {} }, /invalid worker option pointers: got \{\}; expected a PointerStore/],
    [
      { servers: undefined },
      /invalid worker option bus\/servers: got undefined; expected a bus \(from createBus\(\)\) or servers/,
    ],
    [{ servers: [] }, /invalid worker option servers: got \[\]; expected a NATS URL/],
    [{ bus: { publish() {}, subscribe() {} } }, /expected either a bus or servers, not both/],
    [{ directDispatch: 'yes' }, /invalid worker option directDispatch: got "yes"; expected true or false/],
    [{ pool: ' ' }, /invalid worker option pool: got " "; expected a non-empty string/],
    [{ shutdownTimeoutMs: -1 }, /shutdownTimeoutMs: got -1/],
  ])('refuses %j', (patch, message) => {
    expect(() => resolveWorkerOptions({ ...base, ...(patch as Partial<WorkerOptions>) })).toThrow(message);
  });

  it('names the error class', () => {
    try {
      resolveWorkerOptions({ ...base, concurrency: -1 });
      expect.unreachable();
    } catch (err) {
      expect((err as Error).name).toBe('WorkerOptionsError');
    }
  });
});

describe('SDK_VERSION', () => {
  it('matches the package version', () => {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
    expect(SDK_VERSION).toBe(pkg.version);
  });
});
