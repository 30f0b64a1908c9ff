import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type ConfigSpec, DEFAULT_PORTS, describeConfig, loadConfig, sharedConfigSpec } from '@capstan/config';
import { gatewayConfigSpec } from '@capstan/gateway-service';
import { loadBundle } from '@capstan/policy';
import { safetyKernelConfigSpec } from '@capstan/safety-kernel-service';
import { schedulerConfigSpec } from '@capstan/scheduler-service';
import { describe, expect, it } from 'vitest';
import { devConfigSpec } from '../src/dev/dev-config.js';
import { migrateConfigSpec } from '../src/migrate/run-migrate.js';
import { createProgram } from '../src/program.js';
import { type ComposeService, containerEnv, interpolate, loadCompose } from './compose-file.js';

const root = new URL('../../../', import.meta.url);
const deploymentDoc = readFileSync(new URL('docs/deployment.md', root), 'utf8');
const compose = readFileSync(new URL('docker-compose.yml', root), 'utf8');
const fields = [
  ...describeConfig(sharedConfigSpec),
  ...describeConfig(devConfigSpec),
  ...describeConfig(schedulerConfigSpec),
  ...describeConfig(safetyKernelConfigSpec),
  ...describeConfig(gatewayConfigSpec),
];
const knownVariables = new Set(fields.flatMap((field) => field.env));

describe('docs/deployment.md and docker-compose.yml', () => {
  it('document every configuration variable with its file key', () => {
    // Listed all at once, so a new service's missing rows show up together.
    const missing = fields.flatMap((field) =>
      [field.env[0], field.key].filter((name) => !deploymentDoc.includes(`\`${name}\``)),
    );
    expect(missing).toEqual([]);
  });

  it('only set CAPSTAN_* variables that Capstan reads', () => {
    const used = new Set(compose.match(/\bCAPSTAN_[A-Z0-9_]+/g));
    expect(used.size).toBeGreaterThan(5);
    for (const name of used) expect(knownVariables, name).toContain(name);
  });

  it('show an example config file that loads', () => {
    const example = /Example `capstan\.yaml`:\n\n```yaml\n([\s\S]*?)```/.exec(deploymentDoc)?.[1];
    expect(example).toBeDefined();
    const dir = mkdtempSync(join(tmpdir(), 'capstan-docs-'));
    try {
      const path = join(dir, 'capstan.yaml');
      writeFileSync(path, example!);
      const config = loadConfig(sharedConfigSpec, { env: {}, file: path });
      expect(config.natsUrl).toBe('nats://nats-1:4222,nats://nats-2:4222');
      expect(config.databaseUrl).toBe('postgres://capstan:secret@db:5432/capstan');
      expect(config.s3).toEqual({
        endpoint: 'http://minio:9000',
        region: 'us-east-1',
        buckets: ['capstan-payloads', 'capstan-artifacts'],
        forcePathStyle: true,
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** The config specs a `capstan:local` container reads, by its command (`capstan dev` runs every service). */
const specsByCommand: Record<string, readonly ConfigSpec[]> = {
  migrate: [migrateConfigSpec],
  dev: [devConfigSpec, schedulerConfigSpec, safetyKernelConfigSpec, gatewayConfigSpec],
  scheduler: [schedulerConfigSpec],
  'safety-kernel': [safetyKernelConfigSpec],
  gateway: [gatewayConfigSpec],
};

describe('docker-compose.yml, parsed', () => {
  const compose = loadCompose();
  const capstanServices = Object.entries(compose.services).filter(([, service]) => service.image === 'capstan:local');
  const commandOf = (service: ComposeService) => service.command?.[0] ?? '';
  const root = fileURLToPath(new URL('../../../', import.meta.url));

  it('runs migrate, the all-in-one dev process, the safety kernel, scheduler and gateway replicas from one image', () => {
    expect(Object.fromEntries(capstanServices.map(([name, service]) => [name, service.command]))).toEqual({
      migrate: ['migrate'],
      capstan: ['dev', '--no-infra'],
      'safety-kernel': ['safety-kernel'],
      scheduler: ['scheduler'],
      gateway: ['gateway'],
    });
    expect(compose.services['migrate']?.build).toBe('.');
    // Every command is one the image's entry point (the capstan CLI) has.
    const commands = createProgram().commands.map((command) => command.name());
    for (const [name, service] of capstanServices) expect(commands, name).toContain(commandOf(service));
  });

  it('sets in each container only variables its config specs know, with values they accept', () => {
    for (const [name, service] of capstanServices) {
      const specs = [sharedConfigSpec, ...(specsByCommand[commandOf(service)] ?? [])];
      const known = new Set(specs.flatMap((spec) => describeConfig(spec).flatMap((field) => field.env)));
      const env = containerEnv(service);
      const unknown = Object.keys(env).filter((variable) => variable.startsWith('CAPSTAN_') && !known.has(variable));
      expect(unknown, `${name} sets variables that ${commandOf(service)} does not read`).toEqual([]);
      // Loading each spec from the container's environment alone validates every value.
      for (const spec of specs) expect(() => loadConfig(spec, { env, file: null }), name).not.toThrow();
    }
  });

  it('gives every safety kernel the same mounted, loadable policy bundle and points the scheduler at the kernel', () => {
    const kernel = compose.services['safety-kernel']!;
    const policyFile = loadConfig(safetyKernelConfigSpec, { env: containerEnv(kernel), file: null }).policyFile;
    expect(policyFile).toBe('/etc/capstan/policy.yaml');
    // The kernel container and `capstan` (whose dev process runs a kernel too) mount the bundle where it is read,
    // so both activate the same snapshot.
    for (const name of ['safety-kernel', 'capstan']) {
      const mounts = compose.services[name]!.volumes!.filter((volume) => typeof volume !== 'string');
      expect(mounts, name).toEqual([expect.objectContaining({ type: 'bind', target: policyFile, read_only: true })]);
      const source = join(root, interpolate(mounts[0]!.source));
      expect(existsSync(source), source).toBe(true);
      expect(loadBundle(readFileSync(source, 'utf8'), { file: source }).rules.length).toBeGreaterThan(0);
    }
    const scheduler = compose.services['scheduler']!;
    expect(loadConfig(schedulerConfigSpec, { env: containerEnv(scheduler), file: null }).safetyKernelUrl).toBe(
      `http://safety-kernel:${DEFAULT_PORTS.safetyKernel}`,
    );
    expect(scheduler.depends_on?.['safety-kernel']).toEqual({ condition: 'service_healthy' });
    expect(kernel.healthcheck?.test.join(' ')).toContain(`:${DEFAULT_PORTS.safetyKernel}/grpc.health.v1.Health/Check`);
  });

  it('publishes the gateway and the kernel on their default ports, on loopback only', () => {
    const published = (name: string) => compose.services[name]?.ports ?? [];
    expect(published('gateway')).toEqual([`127.0.0.1:${DEFAULT_PORTS.gateway}:${DEFAULT_PORTS.gateway}`]);
    expect(published('safety-kernel')).toEqual([
      `127.0.0.1:${DEFAULT_PORTS.safetyKernel}:${DEFAULT_PORTS.safetyKernel}`,
    ]);
    for (const name of Object.keys(compose.services)) {
      for (const port of published(name)) expect(port, name).toMatch(/^127\.0\.0\.1:/);
    }
    expect(compose.services['gateway']?.healthcheck?.test.join(' ')).toContain(`:${DEFAULT_PORTS.gateway}/ready`);
  });

  it('starts every Capstan service after the migrations and the servers it needs are ready', () => {
    const needs = (name: string) => compose.services[name]?.depends_on ?? {};
    for (const [name] of capstanServices) {
      if (name === 'migrate') continue;
      expect(needs(name)['migrate'], name).toEqual({ condition: 'service_completed_successfully' });
      expect(needs(name)['nats'], name).toEqual({ condition: 'service_healthy' });
    }
    for (const name of ['capstan', 'safety-kernel', 'gateway']) {
      expect(needs(name)['redis'], name).toEqual({ condition: 'service_healthy' });
    }
    // depends_on only names services that exist.
    for (const [name, service] of Object.entries(compose.services)) {
      for (const dependency of Object.keys(service.depends_on ?? {})) {
        expect(Object.keys(compose.services), `${name} depends on ${dependency}`).toContain(dependency);
      }
    }
  });
});
