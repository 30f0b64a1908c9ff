import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeConfig, loadConfig, sharedConfigSpec } from '@capstan/config';
import { gatewayConfigSpec } from '@capstan/gateway-service';
import { safetyKernelConfigSpec } from '@capstan/safety-kernel-service';
import { schedulerConfigSpec } from '@capstan/scheduler-service';
import { describe, expect, it } from 'vitest';
import { devConfigSpec } from '../src/dev/dev-config.js';

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
